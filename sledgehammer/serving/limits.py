"""The batching rule's parameters and the server's bounds, with their defaults and checks."""
from dataclasses import dataclass

from sledgehammer.serving.batch_selection import DEFAULT_MIN_FILL


@dataclass(frozen=True)
class ServingLimits:
    """
    How the server batches and what it refuses. Each field is the command-line option of the same name
    (`--max-batch-size`, `--max-wait-ms`, ...).

    # Parameters

    max_batch_size : `int`, optional (default = `32`)
        The most inputs in one forward pass; a batch forms as soon as this many wait.
    max_wait_ms : `float`, optional (default = `5.0`)
        A batch forms at the latest this long after its oldest input arrived.
    max_queue : `int`, optional (default = `256`)
        The most inputs waiting; a request that would exceed it is answered 503 at once (a request of more
        inputs than this, 413).
    request_timeout : `float`, optional (default = `10.0`)
        Seconds from a request's arrival to its answer; later, it is answered 504.
    max_body_size : `int`, optional (default = `1048576`)
        The largest request body in bytes; a larger one is answered 413.
    min_fill : `float`, optional (default = `0.75`)
        The smallest share of real (not padded) length in a batch that length grouping allows
        (`sledgehammer.serving.batch_selection`).
    """

    max_batch_size: int = 32
    max_wait_ms: float = 5.0
    max_queue: int = 256
    request_timeout: float = 10.0
    max_body_size: int = 1024 * 1024
    min_fill: float = DEFAULT_MIN_FILL

    def __post_init__(self) -> None:
        checks = (
            ("max_batch_size", self.max_batch_size >= 1, "an integer of at least 1"),
            ("max_wait_ms", self.max_wait_ms >= 0, "a number of milliseconds of at least 0"),
            ("max_queue", self.max_queue >= 1, "an integer of at least 1"),
            ("request_timeout", self.request_timeout > 0, "a number of seconds above 0"),
            ("max_body_size", self.max_body_size >= 1, "a number of bytes of at least 1"),
            ("min_fill", 0.0 <= self.min_fill <= 1.0, "a share in [0, 1]"),
        )
        for name, valid, expected in checks:
            if not valid:
                raise ValueError(f"--{name.replace('_', '-')} must be {expected}, got {getattr(self, name)!r}")

    @property
    def max_wait_seconds(self) -> float:
        return self.max_wait_ms / 1000.0
