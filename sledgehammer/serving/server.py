"""
Runs the app with uvicorn: binds, announces the bound address, and on SIGTERM (or SIGINT) stops accepting,
answers what is in flight, runs what the queue holds, and returns normally (exit status 0).
"""
import logging
import re
import signal
import sys
import threading
from typing import Callable, Optional

import uvicorn
from starlette.applications import Starlette

from sledgehammer.serving.app import ServingState, build_app
from sledgehammer.serving.limits import ServingLimits
from sledgehammer.serving.model_runner import ModelRunner

logger = logging.getLogger(__name__)

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)
# The line the command prints on standard output once it listens, and how to find the address in it.
ANNOUNCEMENT = "serving {archive} ({kind}) on http://{host}:{port}; GET /health answers 200 once warmed up"
ANNOUNCED_URL = re.compile(r" on (http://\S+:\d+); GET /health")
# Seconds the shutdown waits for in-flight requests beyond the request timeout, which bounds each of them.
DRAIN_MARGIN_SECONDS = 5


class DrainingServer(uvicorn.Server):
    """
    uvicorn's server that, on a stop signal, first tells the app to refuse new requests, and that reports the
    address it bound (port 0 picks a free one) to `on_started(host, port)`.
    """

    def __init__(self, config: uvicorn.Config, state: ServingState,
                 on_started: Optional[Callable[[str, int], None]] = None) -> None:
        super().__init__(config)
        self.state = state
        self.on_started = on_started
        self.port: Optional[int] = None

    def handle_exit(self, sig: int, frame) -> None:
        self.state.begin_draining()
        super().handle_exit(sig, frame)

    async def startup(self, sockets=None) -> None:
        await super().startup(sockets)
        if self.started and self.servers:
            self.port = self.servers[0].sockets[0].getsockname()[1]
            if self.on_started is not None:
                self.on_started(self.config.host, self.port)


def make_server(runner: ModelRunner, limits: ServingLimits, host: str = "127.0.0.1", port: int = 8000,
                on_started: Optional[Callable[[str, int], None]] = None, log_level: str = "info") -> DrainingServer:
    """
    A `DrainingServer` for the app serving `runner` (`build_app`); a failed warm-up stops it. Call its
    `run()` (or `serve()` on an event loop; in a thread other than the main one, stop it with
    `server.state.begin_draining(); server.should_exit = True`).
    """
    holder = {}
    app: Starlette = build_app(runner, limits, on_fatal=lambda: setattr(holder["server"], "should_exit", True))
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        # uvloop's event loop and httptools' HTTP parser (C, both in the serve extra) when installed; asyncio's
        # loop and the pure-Python h11 otherwise.
        loop="auto",
        http="auto",
        lifespan="on",
        log_level=log_level,
        access_log=False,
        timeout_graceful_shutdown=int(limits.request_timeout) + DRAIN_MARGIN_SECONDS,
    )
    server = DrainingServer(config, app.state.serving, on_started)
    holder["server"] = server
    return server


def run_until_stopped(server: DrainingServer) -> int:
    """
    Runs `server` until a stop signal and returns the exit status: 0 after a clean shutdown, 1 when the
    warm-up failed or the server could not start (e.g. the port is taken).

    uvicorn raises a signal it handled again once it has shut down, for the handler that was in place
    before; here that handler ignores it, so the process ends with status 0 rather than being killed.
    """
    in_main_thread = threading.current_thread() is threading.main_thread()
    previous = {sig: signal.signal(sig, _ignore) for sig in STOP_SIGNALS} if in_main_thread else {}
    try:
        server.run()
    except SystemExit as error:  # uvicorn exits on a failed startup (port taken, lifespan failed)
        return error.code if isinstance(error.code, int) else 1
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if server.state.warmup_error:
        print(f"allennlp serve-early-exit: error: the warm-up failed: {server.state.warmup_error}", file=sys.stderr)
        return 1
    return 0 if server.started else 1


def _ignore(sig: int, frame) -> None:
    logger.info("stopped by signal %d", sig)
