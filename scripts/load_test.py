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
import itertools
import json
import math
import os
import shlex
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from typing import Any, Dict, List, Optional, Sequence

import httpx
import psutil
from prometheus_client.parser import text_string_to_metric_families

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from sledgehammer.common.atomic_files import write_bytes_atomically  # noqa: E402
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
SERVER_HISTOGRAMS = ("sledgehammer_batch_size", "sledgehammer_batch_fill", "sledgehammer_queue_wait_seconds",
                     "sledgehammer_batch_seconds")
RETRY_PAUSE_SECONDS = 0.05  # after a 503, so that a full server is not hammered


def read_inputs(path: str) -> List[Dict[str, Any]]:
    """The JSON objects of a JSON-lines file (blank lines skipped); an error naming the line otherwise."""
    inputs = []
    with open(path, encoding="utf-8-sig") as f:
        for number, line in enumerate(f, start=1):
            if line.strip():
                record = json.loads(line)
                if not isinstance(record, dict):
                    raise ValueError(f"{path}, line {number}: expected a JSON object, found {type(record).__name__}")
                inputs.append(record)
    if not inputs:
        raise ValueError(f"{path} has no inputs")
    return inputs


def percentile(values: Sequence[float], share: float) -> Optional[float]:
    """The nearest-rank percentile (`share` in (0, 100]) of `values`; `None` without values."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share / 100 * len(ordered)) - 1)]


def scrape(url: str) -> Dict[str, float]:
    """The server's `/metrics` samples as `{'name{label=value}': value}`; none from a server without `/metrics`."""
    response = httpx.get(f"{url}/metrics", timeout=30)
    if response.status_code != 200 or not response.headers.get("content-type", "").startswith("text/plain"):
        return {}
    text = response.text
    samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = ",".join(f"{key}={value}" for key, value in sorted(sample.labels.items()))
            samples[f"{sample.name}{{{labels}}}" if labels else sample.name] = sample.value
    return samples


def server_summary(before: Dict[str, float], after: Dict[str, float]) -> Optional[Dict[str, Any]]:
    """What the server did during a run: its histograms' and counters' growth (`None` without `/metrics`)."""
    if not after:
        return None
    grown = {name: after[name] - before.get(name, 0.0) for name in after}
    summary: Dict[str, Any] = {"batches": grown.get("sledgehammer_batch_size_count", 0.0),
                               "rows": grown.get("sledgehammer_rows_total", 0.0)}
    for histogram in SERVER_HISTOGRAMS:
        count = grown.get(f"{histogram}_count", 0.0)
        summary[f"mean_{histogram[len('sledgehammer_'):]}"] = grown[f"{histogram}_sum"] / count if count else None
    buckets = sorted(((float(name.split("le=")[1].rstrip("}")), value) for name, value in grown.items()
                      if name.startswith("sledgehammer_batch_size_bucket")), key=lambda item: item[0])
    summary["batch_size_histogram"] = {f"<={bound:g}": value - previous for (bound, value), (_, previous)
                                       in zip(buckets, [(0.0, 0.0)] + buckets[:-1]) if value - previous}
    summary["exit_layers"] = {name.split("layer=")[1].rstrip("}"): value for name, value in grown.items()
                              if name.startswith("sledgehammer_exit_layer_total") and value}
    return summary


async def drive(url: str, inputs: List[Dict[str, Any]], concurrency: int, max_requests: int, max_seconds: float,
                threshold: Optional[float], timeout: float) -> Dict[str, Any]:
    """`concurrency` clients POST inputs in turn until `max_requests` were sent or `max_seconds` passed."""
    numbers = itertools.count()
    latencies: List[float] = []
    statuses: Counter = Counter()
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(timeout=timeout, limits=limits) as client:
        began = time.monotonic()
        stop_at = began + max_seconds

        async def one_client() -> None:
            for number in numbers:
                if number >= max_requests or time.monotonic() >= stop_at:
                    return
                body = dict(inputs[number % len(inputs)])
                if threshold is not None:
                    body["threshold"] = threshold
                sent = time.monotonic()
                try:
                    status = str((await client.post(f"{url}/predict", json=body)).status_code)
                except httpx.TimeoutException:
                    status = "client_timeout"
                except httpx.TransportError as error:
                    status = type(error).__name__
                statuses[status] += 1
                if status == "200":
                    latencies.append(time.monotonic() - sent)
                elif status == "503":
                    await asyncio.sleep(RETRY_PAUSE_SECONDS)

        await asyncio.gather(*(one_client() for _ in range(concurrency)))
        seconds = time.monotonic() - began
    answered = statuses.get("200", 0)
    return {
        "concurrency": concurrency,
        "requests": sum(statuses.values()),
        "seconds": seconds,
        "requests_per_second": answered / seconds if seconds > 0 else None,
        "latency_ms": {name: (None if value is None else 1000 * value) for name, value in (
            ("p50", percentile(latencies, 50)), ("p95", percentile(latencies, 95)),
            ("p99", percentile(latencies, 99)), ("mean", sum(latencies) / len(latencies) if latencies else None))},
        "statuses": dict(sorted(statuses.items())),
        "errors": {status: count for status, count in sorted(statuses.items()) if status != "200"},
    }


def cpu_seconds(process: Optional[psutil.Process]) -> Optional[float]:
    """
    User plus system CPU seconds so far of a process, all its threads, and of its running descendants (Ray's
    processes for `serve-ray`; `serve-early-exit` has none); `None` without a process, or once it is gone.
    """
    if process is None:
        return None
    try:
        family = [process] + process.children(recursive=True)
    except psutil.Error:
        return None
    total = 0.0
    for member in family:
        try:
            times = member.cpu_times()
        except psutil.Error:
            if member is process:
                return None
            continue
        total += times.user + times.system
    return total


def cpu_summary(server: Optional[float], client: float, seconds: float) -> Dict[str, Any]:
    """Who used the machine's cores during a run: CPU seconds of the server and of this load generator."""
    cores = os.cpu_count() or 1
    return {"server_seconds": server, "load_generator_seconds": client, "cores": cores,
            "server_cores": None if server is None else server / seconds,
            "load_generator_cores": client / seconds,
            "busy_share": None if server is None else (server + client) / (seconds * cores)}


def run_levels(url: str, inputs: List[Dict[str, Any]], args: argparse.Namespace,
               threshold: Optional[float], server_pid: Optional[int] = None) -> List[Dict[str, Any]]:
    """
    One measured run per concurrency level, each after `--warmup-requests` unmeasured ones; with
    `server_pid`, each run also says how many of the machine's cores the server and the clients used.
    """
    runs = []
    server_process = psutil.Process(server_pid) if server_pid is not None else None
    client_process = psutil.Process()
    for concurrency in args.concurrency:
        if args.warmup_requests:
            asyncio.run(drive(url, inputs, concurrency, args.warmup_requests, args.duration, threshold, args.timeout))
        before = scrape(url)
        server_before, client_before = cpu_seconds(server_process), cpu_seconds(client_process)
        run = asyncio.run(drive(url, inputs, concurrency, args.requests, args.duration, threshold, args.timeout))
        server_after, client_after = cpu_seconds(server_process), cpu_seconds(client_process)
        run["cpu"] = cpu_summary(None if server_before is None or server_after is None else server_after - server_before,
                                 client_after - client_before, run["seconds"])
        run["server"] = server_summary(before, scrape(url))
        runs.append(run)
        latency = run["latency_ms"]
        batch = (run["server"] or {}).get("mean_batch_size") or 0
        print(f"  {concurrency:>3} clients: {run['requests_per_second'] or 0:8.1f} req/s  p50 "
              f"{latency['p50'] or 0:7.1f} ms  p99 {latency['p99'] or 0:7.1f} ms  mean batch "
              f"{batch:5.1f}  cores server/clients {run['cpu']['server_cores'] or 0:.2f}/"
              f"{run['cpu']['load_generator_cores']:.2f}  errors {run['errors']}", flush=True)
    return runs


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
    report: Dict[str, Any] = {"protocol": {
        "inputs": args.inputs, "num_inputs": len(inputs), "concurrency": args.concurrency,
        "requests_per_run": args.requests, "max_seconds_per_run": args.duration,
        "warmup_requests_per_run": args.warmup_requests, "cpu_count": os.cpu_count()}, "variants": []}

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
    return args


if __name__ == "__main__":
    main()
