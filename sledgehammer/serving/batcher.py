"""
Dynamic batching: requests' inputs wait in one queue, and batches of them run on one inference thread.

The batching rule: a batch forms as soon as `max_batch_size` inputs wait, or `max_wait_ms` after the
oldest waiting input arrived. Its inputs are chosen by `select_batch` (rows near the oldest in length, with
its settings, as long as the batch stays filled); the others wait for the next batch, which forms right
away when they are due. One batch runs at a time, off the event loop, and each request gets its own inputs'
answers back once all of them are answered. A batch that raises fails its requests only.
"""
import asyncio
import logging
import math
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, List, NamedTuple, Optional, Sequence

from allennlp.common.util import JsonDict

from sledgehammer.serving.batch_selection import batch_fill, select_batch
from sledgehammer.serving.inputs import Row
from sledgehammer.serving.limits import ServingLimits
from sledgehammer.serving.metrics import ServerMetrics

logger = logging.getLogger(__name__)

# Weight of the newest batch in the running mean of batch durations that `Retry-After` is estimated from.
DURATION_SMOOTHING = 0.2


class QueueFull(Exception):
    """The queue has no room for a request's inputs; `retry_after` is a guess in whole seconds."""

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class BatchFailed(Exception):
    """The batch holding some of a request's inputs raised (the message says what)."""


class PendingRequest:
    """A submitted request: its rows, its answers as they come, and a future resolved with all of them."""

    def __init__(self, rows: Sequence[Row], arrival: float) -> None:
        self.rows = list(rows)
        self.arrival = arrival
        self.future: "asyncio.Future[List[JsonDict]]" = asyncio.get_running_loop().create_future()
        self._answers: List[Optional[JsonDict]] = [None] * len(self.rows)
        self._missing = len(self.rows)

    def deliver(self, position: int, answer: JsonDict) -> None:
        if self.future.done():
            return
        self._answers[position] = answer
        self._missing -= 1
        if self._missing == 0:
            self.future.set_result(list(self._answers))

    def fail(self, error: BaseException) -> None:
        if not self.future.done():
            self.future.set_exception(error)


class _Waiting(NamedTuple):
    request: PendingRequest
    position: int
    row: Row
    arrival: float


class DynamicBatcher:
    """
    The queue and the batching loop (see the module docstring). Create, `start()` and `stop()` it on the
    event loop that submits to it.

    # Parameters

    runner : `Any`
        What runs a batch, on the inference thread: `run_batch(rows) -> answers` and
        `exit_layers_of(answer) -> List[int]` (a `ModelRunner`), and `set_threads()`, the inference
        thread's initializer.
    limits : `ServingLimits`
    metrics : `ServerMetrics`
    """

    def __init__(self, runner: Any, limits: ServingLimits, metrics: ServerMetrics) -> None:
        self.runner = runner
        self.limits = limits
        self.metrics = metrics
        self._waiting: List[_Waiting] = []
        self._arrived = asyncio.Event()
        self._stopping = False
        self._flushing = False  # draining: batches form without waiting for more rows
        self._task: Optional["asyncio.Task[None]"] = None
        self._mean_batch_seconds = 0.0
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="inference", initializer=runner.set_threads)

    @property
    def queue_depth(self) -> int:
        return len(self._waiting)

    def flush(self) -> None:
        """From now on, runs what waits without waiting `max_wait_ms` for more (the server is draining)."""
        self._flushing = True
        self._arrived.set()

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._batch_loop())

    async def stop(self) -> None:
        """Runs what still waits, then ends the loop and the inference thread."""
        self._stopping = True
        self.flush()
        if self._task is not None:
            await self._task
        self._executor.shutdown(wait=True)

    async def run_in_inference_thread(self, function: Callable[..., Any], *arguments: Any) -> Any:
        """Runs `function(*arguments)` on the inference thread (the warm-up uses it) and returns its result."""
        return await asyncio.get_running_loop().run_in_executor(self._executor, function, *arguments)

    def submit(self, rows: Sequence[Row]) -> PendingRequest:
        """
        Queues a request's rows and returns it; await its `future` for the answers.

        # Raises

        `QueueFull` when fewer than `len(rows)` places are free in the queue.
        """
        free = self.limits.max_queue - len(self._waiting)
        if len(rows) > free:
            raise QueueFull(
                f"the queue is full ({len(self._waiting)} of {self.limits.max_queue} inputs wait, the request "
                f"has {len(rows)}); retry later",
                self.retry_after(),
            )
        now = time.monotonic()
        request = PendingRequest(rows, now)
        self._waiting.extend(_Waiting(request, position, row, now) for position, row in enumerate(rows))
        self.metrics.queue_depth.set(len(self._waiting))
        self._arrived.set()
        return request

    def abandon(self, request: PendingRequest) -> None:
        """Takes a request that is no longer awaited (it timed out, or failed) out of the queue."""
        if not request.future.done():
            request.future.cancel()
        self._waiting = [item for item in self._waiting if item.request is not request]
        self.metrics.queue_depth.set(len(self._waiting))

    def retry_after(self) -> int:
        """Whole seconds, at least 1, in which the inputs waiting now should have run."""
        batches = len(self._waiting) / self.limits.max_batch_size + 1
        return max(1, math.ceil(batches * self._mean_batch_seconds))

    async def _batch_loop(self) -> None:
        while self._waiting or not self._stopping:
            if not self._waiting:
                await self._wait_for_arrivals(None)
                continue
            due = self._waiting[0].arrival + self.limits.max_wait_seconds
            now = time.monotonic()
            if len(self._waiting) < self.limits.max_batch_size and now < due and not self._flushing:
                await self._wait_for_arrivals(due - now)
                continue
            await self._run(self._take_batch())

    async def _wait_for_arrivals(self, timeout: Optional[float]) -> None:
        self._arrived.clear()
        try:
            await asyncio.wait_for(self._arrived.wait(), timeout)
        except asyncio.TimeoutError:
            pass

    def _take_batch(self) -> List[_Waiting]:
        chosen = select_batch(
            [item.row.length for item in self._waiting],
            [item.row.settings for item in self._waiting],
            self.limits.max_batch_size,
            self.limits.min_fill,
        )
        chosen_set = set(chosen)
        batch = [self._waiting[position] for position in chosen]
        self._waiting = [item for position, item in enumerate(self._waiting) if position not in chosen_set]
        self.metrics.queue_depth.set(len(self._waiting))
        return batch

    async def _run(self, batch: List[_Waiting]) -> None:
        started = time.monotonic()
        for item in batch:
            self.metrics.queue_wait.observe(started - item.arrival)
        self.metrics.batch_size.observe(len(batch))
        self.metrics.batch_fill.observe(batch_fill([item.row.length for item in batch]))
        rows = [item.row for item in batch]
        try:
            answers = await self.run_in_inference_thread(self.runner.run_batch, rows)
            if len(answers) != len(rows):
                raise RuntimeError(f"the model answered {len(answers)} of {len(rows)} inputs")
        except Exception as error:  # one batch's failure fails its requests, nothing else
            logger.exception("a batch of %d inputs failed", len(batch))
            failure = BatchFailed(f"the model failed on the batch holding this request's inputs: "
                                  f"{type(error).__name__}: {error}")
            for request in {id(item.request): item.request for item in batch}.values():
                request.fail(failure)
                self.abandon(request)  # its inputs in the queue, if any, need not run
            return
        finally:
            seconds = time.monotonic() - started
            self.metrics.batch_seconds.observe(seconds)
            self._mean_batch_seconds += DURATION_SMOOTHING * (seconds - self._mean_batch_seconds)
        for item, answer in zip(batch, answers):
            self.metrics.count_exits(self.runner.exit_layers_of(answer))
            item.request.deliver(item.position, answer)
        self.metrics.rows.inc(len(batch))
