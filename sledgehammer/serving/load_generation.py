"""
The measuring parts of the load generator (`scripts/load_test.py`): clients that drive a server's `POST /predict`
on loopback (a closed loop of concurrent clients, or an open loop at a fixed rate), the latency percentiles,
the server's own histograms read from `/metrics` before and after a run, the CPU seconds of server and clients,
and the check of every answer against what `allennlp predict` wrote. Which servers to start and the report's
layout stay in the script.
"""
import asyncio
import itertools
import json
import math
import os
import time
from collections import Counter
from typing import Any, Dict, List, Optional, Sequence

import aiohttp
import httpx
import psutil
from prometheus_client.parser import text_string_to_metric_families

from sledgehammer.common.output_comparison import compare_outputs, largest_difference

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


class AnswerCheck:
    """
    Compares the server's answers with what `allennlp predict` wrote for the same inputs: `expected[i]` is the
    output line for input `i` (the inputs file's i-th line) at the run's threshold.
    """

    def __init__(self, expected: List[Dict[str, Any]]) -> None:
        self.expected = expected
        self.checked = 0
        self.different = 0
        self.largest_difference = 0.0
        self.examples: List[str] = []

    def check(self, input_index: int, answer: Any) -> None:
        expected = self.expected[input_index]
        differences = compare_outputs(expected, answer)
        self.checked += 1
        self.largest_difference = max(self.largest_difference, largest_difference(expected, answer) or 0.0)
        if differences:
            self.different += 1
            if len(self.examples) < 5:
                self.examples.append(f"input {input_index}: " + "; ".join(differences[:3]))

    def summary(self) -> Dict[str, Any]:
        return {"checked": self.checked, "different": self.different,
                "largest_number_difference": self.largest_difference, "examples": self.examples}


async def drive(url: str, inputs: List[Dict[str, Any]], concurrency: Optional[int], max_requests: int,
                max_seconds: float, threshold: Optional[float], timeout: float, rate: Optional[float] = None,
                check: Optional[AnswerCheck] = None) -> Dict[str, Any]:
    """
    `concurrency` clients POST inputs in turn (a closed loop) until `max_requests` were sent or `max_seconds`
    passed; with `rate` instead, one request starts every `1 / rate` seconds whatever the answers (an open
    loop, as independent users arrive). With `check`, every answered request's body is compared with it.
    """
    numbers = itertools.count()
    latencies: List[float] = []
    statuses: Counter = Counter()
    # aiohttp rather than httpx for the clients: one httpx pool of 64 connections costs several milliseconds of
    # CPU per request, aiohttp's a fraction of one (docs/serving.md#libraries-and-why), and every millisecond the
    # clients take is one the server under test, on the same cores, does not get.
    connector = aiohttp.TCPConnector(limit=concurrency if rate is None else 0)  # an open loop opens what it needs
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=timeout)) as client:
        began = time.monotonic()
        stop_at = began + max_seconds

        async def one_request(number: int) -> str:
            body = dict(inputs[number % len(inputs)])
            if threshold is not None:
                body["threshold"] = threshold
            sent = time.monotonic()
            try:
                async with client.post(f"{url}/predict", json=body) as response:
                    status = str(response.status)
                    content = await response.read()
            except asyncio.TimeoutError:
                status = "client_timeout"
            except aiohttp.ClientError as error:
                status = type(error).__name__
            statuses[status] += 1
            if status == "200":
                latencies.append(time.monotonic() - sent)
                if check is not None:
                    check.check(number % len(inputs), json.loads(content))
            return status

        async def one_client() -> None:
            for number in numbers:
                if number >= max_requests or time.monotonic() >= stop_at:
                    return
                if await one_request(number) == "503":
                    await asyncio.sleep(RETRY_PAUSE_SECONDS)

        async def arrivals() -> None:
            started = []
            for number in range(max_requests):
                due = began + number / rate
                if due >= stop_at:
                    break
                await asyncio.sleep(max(0.0, due - time.monotonic()))
                started.append(asyncio.ensure_future(one_request(number)))
            await asyncio.gather(*started)

        if rate is None:
            await asyncio.gather(*(one_client() for _ in range(concurrency)))
        else:
            await arrivals()
        seconds = time.monotonic() - began
    answered = statuses.get("200", 0)
    return {
        "concurrency": concurrency,
        "rate": rate,
        "requests": sum(statuses.values()),
        "seconds": seconds,
        "requests_per_second": answered / seconds if seconds > 0 else None,
        "latency_ms": {name: (None if value is None else 1000 * value) for name, value in (
            ("p50", percentile(latencies, 50)), ("p95", percentile(latencies, 95)),
            ("p99", percentile(latencies, 99)), ("mean", sum(latencies) / len(latencies) if latencies else None))},
        "statuses": dict(sorted(statuses.items())),
        "errors": {status: count for status, count in sorted(statuses.items()) if status != "200"},
    }


def cpu_seconds(process: Optional[psutil.Process], descendants: bool = True) -> Optional[float]:
    """
    User plus system CPU seconds so far of a process, all its threads, and with `descendants` of its running
    descendants too (Ray's processes for `serve-ray`; `serve-early-exit` has none); `None` without a process, or
    once it is gone. The load generator counts itself alone: the servers it starts are its children.
    """
    if process is None:
        return None
    try:
        family = [process] + (process.children(recursive=True) if descendants else [])
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
