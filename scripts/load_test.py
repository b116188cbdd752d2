#!/usr/bin/env python
"""
Load generator for `allennlp serve-early-exit`: a fixed number of concurrent clients POST inputs read from a
JSON-lines file (cycled) to `/predict` on 127.0.0.1, each run bounded by a request count and a duration, and
report requests/s, p50/p95/p99 latency, answers by status, and the server's own batch-size, fill and exit
histograms over the run (the difference of its `/metrics` before and after).

Against a running server:
    python scripts/load_test.py --url http://127.0.0.1:8000 --inputs inputs.jsonl --output load.json
        [--concurrency 1 4 16 64] [--requests 500] [--duration 60] [--threshold T]

The four variants of the benchmark protocol (docs/serving.md), one server process each, on a free port:
    python scripts/load_test.py --archive model.tar.gz --variants --threshold 0.9 --inputs inputs.jsonl \\
        --output load.json [--max-batch-size 32] [--server-args "--num-threads 2"] [--variants a c]

    a  batch1_full         --max-batch-size 1, threshold 1.0 (no batching, no early exit)
    b  batched_full        --max-batch-size N, threshold 1.0 (batching alone)
    c  batched_early_exit  --max-batch-size N, threshold T (both)
    d  batch1_early_exit   --max-batch-size 1, threshold T (early exit alone)
    p  allennlp_server     AllenNLP's own server (allennlp-server 1.0, `allennlp serve`), threshold 1.0: only with
                           --peer-allennlp, the `allennlp` executable of an environment that has allennlp-server
    r  ray_serve_replicas  `allennlp serve-ray --replicas N` (Ray Serve, the `ray` extra), --max-batch-size N,
                           threshold T: only with --ray-replicas N (`--variants r` alone runs it alone); more
                           serve-ray options with --ray-server-args

The threshold travels in each request's JSON. The JSON result is written atomically after every variant.
"""
import argparse
import asyncio
import json
import os
import shlex
import signal
import socket
import subprocess
import sys
import time
from typing import Any, Dict, List, Optional

import httpx
import psutil

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from sledgehammer.common.atomic_files import write_bytes_atomically  # noqa: E402
from sledgehammer.serving.load_generation import (  # noqa: E402
    AnswerCheck, cpu_seconds, cpu_summary, drive, read_inputs, scrape, server_summary)
from sledgehammer.serving.server_process import ServerProcess  # noqa: E402

# name: (letter, batched, early exit, what it shows)
VARIANTS = {
    "batch1_full": ("a", False, False, "no batching, no early exit"),
    "batched_full": ("b", True, False, "batching alone"),
    "batched_early_exit": ("c", True, True, "batching with early exit"),
    "batch1_early_exit": ("d", False, True, "early exit alone"),
}
RAY_VARIANT = "ray_serve_replicas"
RAY_MEANING = "Ray Serve replicas (allennlp serve-ray), batching with early exit"
PEER = "allennlp_server"
PEER_MEANING = "allennlp-server 1.0 (Flask), one request at a time, full model"
REPOSITORY = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
def run_levels(url: str, inputs: List[Dict[str, Any]], args: argparse.Namespace,
               threshold: Optional[float], server_pid: Optional[int] = None) -> List[Dict[str, Any]]:
    """
    One measured run per concurrency level (or per `--rate`), each after `--warmup-requests` unmeasured ones;
    with `server_pid`, each run also says how many of the machine's cores the server and the clients used, and
    with `--expected` for this threshold, whether the answers are `allennlp predict`'s.
    """
    runs = []
    server_process = psutil.Process(server_pid) if server_pid is not None else None
    client_process = psutil.Process()
    expected = args.expected.get(threshold)
    levels = [(None, rate) for rate in args.rate] if args.rate else [(level, None) for level in args.concurrency]
    for concurrency, rate in levels:
        if args.warmup_requests:
            asyncio.run(drive(url, inputs, concurrency or 1, args.warmup_requests, args.duration, threshold,
                              args.timeout))
        check = AnswerCheck(expected) if expected is not None else None
        before = scrape(url)
        server_before, client_before = cpu_seconds(server_process), cpu_seconds(client_process, descendants=False)
        run = asyncio.run(drive(url, inputs, concurrency, args.requests, args.duration, threshold, args.timeout,
                                rate, check))
        server_after, client_after = cpu_seconds(server_process), cpu_seconds(client_process, descendants=False)
        run["cpu"] = cpu_summary(None if server_before is None or server_after is None else server_after - server_before,
                                 client_after - client_before, run["seconds"])
        run["server"] = server_summary(before, scrape(url))
        if check is not None:
            run["answers"] = check.summary()
        runs.append(run)
        latency = run["latency_ms"]
        batch = (run["server"] or {}).get("mean_batch_size") or 0
        level = f"{concurrency:>3} clients" if rate is None else f"{rate:g} req/s offered"
        checked = "" if check is None else f"  answers differing {check.different}/{check.checked}"
        print(f"  {level}: {run['requests_per_second'] or 0:8.1f} req/s  p50 "
              f"{latency['p50'] or 0:7.1f} ms  p99 {latency['p99'] or 0:7.1f} ms  mean batch "
              f"{batch:5.1f}  cores server/clients {run['cpu']['server_cores'] or 0:.2f}/"
              f"{run['cpu']['load_generator_cores']:.2f}  errors {run['errors']}{checked}", flush=True)
    return runs


def expected_outputs(values: List[str], num_inputs: int) -> Dict[float, List[Dict[str, Any]]]:
    """`--expected THRESHOLD=PREDICTIONS.jsonl` values: `allennlp predict`'s output lines by threshold."""
    expected = {}
    for value in values:
        threshold, separator, path = value.partition("=")
        try:
            threshold_value = float(threshold)
        except ValueError:
            threshold_value = None
        if not separator or threshold_value is None or not path:
            raise ValueError(f"--expected {value!r}: expected THRESHOLD=PREDICTIONS.jsonl, e.g. 0.9=predictions.jsonl")
        outputs = read_inputs(path)
        if len(outputs) != num_inputs:
            raise ValueError(f"--expected {path}: {len(outputs)} output lines for {num_inputs} inputs; expected "
                             f"one line per input, as `allennlp predict` writes them")
        expected[threshold_value] = outputs
    return expected


def free_port() -> int:
    """A loopback port nobody listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class PeerServer:
    """
    allennlp-server 1.0's `allennlp serve` as a child process on a free loopback port (variant p), with this
    plugin importable; use as a context manager (stopped with SIGTERM).

    # Parameters

    executable : `str`
        The `allennlp` executable of an environment where allennlp-server is installed.
    archive : `str`
    predictor : `str`
        The predictor it serves (the archive's default predictor, as `serve-early-exit` uses).
    log_path : `str`, optional (default = `None`)
        Where its standard error goes; discarded by default.
    startup_timeout : `float`, optional (default = `300`)
        Seconds for its index page to answer.
    """

    def __init__(self, executable: str, archive: str, predictor: str, log_path: Optional[str] = None,
                 startup_timeout: float = 300.0) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.arguments = [executable, "serve", "--archive-path", archive, "--predictor", predictor,
                          "--include-package", "sledgehammer", "--host", "127.0.0.1", "--port", str(self.port)]
        self.log_path = log_path
        self.startup_timeout = startup_timeout
        self.process: Optional[subprocess.Popen] = None

    def __enter__(self) -> "PeerServer":
        environment = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [REPOSITORY,
                                                                                 os.environ.get("PYTHONPATH")])))
        log = open(self.log_path, "wb") if self.log_path else subprocess.DEVNULL
        self.process = subprocess.Popen(self.arguments, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                        env=environment)
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"`{' '.join(self.arguments)}` exited with status {self.process.returncode} "
                                   f"before serving" + (f" (log: {self.log_path})" if self.log_path else ""))
            try:
                if httpx.get(self.url, timeout=5).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"`{' '.join(self.arguments)}` did not serve within {self.startup_timeout:g} s")

    def __exit__(self, *exc_info) -> None:
        self.stop()

    def stop(self) -> Optional[int]:
        """SIGTERM, then SIGKILL after 30 s; its exit status."""
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(30)
        return self.process.returncode


def chosen_variants(names: List[str]) -> List[str]:
    """Every variant for `--variants` alone, else those named (by name or letter; `r` is `--ray-replicas`')."""
    names = [name for name in names if name not in ("r", RAY_VARIANT)]
    if not names:
        return list(VARIANTS)
    by_letter = {letter: name for name, (letter, *_) in VARIANTS.items()}
    unknown = [name for name in names if name not in VARIANTS and name not in by_letter]
    if unknown:
        raise ValueError(f"unknown variant(s) {unknown}; expected letters a-d or names {list(VARIANTS)}")
    return [by_letter.get(name, name) for name in names]


def variant_plan(args: argparse.Namespace) -> List[tuple]:
    """`(name, letter, max batch size, threshold, meaning)` of each server to run, in order."""
    ray = [(RAY_VARIANT, "r", args.max_batch_size, args.threshold, RAY_MEANING)] if args.ray_replicas else []
    if args.variants is None:  # one server with the given options (or Ray Serve's alone)
        return ray or [("given_options", "", args.max_batch_size, args.threshold, "the given options")]
    if args.variants and all(name in ("r", RAY_VARIANT) for name in args.variants):
        return ray
    return [(name, VARIANTS[name][0], args.max_batch_size if VARIANTS[name][1] else 1,
             args.threshold if VARIANTS[name][2] else 1.0, VARIANTS[name][3])
            for name in chosen_variants(args.variants)] + ray


def main(argv: Optional[List[str]] = None) -> Dict[str, Any]:
    args = parse_arguments(argv)
    inputs = read_inputs(args.inputs)
    args.expected = expected_outputs(args.expected, len(inputs))
    report: Dict[str, Any] = {"protocol": {
        "inputs": args.inputs, "num_inputs": len(inputs), "concurrency": args.concurrency,
        "rates": args.rate, "requests_per_run": args.requests, "max_seconds_per_run": args.duration,
        "warmup_requests_per_run": args.warmup_requests, "load_generator_cpu": "own process",
        "cpu_count": os.cpu_count()}, "variants": []}

    def record(variant: Dict[str, Any]) -> None:
        report["variants"].append(variant)
        write_bytes_atomically(args.output, (json.dumps(report, indent=2) + "\n").encode("utf-8"), make_folder=True)

    if args.url:
        print(f"{args.url}:", flush=True)
        record({"name": "given_server", "url": args.url, "threshold": args.threshold,
                "runs": run_levels(args.url, inputs, args, args.threshold)})
        return report
    extra = shlex.split(args.server_args)
    report["protocol"].update(archive=args.archive, max_batch_size=args.max_batch_size, server_args=extra)
    if args.peer_allennlp:
        print(f"p {PEER} ({PEER_MEANING}), threshold 1.0:", flush=True)
        log_path = os.path.join(args.server_logs, f"{PEER}.log") if args.server_logs else None
        with PeerServer(args.peer_allennlp, args.archive, args.peer_predictor, log_path,
                        args.startup_timeout) as peer:
            runs = run_levels(peer.url, inputs, args, 1.0, peer.process.pid)
            status = peer.stop()
        record({"name": PEER, "letter": "p", "meaning": PEER_MEANING, "server_options": peer.arguments[1:],
                "threshold": 1.0, "server_exit_status": status, "runs": runs})
    for name, letter, max_batch_size, threshold, meaning in variant_plan(args):
        options = ["--max-batch-size", str(max_batch_size), *extra]
        subcommand = "serve-early-exit"
        if name == RAY_VARIANT:
            options = ["--replicas", str(args.ray_replicas), "--max-batch-size", str(max_batch_size),
                       *shlex.split(args.ray_server_args)]
            subcommand = "serve-ray"
        print(f"{letter} {name} ({meaning}), threshold {threshold}:", flush=True)
        log_path = os.path.join(args.server_logs, f"{name}.log") if args.server_logs else None
        with ServerProcess(args.archive, options, log_path=log_path, startup_timeout=args.startup_timeout,
                           subcommand=subcommand) as server:
            runs = run_levels(server.url, inputs, args, threshold, server.process.pid)
            status = server.stop()
        record({"name": name, "letter": letter, "meaning": meaning, "server_options": options,
                "threshold": threshold, "server_exit_status": status, "runs": runs})
    return report


def parse_arguments(argv: Optional[List[str]]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument("--url", help="a running server, e.g. http://127.0.0.1:8000")
    target.add_argument("--archive", help="an archive to serve in a child process per variant, on a free port")
    parser.add_argument("--inputs", required=True, help="JSON lines of predictor inputs, cycled")
    parser.add_argument("--output", required=True, help="where to write the JSON report")
    parser.add_argument("--variants", nargs="*", metavar="VARIANT",
                        help="with --archive: run these variants (a b c d, or names; all when none is named)")
    parser.add_argument("--threshold", type=float, help="exit threshold sent with every input (variants c, d)")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 4, 16, 64], metavar="N")
    parser.add_argument("--rate", type=float, nargs="+", metavar="R",
                        help="open loop instead of --concurrency: one run per R, a request every 1/R s")
    parser.add_argument("--expected", nargs="+", default=[], metavar="THRESHOLD=PREDICTIONS.jsonl",
                        help="allennlp predict's output for --inputs at that threshold: every answer is compared")
    parser.add_argument("--requests", type=int, default=500, help="most requests of one run")
    parser.add_argument("--duration", type=float, default=60.0, help="most seconds of one run")
    parser.add_argument("--warmup-requests", type=int, default=16, help="unmeasured requests before each run")
    parser.add_argument("--timeout", type=float, default=60.0, help="client-side seconds per request")
    parser.add_argument("--max-batch-size", type=int, default=32, help="the batched variants' --max-batch-size")
    parser.add_argument("--server-args", default="", help="more serve-early-exit options, one string")
    parser.add_argument("--server-logs", metavar="DIR", help="keep each server's standard error in DIR/VARIANT.log")
    parser.add_argument("--startup-timeout", type=float, default=300.0, help="seconds for a server to be healthy")
    parser.add_argument("--peer-allennlp", metavar="EXECUTABLE",
                        help="with --archive: also run variant p, allennlp-server's `allennlp serve` started with "
                             "this `allennlp` executable (an environment where allennlp-server is installed)")
    parser.add_argument("--ray-replicas", type=int, metavar="N",
                        help="with --archive: also run variant r, `allennlp serve-ray --replicas N` (Ray Serve)")
    parser.add_argument("--ray-server-args", default="",
                        help="more serve-ray options for variant r, one string (e.g. \"--num-threads 1\")")
    parser.add_argument("--peer-predictor", default="sledgehammer_classifier",
                        help="the predictor variant p serves (default = sledgehammer_classifier)")
    args = parser.parse_args(argv)
    if args.server_logs:
        os.makedirs(args.server_logs, exist_ok=True)
    if args.variants is not None and not args.archive:
        parser.error("--variants needs --archive")
    if args.peer_allennlp and not args.archive:
        parser.error("--peer-allennlp needs --archive")
    if args.variants and any(name in ("r", RAY_VARIANT) for name in args.variants) and args.ray_replicas is None:
        parser.error("variant r needs --ray-replicas N")
    if args.ray_replicas is not None:
        if not args.archive:
            parser.error("--ray-replicas needs --archive")
        if args.ray_replicas < 1:
            parser.error("--ray-replicas must be at least 1")
        if args.threshold is None:
            parser.error("variant r (--ray-replicas) needs --threshold")
    if args.variants is not None:
        try:
            early_exit = any(VARIANTS[name][2] for name in chosen_variants(args.variants))
        except ValueError as error:
            parser.error(str(error))
        if early_exit and args.threshold is None:
            parser.error("the early-exit variants (c, d) need --threshold")
    if min(args.concurrency) < 1 or args.requests < 1 or args.duration <= 0:
        parser.error("--concurrency and --requests must be at least 1, --duration above 0")
    if args.rate and min(args.rate) <= 0:
        parser.error("--rate must be above 0 requests per second")
    return args


if __name__ == "__main__":
    main()
