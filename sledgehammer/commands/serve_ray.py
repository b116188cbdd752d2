"""
The `serve-ray` subcommand serves an early-exit archive as Ray Serve replicas, with the `POST /predict` and
`GET /health` API of `serve-early-exit` (see `docs/ray.md`).

    allennlp serve-ray ARCHIVE [--replicas 1] [--host 127.0.0.1] [--port 8000] [--max-batch-size 32]
                       [--max-wait-ms 5] [--min-fill 0.75] [--num-threads N] [--max-ongoing-requests 256]
                       [--address ADDRESS] [--overrides JSON] [--include-package PACKAGE]
"""
import argparse
import contextlib
import os
import signal
import socket
import threading
from typing import Optional

from allennlp.commands.subcommand import Subcommand

from sledgehammer.commands.archive_inputs import CommandInputError, check_archive_config, reporting_input_errors
from sledgehammer.commands.ray_arguments import add_ray_arguments
from sledgehammer.commands.serve_early_exit import add_serving_arguments
from sledgehammer.serving.batch_selection import DEFAULT_MIN_FILL

COMMAND = "serve-ray"


@Subcommand.register(COMMAND)
class ServeRay(Subcommand):
    """
    Serves an early-exit archive as Ray Serve replicas, each loading the archive once and batching inputs with
    `@serve.batch` and the server's batching rule; runs until SIGTERM or SIGINT.
    """

    def add_subparser(self, parser: argparse._SubParsersAction) -> argparse.ArgumentParser:
        description = """Serve a sledgehammer_classifier or sledgehammer_tagger archive as Ray Serve replicas.
        POST /predict and GET /health as in `allennlp serve-early-exit`; each replica batches its inputs with
        @serve.batch (--max-batch-size, --max-wait-ms) and runs them in forward passes of like length. Without
        --address Ray starts on this machine, bound to 127.0.0.1. See docs/ray.md."""
        subparser = parser.add_parser(self.name, description=description,
                                      help="Serve an early-exit archive as Ray Serve replicas.")
        subparser.add_argument("archive_file", metavar="ARCHIVE", help="path to a model.tar.gz archive")
        subparser.add_argument("--replicas", type=int, default=1, metavar="N", help="replicas of the model")
        add_serving_arguments(subparser)  # Ray Serve's HTTP proxy binds --host
        subparser.add_argument("--max-ongoing-requests", type=int, default=256, metavar="N",
                               help="requests one replica holds at once; Ray Serve queues more")
        add_ray_arguments(subparser, "replica")
        subparser.add_argument("-o", "--overrides", type=str, default="",
                               help="a json(net) structure used to override the archived configuration")
        subparser.set_defaults(func=serve_ray_from_args)
        return subparser


def serve_ray_from_args(args: argparse.Namespace) -> None:
    with reporting_input_errors(COMMAND):
        serve_replicas(args.archive_file, replicas=args.replicas, host=args.host, port=args.port,
                       max_batch_size=args.max_batch_size, max_wait_ms=args.max_wait_ms, min_fill=args.min_fill,
                       num_threads=args.num_threads, max_ongoing_requests=args.max_ongoing_requests,
                       address=args.address, overrides=args.overrides)


def check_serve_options(replicas: int, port: int, max_batch_size: int, max_wait_ms: float, min_fill: float,
                        num_threads: Optional[int], max_ongoing_requests: int) -> None:
    """`CommandInputError` naming the first unusable option and what was expected."""
    for name, value, least in (("--replicas", replicas, 1), ("--max-batch-size", max_batch_size, 1),
                               ("--num-threads", num_threads, 1), ("--max-ongoing-requests", max_ongoing_requests, 1)):
        if value is not None and value < least:
            raise CommandInputError(f"{name} must be an integer of at least {least}, got {value}")
    if not 0 <= port <= 65535:
        raise CommandInputError(f"--port must be in [0, 65535], got {port}")
    if not max_wait_ms >= 0:
        raise CommandInputError(f"--max-wait-ms must be at least 0, got {max_wait_ms}")
    if not 0.0 <= min_fill <= 1.0:
        raise CommandInputError(f"--min-fill must be in [0, 1], got {min_fill}")


def serve_replicas(archive_file: str, replicas: int = 1, host: str = "127.0.0.1", port: int = 8000,
                   max_batch_size: int = 32, max_wait_ms: float = 5.0, min_fill: float = DEFAULT_MIN_FILL,
                   num_threads: Optional[int] = None, max_ongoing_requests: int = 256,
                   address: Optional[str] = None, overrides: str = "",
                   stop: Optional[threading.Event] = None) -> None:
    """
    Serves `archive_file` as Ray Serve replicas until SIGTERM or SIGINT (or `stop` is set), then deletes the
    application (and stops the Ray it started). Prints the address once every replica is healthy.

    # Parameters

    archive_file : `str`
    replicas, host, port, max_batch_size, max_wait_ms, min_fill, num_threads, max_ongoing_requests
        As the command's options.
    address : `str`, optional (default = `None`)
        A Ray cluster to join; `None` starts Ray here (`sledgehammer.on_ray.cluster`).
    overrides : `str`, optional (default = `""`)
    stop : `threading.Event`, optional (default = `None`)
        Stops the serving when set (instead of a signal).

    # Raises

    `CommandInputError` for unusable options or archives, or without the ray extra.
    """
    from sledgehammer.on_ray.cluster import RayUnavailable, import_ray, ray_connection
    from sledgehammer.on_ray.corpus_predictor import PREDICTED_MODELS

    check_serve_options(replicas, port, max_batch_size, max_wait_ms, min_fill, num_threads, max_ongoing_requests)
    config = check_archive_config(archive_file, COMMAND, accepted=PREDICTED_MODELS)
    try:
        import_ray()
        from ray import serve
    except (RayUnavailable, ImportError) as error:
        raise CommandInputError(f"{COMMAND} {error}") from None
    from sledgehammer.on_ray.serve_deployment import APP_NAME, build_app
    from sledgehammer.serving.server import ANNOUNCEMENT

    if port == 0:
        port = _free_port(host)
    stop = stop or threading.Event()
    with ray_connection(address):
        for signal_number in (signal.SIGTERM, signal.SIGINT):  # after Ray's own handlers are installed
            signal.signal(signal_number, lambda *_: stop.set())
        serve.start(http_options={"host": host, "port": port})
        try:
            app = build_app(os.path.abspath(archive_file), num_replicas=replicas, overrides=overrides,
                            max_batch_size=max_batch_size, max_wait_ms=max_wait_ms, min_fill=min_fill,
                            num_threads=num_threads, max_ongoing_requests=max_ongoing_requests)
            serve.run(app, name=APP_NAME, route_prefix="/")
            print(ANNOUNCEMENT.format(archive=archive_file, kind=config["model"]["type"], host=host, port=port)
                  + f" ({replicas} Ray Serve replicas)", flush=True)
            while not stop.wait(1.0):
                pass
        finally:
            serve.delete(APP_NAME)
            if address is None:
                serve.shutdown()


def _free_port(host: str) -> int:
    with contextlib.closing(socket.socket()) as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]
