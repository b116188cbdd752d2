"""
`allennlp serve-early-exit` as a user runs it: its own process, bound to loopback by default, draining on
SIGTERM with exit status 0; unusable options are one-line errors.
"""
import argparse
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from sledgehammer.commands.serve_early_exit import ServeEarlyExit
from sledgehammer.serving.server_process import ServerProcess
from tests.commands.conftest import ALLENNLP, REPO_ROOT, assert_one_line_error, run_allennlp_in_process
from tests.serving.conftest import metric_samples, post, wait_for

ERROR = "allennlp serve-early-exit: error:"


def test_the_default_address_is_loopback():
    parser = argparse.ArgumentParser()
    ServeEarlyExit().add_subparser(parser.add_subparsers())
    arguments = parser.parse_args(["serve-early-exit", "model.tar.gz"])
    assert arguments.host == "127.0.0.1"
    assert (arguments.port, arguments.max_batch_size, arguments.max_wait_ms) == (8000, 32, 5.0)


def test_the_command_serves_on_loopback_and_drains_on_sigterm(tiny_trained_archive):
    options = ["--max-wait-ms", "30000", "--max-batch-size", "64", "--num-threads", "1"]
    server = ServerProcess(tiny_trained_archive.archive, options, command=[ALLENNLP], cwd=REPO_ROOT,
                           startup_timeout=120)
    with server:
        assert server.url.startswith("http://127.0.0.1:")
        with ThreadPoolExecutor(3) as pool:
            in_flight = [pool.submit(post, server.url, {"sentence": f"good fun {i}"}, 60) for i in range(3)]
            # The batch would form 30 s after they arrived; SIGTERM runs it at once.
            wait_for(lambda: metric_samples(server.url)["sledgehammer_queue_depth"] == 3)
            began = time.monotonic()
            status = server.stop(timeout=60)
            answers = [future.result() for future in in_flight]
    assert [answer.status_code for answer in answers] == [200, 200, 200]
    assert all(answer.json()["label"] in ("pos", "neg") for answer in answers)
    assert status == 0, server.log_tail()
    assert time.monotonic() - began < 30
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{server.url}/health", timeout=5)


@pytest.mark.parametrize(
    "options, message",
    [
        (["--max-batch-size", "0"], "--max-batch-size must be an integer of at least 1, got 0"),
        (["--min-fill", "2"], "--min-fill must be a share in [0, 1], got 2.0"),
        (["--num-threads", "0"], "--num-threads must be an integer of at least 1, got 0"),
    ],
)
def test_unusable_options_are_one_line_errors(tiny_trained_archive, monkeypatch, capsys, options, message):
    with pytest.raises(SystemExit) as exited:
        run_allennlp_in_process(monkeypatch, "serve-early-exit", tiny_trained_archive.archive, *options)
    assert exited.value.code == 2
    assert_one_line_error(capsys.readouterr().err, ERROR, message)


def test_an_archive_that_is_not_there_is_a_one_line_error(tmp_path, monkeypatch, capsys):
    with pytest.raises(SystemExit) as exited:
        run_allennlp_in_process(monkeypatch, "serve-early-exit", str(tmp_path / "missing.tar.gz"))
    assert exited.value.code == 2
    assert_one_line_error(capsys.readouterr().err, ERROR, "missing.tar.gz")
