"""
The server's bounds and failures: 400 naming the field, 413, 503 with Retry-After, 504, a failing batch (500)
that stops nothing else, not healthy before the warm-up, and draining on a stop signal.
"""
import asyncio
import json
import signal
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from tests.serving.conftest import (
    GatedRunner,
    metric_samples,
    post,
    post_concurrently,
    running_server,
    wait_for,
)

OK = {"sentence": "good fun"}


@pytest.mark.parametrize(
    "body, message",
    [
        (b'{"sentence": ', "expected a JSON body, found invalid JSON"),
        (b"\xff\xfe", "expected a UTF-8 JSON body"),
        (b"[]", "found an empty list"),
        (b'"good fun"', "expected a JSON object, found a JSON str"),
        ([OK, 3], "input 1: expected a JSON object, found a JSON int"),
        ({"sentense": "typo"}, "expected a field 'sentence' or 'text' (single text)"),
        ({"sentence": "   "}, "expected a non-empty string in the field 'sentence'"),
        ([OK, {"sentence": 7}], "input 1: expected a non-empty string in the field 'sentence', found 7"),
        ({"sentence": "x", "threshold": 1.5}, "the field 'threshold' must be a number in [0, 1], got 1.5"),
        ({"sentence": "x", "window": 3}, "the field 'window' is a sledgehammer_tagger setting"),
    ],
)
def test_unusable_bodies_are_400_naming_what_was_expected(classifier_runner, body, message):
    with running_server(classifier_runner) as served:
        refused = post(served.url, body)
        after = post(served.url, OK)
        samples = metric_samples(served.url)
    assert refused.status_code == 400
    assert refused.json()["error"] == "bad_request"
    assert message in refused.json()["message"]
    assert after.status_code == 200
    assert samples['sledgehammer_request_errors_total{kind="bad_request"}'] == 1


@pytest.mark.parametrize(
    "body, message",
    [
        ({"tokens": ["EU", ""]}, "expected a non-empty list of non-empty strings in the field 'tokens'"),
        ({"tokens": ["EU"], "window": 2}, "expected a positive odd integer (1, 3, 5, ...) in the field 'window'"),
        ({"tokens": ["EU"], "exit_mode": "word"}, "expected one of 'sentence', 'token' in the field 'exit_mode'"),
    ],
)
def test_a_taggers_unusable_inputs_and_settings_are_400(tagger_runner, body, message):
    with running_server(tagger_runner) as served:
        refused = post(served.url, body)
    assert refused.status_code == 400
    assert message in refused.json()["message"]


def test_a_body_over_the_limit_and_more_inputs_than_the_queue_holds_are_413(classifier_runner):
    with running_server(classifier_runner, max_body_size=100, max_queue=3) as served:
        large = post(served.url, {"sentence": "good " * 30})
        many = post(served.url, [OK] * 4)
        fits = post(served.url, [OK] * 3)
    assert large.status_code == 413
    assert "larger than 100 bytes (--max-body-size)" in large.json()["message"]
    assert many.status_code == 413
    assert "at most 3 inputs (--max-queue), this one holds 4" in many.json()["message"]
    assert fits.status_code == 200 and len(fits.json()) == 3


def test_a_full_queue_is_503_with_retry_after_at_once_and_the_queued_requests_are_answered(classifier_runner):
    runner = GatedRunner(classifier_runner)
    with running_server(runner, max_batch_size=1, max_queue=2, max_wait_ms=0) as served:
        runner.gate.clear()
        with httpx.Client(timeout=30) as client, ThreadPoolExecutor(3) as pool:
            running = pool.submit(post, served.url, OK)
            assert runner.started.wait(30)  # the first request's batch holds the inference thread
            queued = [pool.submit(post, served.url, OK) for _ in range(2)]
            wait_for(lambda: metric_samples(served.url)["sledgehammer_queue_depth"] == 2)
            began = time.monotonic()
            refused = client.post(f"{served.url}/predict", json=OK)
            answered_in = time.monotonic() - began
            runner.gate.set()
            answers = [running.result()] + [future.result() for future in queued]
    assert refused.status_code == 503
    assert refused.json()["error"] == "queue_full"
    assert "the queue is full (2 of 2 inputs wait" in refused.json()["message"]
    assert int(refused.headers["Retry-After"]) >= 1
    assert answered_in < 5.0  # at once, not after the blocked batch
    assert [answer.status_code for answer in answers] == [200, 200, 200]


def test_a_request_past_its_timeout_is_504_and_leaves_the_queue(classifier_runner):
    runner = GatedRunner(classifier_runner)
    with running_server(runner, max_batch_size=1, request_timeout=0.5, max_wait_ms=0) as served:
        runner.gate.clear()
        began = time.monotonic()
        timed_out = post_concurrently(served.url, [OK, OK])  # one in the model, one in the queue
        waited = time.monotonic() - began
        depth = metric_samples(served.url)["sledgehammer_queue_depth"]
        runner.gate.set()
        after = post(served.url, OK)
        samples = metric_samples(served.url)
    assert [response.status_code for response in timed_out] == [504, 504]
    assert "no answer within the request timeout of 0.5 s" in timed_out[0].json()["message"]
    assert 0.4 < waited < 5.0
    assert depth == 0
    assert after.status_code == 200
    assert samples['sledgehammer_request_errors_total{kind="timeout"}'] == 2


def test_a_batch_that_raises_fails_its_requests_with_500_and_the_server_goes_on(classifier_runner, caplog):
    runner = GatedRunner(classifier_runner)
    with running_server(runner, min_fill=0.0) as served:
        runner.fail_next = 1
        failed = post(served.url, [OK, {"sentence": "bad"}])
        after = post(served.url, OK)
        health = httpx.get(f"{served.url}/health")
        samples = metric_samples(served.url)
    assert failed.status_code == 500
    assert failed.json()["error"] == "model_error"
    assert "RuntimeError: an injected failure" in failed.json()["message"]
    assert after.status_code == 200 and health.status_code == 200
    assert samples['sledgehammer_request_errors_total{kind="model_error"}'] == 1
    assert samples['sledgehammer_requests_total{status="200"}'] == 1
    assert any("a batch of 2 inputs failed" in record.getMessage() for record in caplog.records)


def test_the_server_is_not_healthy_and_refuses_requests_until_warmed_up(classifier_runner):
    runner = GatedRunner(classifier_runner, gate_warm_up=True)
    runner.gate.clear()
    with running_server(runner, wait_ready=False) as served:
        health = httpx.get(f"{served.url}/health")
        refused = post(served.url, OK)
        runner.gate.set()
        wait_for(lambda: httpx.get(f"{served.url}/health").status_code == 200)
        ready = httpx.get(f"{served.url}/health").json()
        answered = post(served.url, OK)
    assert health.status_code == 503 and health.json()["status"] == "warming up"
    assert refused.status_code == 503 and refused.headers["Retry-After"] == "1"
    assert refused.json()["error"] == "not_ready"
    assert ready["status"] == "ok" and ready["model"] == "sledgehammer_classifier"
    assert ready["exit_layers"] == classifier_runner.exit_layers
    assert answered.status_code == 200


def test_a_stop_signal_answers_what_is_in_flight_and_refuses_new_requests(classifier_runner):
    runner = GatedRunner(classifier_runner)
    with running_server(runner, max_batch_size=1, max_wait_ms=0) as served:
        runner.gate.clear()
        with ThreadPoolExecutor(2) as pool:
            in_flight = pool.submit(post, served.url, OK)
            assert runner.started.wait(30)
            queued = pool.submit(post, served.url, {"sentence": "bad"})
            wait_for(lambda: served.state.batcher.queue_depth == 1)
            served.server.handle_exit(signal.SIGTERM, None)  # what uvicorn calls on SIGTERM
            health = served.state.health(None)
            try:  # the listener closes within uvicorn's next tick; until then the app refuses
                late = post(served.url, OK)
            except httpx.ConnectError:
                late = None
            runner.gate.set()
            answers = [in_flight.result(), queued.result()]
    assert [answer.status_code for answer in answers] == [200, 200]
    assert late is None or (late.status_code == 503 and "shutting down" in late.json()["message"])
    response = asyncio.run(health)
    assert response.status_code == 503 and json.loads(response.body)["status"] == "draining"


def test_metrics_are_prometheus_text_with_every_exit_listed(classifier_runner):
    with running_server(classifier_runner) as served:
        post(served.url, [OK, {"sentence": "bad", "threshold": 0.0}])
        response = httpx.get(f"{served.url}/metrics")
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    for layer in classifier_runner.exit_layers:
        assert f'sledgehammer_exit_layer_total{{layer="{layer}"}}' in text
    for name in ("sledgehammer_queue_wait_seconds_bucket", "sledgehammer_request_seconds_bucket",
                 "sledgehammer_batch_seconds_count", "sledgehammer_batch_fill_bucket", "sledgehammer_queue_depth"):
        assert name in text
    assert 'sledgehammer_exit_layer_total{layer="0"} 1.0' in text


class FailingWarmUp(GatedRunner):
    def warm_up(self, batch_size: int) -> None:
        raise RuntimeError("out of memory, say")


def test_a_failed_warm_up_stops_the_server_with_status_1(classifier_runner, capsys):
    from sledgehammer.serving.limits import ServingLimits
    from sledgehammer.serving.server import make_server, run_until_stopped

    server = make_server(FailingWarmUp(classifier_runner), ServingLimits(), port=0, log_level="warning")
    assert run_until_stopped(server) == 1  # returns by itself
    assert server.state.warmup_error == "RuntimeError: out of memory, say"
    assert "the warm-up failed: RuntimeError: out of memory, say" in capsys.readouterr().err
