"""
The ASGI app (Starlette) of `allennlp serve-early-exit`: `POST /predict`, `GET /health` and `GET /metrics`.

`POST /predict` answers one input (`{"sentence": ...}`) with one object and a list of inputs with a list,
each object what `allennlp predict` writes for that input. Refusals are `{"error": KIND, "message": ...}`
with the status of their kind (`sledgehammer.serving.metrics.ERROR_KINDS`): 400 for a body or input that
cannot be used (naming the field), 413 for a body over `max_body_size` or more inputs than `max_queue`, 503
with `Retry-After` when the queue is full, before the warm-up has finished or while the server shuts down,
504 past `request_timeout`, 500 when the model failed on the batch.
"""
import asyncio
import contextlib
import json
import logging
import time
from typing import AsyncIterator, Callable, List, Optional, Tuple

from allennlp.common.util import JsonDict
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from sledgehammer.common.cli_errors import one_line
from sledgehammer.serving.batcher import BatchFailed, DynamicBatcher, QueueFull
from sledgehammer.serving.inputs import RequestError, parse_body
from sledgehammer.serving.limits import ServingLimits
from sledgehammer.serving.metrics import CONTENT_TYPE, ServerMetrics
from sledgehammer.serving.model_runner import ModelRunner

logger = logging.getLogger(__name__)

JSON_TYPE = "application/json"


class ServingState:
    """
    What the routes share: the runner, the batcher (made at startup), the metrics and the server's phase
    (warming up, ready, draining, or failed).

    # Parameters

    runner : `ModelRunner`
    limits : `ServingLimits`
    on_fatal : `Callable[[], None]`, optional (default = `None`)
        Called when the warm-up fails (the command stops the server with it).
    """

    def __init__(self, runner: ModelRunner, limits: ServingLimits, on_fatal: Optional[Callable[[], None]] = None):
        self.runner = runner
        self.limits = limits
        self.metrics = ServerMetrics(runner.exit_layers)
        self.batcher: Optional[DynamicBatcher] = None
        self.on_fatal = on_fatal
        self.ready = False
        self.draining = False
        self.warmup_error: Optional[str] = None
        self._warmup: Optional["asyncio.Task[None]"] = None
        self._loop: Optional[asyncio.AbstractEventLoop] = None

    def begin_draining(self) -> None:
        """
        From now on, new requests are refused (503) and `/health` says so; what was accepted still runs, the
        waiting inputs without waiting for more. Safe to call from a signal handler or another thread.
        """
        self.draining = True
        if self._loop is not None and self.batcher is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self.batcher.flush)

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self.batcher = DynamicBatcher(self.runner, self.limits, self.metrics)
        self.batcher.start()
        self._warmup = self._loop.create_task(self._warm_up())

    async def stop(self) -> None:
        self.draining = True
        if self._warmup is not None:
            await self._warmup
        if self.batcher is not None:
            await self.batcher.stop()

    async def _warm_up(self) -> None:
        try:
            await self.batcher.run_in_inference_thread(self.runner.warm_up, self.limits.max_batch_size)
        except Exception as error:  # the server cannot answer; say why and stop
            logger.exception("the warm-up failed")
            self.warmup_error = f"{type(error).__name__}: {one_line(error)}"
            if self.on_fatal is not None:
                self.on_fatal()
            return
        self.ready = True
        logger.info("ready: serving a %s", self.runner.kind)

    @property
    def phase(self) -> str:
        """`"ok"` (answering), `"warming up"`, `"draining"` (after a stop signal) or `"failed"` (the warm-up raised)."""
        if self.warmup_error:
            return "failed"
        if self.draining:
            return "draining"
        return "ok" if self.ready else "warming up"

    async def health(self, request: Request) -> Response:
        content = {"status": self.phase, "model": self.runner.kind, "exit_layers": self.runner.exit_layers,
                   "queue_depth": self.batcher.queue_depth if self.batcher else 0}
        if self.warmup_error:
            content["error"] = self.warmup_error
        return JSONResponse(content, status_code=200 if self.phase == "ok" else 503)

    async def metrics_page(self, request: Request) -> Response:
        return Response(self.metrics.exposition(), media_type=CONTENT_TYPE)

    async def predict(self, request: Request) -> Response:
        arrival = time.monotonic()
        try:
            answers, is_list = await self._answer(request, arrival + self.limits.request_timeout)
        except RequestError as error:
            self.metrics.count_request(error.status, time.monotonic() - arrival, error.kind)
            logger.debug("POST /predict answered %d: %s", error.status, error.message)  # a failed batch logs itself
            return JSONResponse({"error": error.kind, "message": error.message}, status_code=error.status,
                                headers=error.headers)
        self.metrics.count_request(200, time.monotonic() - arrival)
        # Serialised as `allennlp predict` writes each line (`Predictor.dump_line`: `json.dumps`).
        return Response(json.dumps(answers if is_list else answers[0]), media_type=JSON_TYPE)

    async def _answer(self, request: Request, deadline: float) -> Tuple[List[JsonDict], bool]:
        if self.phase != "ok":
            doing = {"draining": "shutting down", "failed": "failed to warm up"}.get(self.phase, self.phase)
            raise RequestError(503, "not_ready", f"the server is {doing}; retry later", {"Retry-After": "1"})
        body = await self._read_body(request)
        rows, is_list = parse_body(body, self.runner.predictor, self.runner.exit_modes)
        if len(rows) > self.limits.max_queue:
            raise RequestError(413, "too_large", f"a request may hold at most {self.limits.max_queue} inputs "
                               f"(--max-queue), this one holds {len(rows)}")
        try:
            pending = self.batcher.submit(rows)
        except QueueFull as error:
            raise RequestError(503, "queue_full", str(error), {"Retry-After": str(error.retry_after)}) from None
        try:
            answers = await asyncio.wait_for(asyncio.shield(pending.future), max(0.0, deadline - time.monotonic()))
        except asyncio.TimeoutError:
            self.batcher.abandon(pending)
            raise RequestError(504, "timeout", f"no answer within the request timeout of "
                               f"{self.limits.request_timeout:g} s (--request-timeout)") from None
        except BatchFailed as error:
            raise RequestError(500, "model_error", str(error)) from None
        return answers, is_list

    async def _read_body(self, request: Request) -> bytes:
        limit = self.limits.max_body_size
        too_large = RequestError(413, "too_large", f"the request body is larger than {limit} bytes (--max-body-size)")
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            raise too_large
        chunks, size = [], 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise too_large
            chunks.append(chunk)
        return b"".join(chunks)


def build_app(runner: ModelRunner, limits: ServingLimits, on_fatal: Optional[Callable[[], None]] = None) -> Starlette:
    """
    The app serving `runner`; its `state.serving` is the `ServingState`. The batcher starts, and the warm-up
    begins on the inference thread, when the app starts (ASGI lifespan); the app stops after running what
    was accepted.
    """
    state = ServingState(runner, limits, on_fatal)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await state.start()
        try:
            yield
        finally:
            await state.stop()

    routes = [
        Route("/predict", state.predict, methods=["POST"]),
        Route("/health", state.health, methods=["GET"]),
        Route("/metrics", state.metrics_page, methods=["GET"]),
    ]
    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.serving = state
    return app
