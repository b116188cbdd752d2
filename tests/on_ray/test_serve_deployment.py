"""
The Ray Serve deployment on a local Ray: two replicas answer `POST /predict` as `allennlp predict` writes (one
input, and a list sharing one batch with per-row thresholds), refuse an unusable input with the server's 400, and
report their health.
"""
import contextlib
import socket
import time

import httpx

from sledgehammer.on_ray.serve_deployment import APP_NAME, build_app
from tests.serving.conftest import post
from tests.serving.test_answers import CLASSIFIER_INPUTS, allennlp_predict_lines, as_list_body

STARTUP_SECONDS = 120.0


def free_port() -> int:
    with contextlib.closing(socket.socket()) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_the_replicas_answer_as_allennlp_predict_does(local_ray, tiny_trained_archive, monkeypatch, tmp_path):
    from ray import serve

    archive = tiny_trained_archive.archive
    one_by_one = allennlp_predict_lines(monkeypatch, tmp_path, archive, CLASSIFIER_INPUTS)
    in_one_batch = allennlp_predict_lines(monkeypatch, tmp_path, archive, CLASSIFIER_INPUTS,
                                          "--batch-size", str(len(CLASSIFIER_INPUTS)))
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    serve.start(http_options={"host": "127.0.0.1", "port": port})
    try:
        app = build_app(archive, num_replicas=2, max_batch_size=8, max_wait_ms=200, min_fill=0.0, num_threads=1)
        serve.run(app, name=APP_NAME, route_prefix="/")
        deadline = time.monotonic() + STARTUP_SECONDS
        while True:
            try:
                if httpx.get(f"{url}/health", timeout=10).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "the deployment did not become healthy"
            time.sleep(0.2)
        health = httpx.get(f"{url}/health", timeout=10).json()
        assert health["status"] == "ok" and health["model"] == "sledgehammer_classifier"
        singles = [post(url, record) for record in CLASSIFIER_INPUTS]
        assert [response.status_code for response in singles] == [200] * len(CLASSIFIER_INPUTS)
        assert [response.text for response in singles] == one_by_one
        listed = post(url, CLASSIFIER_INPUTS)
        assert listed.status_code == 200 and listed.text == as_list_body(in_one_batch)
        refused = post(url, [{"sentence": "fine"}, {"sentence": "x", "threshold": 2}])
        assert refused.status_code == 400 and refused.json()["error"] == "bad_request"
        assert refused.json()["message"].startswith("input 1: ") and "threshold" in refused.json()["message"]
    finally:
        serve.shutdown()
