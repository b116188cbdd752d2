"""
`allennlp serve-ray` as a user starts it: Ray started by the command on 127.0.0.1, two Ray Serve replicas that
answer `POST /predict` as `allennlp predict` writes (one input; a list sharing one batch, each input with its own
threshold), refuse an unusable input with the server's 400, report their health, and stop on SIGTERM with status 0.
"""
import httpx
import pytest

from sledgehammer.serving.server_process import ServerProcess
from tests.commands.conftest import assert_one_line_error, run_allennlp_in_process
from tests.serving.conftest import post
from tests.serving.test_answers import CLASSIFIER_INPUTS, allennlp_predict_lines, as_list_body


def test_the_replicas_answer_as_allennlp_predict_does(tiny_trained_archive, monkeypatch, tmp_path):
    archive = tiny_trained_archive.archive
    one_by_one = allennlp_predict_lines(monkeypatch, tmp_path, archive, CLASSIFIER_INPUTS)
    in_one_batch = allennlp_predict_lines(monkeypatch, tmp_path, archive, CLASSIFIER_INPUTS,
                                          "--batch-size", str(len(CLASSIFIER_INPUTS)))
    options = ["--replicas", "2", "--num-threads", "1", "--max-batch-size", "8", "--max-wait-ms", "200",
               "--min-fill", "0"]
    with ServerProcess(archive, options, subcommand="serve-ray", startup_timeout=180) as server:
        assert server.url.startswith("http://127.0.0.1:")
        health = httpx.get(f"{server.url}/health", timeout=10).json()
        assert health["status"] == "ok" and health["model"] == "sledgehammer_classifier"
        singles = [post(server.url, record) for record in CLASSIFIER_INPUTS]
        assert [response.status_code for response in singles] == [200] * len(CLASSIFIER_INPUTS)
        assert [response.text for response in singles] == one_by_one
        listed = post(server.url, CLASSIFIER_INPUTS)
        assert listed.status_code == 200 and listed.text == as_list_body(in_one_batch)
        refused = post(server.url, [{"sentence": "fine"}, {"sentence": "x", "threshold": 2}])
        assert refused.status_code == 400 and refused.json()["error"] == "bad_request"
        assert refused.json()["message"].startswith("input 1: ") and "threshold" in refused.json()["message"]
        assert server.stop() == 0


def test_unusable_options_are_one_line_and_status_2(tiny_trained_archive, monkeypatch, capsys):
    with pytest.raises(SystemExit) as status:
        run_allennlp_in_process(monkeypatch, "serve-ray", tiny_trained_archive.archive, "--replicas", "0")
    assert status.value.code == 2
    assert_one_line_error(capsys.readouterr().err, "allennlp serve-ray:",
                          "--replicas must be an integer of at least 1, got 0")
