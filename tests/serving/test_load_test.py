"""
`scripts/load_test.py` against a running server and in its variants mode (a server process per variant).
"""
import importlib.util
import json
import time
from pathlib import Path

import pytest

from tests.serving.conftest import running_server
from tests.serving.test_answers import allennlp_predict_lines

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "load_test.py"
spec = importlib.util.spec_from_file_location("load_test", SCRIPT)
load_test = importlib.util.module_from_spec(spec)
spec.loader.exec_module(load_test)


def write_inputs(path, records):
    path.write_text("".join(json.dumps(record) + "\n" for record in records) + "\n")
    return str(path)


def test_a_run_reports_throughput_latency_statuses_and_the_servers_histograms(classifier_runner, tmp_path):
    inputs = write_inputs(tmp_path / "inputs.jsonl", [{"sentence": "good fun"}, {"sentence": "bad"},
                                                      {"sentence": ""}, {"sentence": "i love it"}])
    output = tmp_path / "load.json"
    with running_server(classifier_runner, max_batch_size=8) as served:
        load_test.main(["--url", served.url, "--inputs", inputs, "--output", str(output), "--concurrency", "1", "4",
                        "--requests", "12", "--warmup-requests", "0", "--threshold", "0.0"])
    report = json.loads(output.read_text())
    assert report["protocol"]["num_inputs"] == 4
    (variant,) = report["variants"]
    assert [run["concurrency"] for run in variant["runs"]] == [1, 4]
    for run in variant["runs"]:
        assert run["requests"] == 12
        assert run["statuses"] == {"200": 9, "400": 3}  # every fourth input is empty
        assert run["errors"] == {"400": 3}
        assert run["requests_per_second"] > 0
        latency = run["latency_ms"]
        assert 0 < latency["p50"] <= latency["p95"] <= latency["p99"]
        assert run["server"]["rows"] == 9
        assert run["server"]["exit_layers"] == {"0": 9}  # threshold 0.0: every answer from the first exit
        assert sum(run["server"]["batch_size_histogram"].values()) == run["server"]["batches"]
        assert run["server"]["mean_batch_size"] >= 1
        # The server's process is not known to the load generator here: only the clients' own CPU is counted.
        assert run["cpu"]["server_seconds"] is None and run["cpu"]["busy_share"] is None
        # The clients' CPU is counted, though a run this short may take less than one clock tick (10 ms) of it.
        assert run["cpu"]["load_generator_seconds"] >= 0


def test_the_four_variants_are_the_protocols_servers():
    arguments = ["--archive", "model.tar.gz", "--inputs", "x", "--output", "y", "--threshold", "0.8"]
    plan = load_test.variant_plan(load_test.parse_arguments([*arguments, "--variants", "--max-batch-size", "16"]))
    assert [(letter, size, threshold) for _, letter, size, threshold, _ in plan] == [
        ("a", 1, 1.0), ("b", 16, 1.0), ("c", 16, 0.8), ("d", 1, 0.8)]
    chosen = load_test.variant_plan(load_test.parse_arguments([*arguments, "--variants", "d", "batched_full"]))
    assert [name for name, *_ in chosen] == ["batch1_early_exit", "batched_full"]


def test_variant_r_is_ray_serve_after_the_chosen_variants_or_alone():
    arguments = ["--archive", "model.tar.gz", "--inputs", "x", "--output", "y", "--threshold", "0.8",
                 "--ray-replicas", "2", "--max-batch-size", "16"]
    plan = load_test.variant_plan(load_test.parse_arguments([*arguments, "--variants", "c"]))
    assert [(letter, size, threshold) for _, letter, size, threshold, _ in plan] == [("c", 16, 0.8), ("r", 16, 0.8)]
    alone = load_test.variant_plan(load_test.parse_arguments([*arguments, "--variants", "r"]))
    assert [name for name, *_ in alone] == [load_test.RAY_VARIANT]
    assert [name for name, *_ in load_test.variant_plan(load_test.parse_arguments(arguments))] == ["ray_serve_replicas"]
    with pytest.raises(SystemExit):
        load_test.parse_arguments(["--archive", "a", "--inputs", "x", "--output", "y", "--variants", "r"])


def test_the_variants_mode_runs_a_server_per_variant_and_writes_one_report(tiny_trained_archive, tmp_path):
    inputs = write_inputs(tmp_path / "inputs.jsonl", [{"sentence": "good fun"}, {"sentence": "awful boring plot"}])
    output = tmp_path / "variants.json"
    # Two of the four variants (a server process each takes seconds to start): no batching and no early exit,
    # and both.
    load_test.main(["--archive", tiny_trained_archive.archive, "--variants", "a", "c", "--threshold", "0.0",
                    "--inputs", inputs, "--output", str(output), "--concurrency", "1", "4", "--requests", "8",
                    "--warmup-requests", "2", "--max-batch-size", "4", "--server-args", "--num-threads 1",
                    "--server-logs", str(tmp_path / "logs")])
    report = json.loads(output.read_text())
    plain, both = report["variants"]
    assert (plain["letter"], both["letter"]) == ("a", "c")
    assert (plain["server_options"][:2], both["server_options"][:2]) == (["--max-batch-size", "1"],
                                                                         ["--max-batch-size", "4"])
    assert (plain["threshold"], both["threshold"]) == (1.0, 0.0)
    assert plain["server_exit_status"] == both["server_exit_status"] == 0
    last = str(max(int(layer) for layer in plain["runs"][0]["server"]["exit_layers"]))
    assert last != "0"
    for variant, layer in ((plain, last), (both, "0")):
        assert [run["concurrency"] for run in variant["runs"]] == [1, 4]
        for run in variant["runs"]:
            assert run["statuses"] == {"200": 8}
            assert run["server"]["exit_layers"] == {layer: 8}
            cpu = run["cpu"]  # the server is a child process: its CPU time is read from it
            assert cpu["server_seconds"] > 0 and cpu["load_generator_seconds"] >= 0
            # Of the machine's cores, over the run; no upper bound: these runs last a fraction of a second, and CPU
            # times come in clock ticks (10 ms), so a share can read above 1.
            assert cpu["busy_share"] > 0
    assert all(run["server"]["batch_size_histogram"] == {"<=1": run["server"]["batches"]} for run in plain["runs"])
    assert "ready: serving a sledgehammer_classifier" in (tmp_path / "logs" / "batch1_full.log").read_text()


def test_unknown_variants_and_early_exit_without_a_threshold_are_usage_errors(tmp_path, capsys):
    for arguments, message in [(["--variants", "e"], "unknown variant(s) ['e']"),
                               (["--variants", "c"], "need --threshold")]:
        with pytest.raises(SystemExit):
            load_test.parse_arguments(["--archive", "model.tar.gz", "--inputs", "x", "--output", "y", *arguments])
        assert message in capsys.readouterr().err


def test_a_server_without_metrics_is_measured_by_its_clients_alone(classifier_runner, tmp_path, monkeypatch):
    inputs = write_inputs(tmp_path / "inputs.jsonl", [{"sentence": "good fun"}])
    output = tmp_path / "load.json"
    with running_server(classifier_runner, max_batch_size=4) as served:
        # allennlp-server has no /metrics: its 404 page is no metrics text.
        monkeypatch.setattr(load_test.httpx, "get", lambda url, timeout: load_test.httpx.Response(
            404, headers={"content-type": "text/html"}, text="<h1>Not Found</h1>"))
        load_test.main(["--url", served.url, "--inputs", inputs, "--output", str(output), "--concurrency", "2",
                        "--requests", "6", "--warmup-requests", "0"])
    (run,) = json.loads(output.read_text())["variants"][0]["runs"]
    assert run["statuses"] == {"200": 6}
    assert run["server"] is None
    monkeypatch.undo()


def test_the_peer_variant_needs_an_archive_and_starts_allennlp_serve_on_loopback():
    with pytest.raises(SystemExit):
        load_test.parse_arguments(["--url", "http://127.0.0.1:1", "--inputs", "x", "--output", "y",
                                   "--peer-allennlp", "allennlp"])
    peer = load_test.PeerServer("/peer/bin/allennlp", "model.tar.gz", "sledgehammer_classifier")
    assert peer.arguments[:6] == ["/peer/bin/allennlp", "serve", "--archive-path", "model.tar.gz", "--predictor",
                                  "sledgehammer_classifier"]
    assert peer.arguments[peer.arguments.index("--host") + 1] == "127.0.0.1"
    assert peer.url == f"http://127.0.0.1:{peer.port}"


def test_an_open_loop_run_offers_requests_at_a_rate_and_checks_every_answer(classifier_runner, tiny_trained_archive,
                                                                             tmp_path, monkeypatch):
    records = [{"sentence": "good fun"}, {"sentence": "awful boring plot"}, {"sentence": "i love it"}]
    inputs = write_inputs(tmp_path / "inputs.jsonl", records)
    expected = tmp_path / "expected.jsonl"
    expected.write_text("".join(line + "\n" for line in
                                allennlp_predict_lines(monkeypatch, tmp_path, tiny_trained_archive.archive, records)))
    wrong = json.loads(expected.read_text().splitlines()[1])
    wrong["label"] = "not-a-label"
    wrong_file = tmp_path / "wrong.jsonl"
    lines = expected.read_text().splitlines()
    wrong_file.write_text("\n".join([lines[0], json.dumps(wrong), lines[2]]) + "\n")
    with running_server(classifier_runner, max_batch_size=4) as served:
        for path, different in ((expected, 0), (wrong_file, 4)):  # requests 1, 4, 7, 10 send input 1
            output = tmp_path / "open.json"
            began = time.monotonic()
            load_test.main(["--url", served.url, "--inputs", inputs, "--output", str(output), "--rate", "40",
                            "--requests", "12", "--warmup-requests", "0", "--expected", f"1.0={path}",
                            "--threshold", "1.0"])
            (run,) = json.loads(output.read_text())["variants"][0]["runs"]
            assert time.monotonic() - began >= 11 / 40  # the twelfth request starts 11/40 s after the first
            assert (run["rate"], run["concurrency"], run["statuses"]) == (40.0, None, {"200": 12})
            assert run["answers"]["checked"] == 12 and run["answers"]["different"] == different
    assert run["answers"]["examples"][0].startswith("input 1: label: expected 'not-a-label'")


def test_expected_outputs_must_name_a_threshold_and_hold_a_line_per_input(tmp_path):
    outputs = write_inputs(tmp_path / "out.jsonl", [{"label": "a"}])
    with pytest.raises(ValueError, match="expected THRESHOLD=PREDICTIONS.jsonl"):
        load_test.expected_outputs([str(outputs)], 1)
    with pytest.raises(ValueError, match="1 output lines for 2 inputs"):
        load_test.expected_outputs([f"0.9={outputs}"], 2)
    assert load_test.expected_outputs([f"0.9={outputs}"], 1) == {0.9: [{"label": "a"}]}
