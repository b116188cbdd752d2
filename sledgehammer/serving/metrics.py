"""
The server's Prometheus metrics, in a registry of their own (one per app, so two apps in one process, as in
the tests, do not share counts), exposed by `GET /metrics` in Prometheus' text format.

| name | type | what |
| --- | --- | --- |
| `sledgehammer_requests_total{status}` | counter | answered `POST /predict` requests by HTTP status |
| `sledgehammer_request_errors_total{kind}` | counter | failed requests by kind (`ERROR_KINDS`) |
| `sledgehammer_rows_total` | counter | inputs answered |
| `sledgehammer_queue_depth` | gauge | inputs waiting for a batch |
| `sledgehammer_batch_size` | histogram | inputs per forward pass |
| `sledgehammer_batch_fill` | histogram | real over padded length of each batch (1 = no padding) |
| `sledgehammer_exit_layer_total{layer}` | counter | answers by the encoder layer (0-based) that gave them: inputs for a classifier, words for a tagger |
| `sledgehammer_queue_wait_seconds` | histogram | from an input's arrival to the start of its batch |
| `sledgehammer_batch_seconds` | histogram | one forward pass |
| `sledgehammer_request_seconds` | histogram | a `POST /predict` from its arrival to its answer, every status |
"""
from typing import Iterable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

PREFIX = "sledgehammer_"
# What `sledgehammer_request_errors_total` counts, each with its HTTP status.
ERROR_KINDS = {
    "bad_request": 400,
    "too_large": 413,
    "model_error": 500,
    "queue_full": 503,
    "not_ready": 503,
    "timeout": 504,
}
BATCH_SIZE_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256)
FILL_BUCKETS = (0.25, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 1.0)
SECONDS_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
CONTENT_TYPE = CONTENT_TYPE_LATEST


class ServerMetrics:
    """
    The metrics of one server (see the module docstring for their names).

    # Parameters

    exit_layers : `Iterable[int]`
        The model's exit layers, whose counters start at zero so that every exit is listed from the start.
    """

    def __init__(self, exit_layers: Iterable[int]) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        registry = self.registry
        self.requests = Counter(f"{PREFIX}requests", "Answered POST /predict requests, by HTTP status.",
                                ["status"], registry=registry)
        self.errors = Counter(f"{PREFIX}request_errors", "Failed POST /predict requests, by kind.", ["kind"],
                              registry=registry)
        for kind in ERROR_KINDS:
            self.errors.labels(kind=kind)
        self.rows = Counter(f"{PREFIX}rows", "Inputs answered.", registry=registry)
        self.queue_depth = Gauge(f"{PREFIX}queue_depth", "Inputs waiting for a batch.", registry=registry)
        self.batch_size = Histogram(f"{PREFIX}batch_size", "Inputs per forward pass.",
                                    buckets=BATCH_SIZE_BUCKETS, registry=registry)
        self.batch_fill = Histogram(f"{PREFIX}batch_fill", "Real over padded length of a batch (1: no padding).",
                                    buckets=FILL_BUCKETS, registry=registry)
        self.exit_layer = Counter(f"{PREFIX}exit_layer", "Answers by the 0-based encoder layer that gave them "
                                  "(inputs for a classifier, words for a tagger).", ["layer"], registry=registry)
        for layer in exit_layers:
            self.exit_layer.labels(layer=str(layer))
        self.queue_wait = Histogram(f"{PREFIX}queue_wait_seconds", "From an input's arrival to its batch's start.",
                                    buckets=SECONDS_BUCKETS, registry=registry)
        self.batch_seconds = Histogram(f"{PREFIX}batch_seconds", "One forward pass.", buckets=SECONDS_BUCKETS,
                                       registry=registry)
        self.request_seconds = Histogram(f"{PREFIX}request_seconds", "A POST /predict, arrival to answer.",
                                         buckets=SECONDS_BUCKETS, registry=registry)

    def count_request(self, status: int, seconds: float, error_kind: str = None) -> None:
        """Counts one answered request (and its error kind, for a failure)."""
        self.requests.labels(status=str(status)).inc()
        self.request_seconds.observe(seconds)
        if error_kind is not None:
            self.errors.labels(kind=error_kind).inc()

    def count_exits(self, layers: Iterable[int]) -> None:
        for layer in layers:
            self.exit_layer.labels(layer=str(layer)).inc()

    def exposition(self) -> bytes:
        """Every metric in Prometheus' text format."""
        return generate_latest(self.registry)
