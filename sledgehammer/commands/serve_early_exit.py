"""
The `serve-early-exit` subcommand serves a trained `sledgehammer_classifier` or `sledgehammer_tagger` over
HTTP, batching concurrent requests into the model's batched early exit (see `docs/serving.md`).

    allennlp serve-early-exit ARCHIVE [--host 127.0.0.1] [--port 8000] [--max-batch-size 32]
                              [--max-wait-ms 5] [--max-queue 256] [--request-timeout 10]
                              [--max-body-size 1048576] [--min-fill 0.75] [--num-threads N]
                              [--cuda-device D] [--overrides JSON] [--include-package PACKAGE]
"""
import argparse
import sys
from typing import Any, Dict, Optional, Union

from allennlp.commands.subcommand import Subcommand

from sledgehammer.commands.archive_inputs import (
    CommandInputError,
    check_archive_config,
    load_checked_archive,
    reporting_input_errors,
)
from sledgehammer.models import EarlyExitClassifier, EarlyExitTagger
from sledgehammer.serving.batch_selection import DEFAULT_MIN_FILL
from sledgehammer.serving.limits import ServingLimits

COMMAND = "serve-early-exit"
SERVED_MODELS = (EarlyExitClassifier, EarlyExitTagger)


@Subcommand.register(COMMAND)
class ServeEarlyExit(Subcommand):
    """
    Serves an early-exit archive over HTTP with dynamic batching: `POST /predict`, `GET /health`,
    `GET /metrics`. The archive is loaded once (safely, as by every command) and warmed up before
    `/health` reports ready; SIGTERM stops the server after answering what it accepted.
    """

    def add_subparser(self, parser: argparse._SubParsersAction) -> argparse.ArgumentParser:
        description = """Serve a sledgehammer_classifier or sledgehammer_tagger archive over HTTP.
        POST /predict takes one input in the predictor's JSON (or a list of them, and an input may carry its
        own "threshold", a tagger's also "window" and "exit_mode") and answers what `allennlp predict` writes
        for it; GET /health is 200 once the model is warmed up; GET /metrics is in Prometheus' text format.
        Concurrent requests are batched: a batch forms when --max-batch-size inputs wait or --max-wait-ms
        after the oldest arrived, from inputs of like length. See docs/serving.md."""
        subparser = parser.add_parser(self.name, description=description,
                                      help="Serve an early-exit archive over HTTP with dynamic batching.")
        subparser.add_argument("archive_file", metavar="ARCHIVE", help="path to a model.tar.gz archive")
        add_serving_arguments(subparser)
        subparser.add_argument("--max-queue", type=int, default=256, metavar="N",
                               help="most inputs waiting; more are answered 503 with Retry-After")
        subparser.add_argument("--request-timeout", type=float, default=10.0, metavar="SECONDS",
                               help="a request not answered this long after it arrived is answered 504")
        subparser.add_argument("--max-body-size", type=int, default=1024 * 1024, metavar="BYTES",
                               help="a larger request body is answered 413")
        subparser.add_argument("--num-threads", type=int, default=None, metavar="N",
                               help="torch threads of the inference thread (torch's own count when not given)")
        subparser.add_argument("--cuda-device", type=int, default=-1, metavar="D", help="id of GPU to use (-1 for CPU)")
        subparser.add_argument("-o", "--overrides", type=str, default="",
                               help="a json(net) structure used to override the archived configuration when "
                               "loading the model and dataset reader")
        subparser.set_defaults(func=serve_from_args)
        return subparser


def add_serving_arguments(subparser: argparse.ArgumentParser) -> None:
    """Adds the options every serving command takes: `--host`, `--port`, `--max-batch-size`, `--max-wait-ms` and
    `--min-fill` (the batching rule's)."""
    subparser.add_argument("--host", default="127.0.0.1",
                           help="address to bind (this machine only unless told otherwise)")
    subparser.add_argument("--port", type=int, default=8000, help="port to bind (0: a free one)")
    subparser.add_argument("--max-batch-size", type=int, default=32, metavar="N",
                           help="most inputs in one forward pass (1 turns batching off)")
    subparser.add_argument("--max-wait-ms", type=float, default=5.0, metavar="MS",
                           help="a batch forms at the latest this long after its oldest input arrived")
    subparser.add_argument("--min-fill", type=float, default=DEFAULT_MIN_FILL, metavar="SHARE",
                           help="smallest share of real, unpadded length in a batch when inputs of different "
                           "lengths are grouped")


def serve_from_args(args: argparse.Namespace) -> None:
    """Runs `serve_archive`; input problems end the program with status 2, a failed start with 1."""
    with reporting_input_errors(COMMAND):
        status = serve_archive(
            args.archive_file,
            host=args.host,
            port=args.port,
            limits=dict(max_batch_size=args.max_batch_size, max_wait_ms=args.max_wait_ms, max_queue=args.max_queue,
                        request_timeout=args.request_timeout, max_body_size=args.max_body_size,
                        min_fill=args.min_fill),
            num_threads=args.num_threads,
            cuda_device=args.cuda_device,
            overrides=args.overrides,
        )
    if status:
        sys.exit(status)


def serve_archive(
    archive_file: str,
    host: str = "127.0.0.1",
    port: int = 8000,
    limits: Optional[Dict[str, Any]] = None,
    num_threads: Optional[int] = None,
    cuda_device: int = -1,
    overrides: Union[str, Dict[str, Any]] = "",
) -> int:
    """
    Loads `archive_file`, serves it until SIGTERM or SIGINT, and returns the exit status (0 after a clean
    shutdown).

    # Parameters

    archive_file : `str`
        A local `model.tar.gz` of a `sledgehammer_classifier` or `sledgehammer_tagger`.
    host : `str`, optional (default = `"127.0.0.1"`)
    port : `int`, optional (default = `8000`)
        0 binds a free port; the bound address is printed either way.
    limits : `Dict[str, Any]`, optional (default = `None`)
        Fields of `ServingLimits` (its defaults for those not given).
    num_threads : `int`, optional (default = `None`)
        `torch.set_num_threads` of the inference thread; `None` keeps torch's.
    cuda_device : `int`, optional (default = `-1`)
    overrides : `Union[str, Dict[str, Any]]`, optional (default = `""`)

    # Raises

    `CommandInputError` for unusable options or archives, with a one-line message.
    """
    try:
        from sledgehammer.serving.model_runner import ModelRunner, threads_for_inference
        from sledgehammer.serving.server import ANNOUNCEMENT, make_server, run_until_stopped
    except ImportError as error:
        raise CommandInputError(f"{COMMAND} needs the serve extra ({error}); "
                                f"pip install -e '.[serve]' (make install does)") from None
    try:
        serving_limits = ServingLimits(**(limits or {}))
    except ValueError as error:
        raise CommandInputError(str(error)) from None
    if num_threads is not None and num_threads < 1:
        raise CommandInputError(f"--num-threads must be an integer of at least 1, got {num_threads}")
    if not 0 <= port <= 65535:
        raise CommandInputError(f"--port must be in [0, 65535], got {port}")
    check_archive_config(archive_file, COMMAND, accepted=SERVED_MODELS)
    inference_threads = threads_for_inference(num_threads)
    archive = load_checked_archive(archive_file, cuda_device, overrides, accepted=SERVED_MODELS)
    runner = ModelRunner(archive, num_threads=inference_threads)

    def announce(bound_host: str, bound_port: int) -> None:
        print(ANNOUNCEMENT.format(archive=archive_file, kind=runner.kind, host=bound_host, port=bound_port),
              flush=True)

    server = make_server(runner, serving_limits, host=host, port=port, on_started=announce)
    return run_until_stopped(server)
