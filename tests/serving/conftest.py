"""
Shared fixtures of the serving tests: the tiny classifier and tagger archives loaded once, and a server run
in this process (uvicorn in a thread, on a free loopback port) for as long as a test needs it.
"""
import contextlib
import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Dict, Iterator, List, NamedTuple

import httpx
import pytest
from allennlp.models.archival import load_archive

from tests.commands.conftest import tiny_trained_archive  # noqa: F401  (the session fixture)

# Seconds a test waits at most for a server to start, warm up or stop.
STARTUP_SECONDS = 60.0

SENTENCES = [
    "good fun movie",
    "awful boring dull plot with bad acting and the worst ending",
    "i love it",
    "hate",
    "the best film of the year , funny and great",
    "dull .",
]


class Served(NamedTuple):
    """A running test server: its base URL and its `ServingState`."""

    url: str
    state: object
    server: object


@pytest.fixture(scope="session")
def classifier_archive(tiny_trained_archive):  # noqa: F811
    import sledgehammer  # noqa: F401

    return load_archive(tiny_trained_archive.archive)


@pytest.fixture(scope="session")
def tagger_archive(tiny_tagger_archive):
    import sledgehammer  # noqa: F401

    return load_archive(str(tiny_tagger_archive))


@pytest.fixture(scope="session")
def classifier_runner(classifier_archive):
    from sledgehammer.serving.model_runner import ModelRunner

    return ModelRunner(classifier_archive, num_threads=1)


@pytest.fixture(scope="session")
def tagger_runner(tagger_archive):
    from sledgehammer.serving.model_runner import ModelRunner

    return ModelRunner(tagger_archive, num_threads=1)


class GatedRunner:
    """
    A `ModelRunner` whose batches (and, with `gate_warm_up`, warm-up) wait until `gate` is set, and whose next
    `fail_next` batches raise; `started` is set when a batch has begun. Everything else is the wrapped runner's.
    """

    def __init__(self, runner, gate_warm_up: bool = False) -> None:
        self.runner = runner
        self.gate = threading.Event()
        self.gate.set()
        self.gate_warm_up = gate_warm_up
        self.started = threading.Event()
        self.fail_next = 0

    def __getattr__(self, name):
        return getattr(self.runner, name)

    def warm_up(self, batch_size: int) -> None:
        if self.gate_warm_up:
            assert self.gate.wait(STARTUP_SECONDS)
        self.runner.warm_up(batch_size)

    def run_batch(self, rows):
        self.started.set()
        assert self.gate.wait(STARTUP_SECONDS)
        if self.fail_next:
            self.fail_next -= 1
            raise RuntimeError("an injected failure")
        return self.runner.run_batch(rows)


@contextlib.contextmanager
def running_server(runner, wait_ready: bool = True, **limits) -> Iterator[Served]:
    """
    Serves `runner` (a `ModelRunner`, or a stand-in for one) with `ServingLimits(**limits)` on 127.0.0.1 and
    a free port in a thread, until the block ends (with `wait_ready`, from the moment `/health` is 200);
    then stops it as SIGTERM would and waits for the thread.
    """
    from sledgehammer.serving.limits import ServingLimits
    from sledgehammer.serving.server import make_server

    server = make_server(runner, ServingLimits(**limits), host="127.0.0.1", port=0, log_level="warning")
    thread = threading.Thread(target=server.run, name="test-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + STARTUP_SECONDS
    while server.port is None:
        assert thread.is_alive() and time.monotonic() < deadline, "the test server did not start"
        time.sleep(0.01)
    url = f"http://127.0.0.1:{server.port}"
    if wait_ready:
        wait_until_ready(url)
    try:
        yield Served(url, server.state, server)
    finally:
        server.state.begin_draining()
        server.should_exit = True
        thread.join(STARTUP_SECONDS)
        assert not thread.is_alive(), "the test server did not stop"


def wait_until_ready(url: str, seconds: float = STARTUP_SECONDS) -> None:
    deadline = time.monotonic() + seconds
    while httpx.get(f"{url}/health", timeout=5).status_code != 200:
        assert time.monotonic() < deadline, "the server did not become healthy"
        time.sleep(0.02)


def metric_samples(url: str) -> Dict[str, float]:
    """The server's `/metrics` as `{'name{labels}': value}`."""
    text = httpx.get(f"{url}/metrics", timeout=10).text
    samples = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            samples[name] = float(value)
    return samples


def batches_over_one(samples: Dict[str, float]) -> float:
    """How many forward passes held more than one input."""
    return samples["sledgehammer_batch_size_count"] - samples['sledgehammer_batch_size_bucket{le="1.0"}']


def read_jsonl(path) -> List[dict]:
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def post(url: str, body, timeout: float = 30.0) -> httpx.Response:
    """POSTs `body` (JSON-encoded, or sent as it is when `bytes`) to `url/predict`."""
    if isinstance(body, bytes):
        return httpx.post(f"{url}/predict", content=body, timeout=timeout)
    return httpx.post(f"{url}/predict", json=body, timeout=timeout)


def post_concurrently(url: str, bodies: List, timeout: float = 30.0) -> List[httpx.Response]:
    """POSTs every body at once, one client thread each, and returns the responses in the bodies' order."""
    with ThreadPoolExecutor(len(bodies)) as pool:
        return list(pool.map(lambda body: post(url, body, timeout), bodies))


def wait_for(condition, seconds: float = STARTUP_SECONDS) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting for a condition"
        time.sleep(0.01)
