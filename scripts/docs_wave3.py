"""
What the results pages of the ways to run a model (serving, CPU inference) compute from their recorded JSON:
`scripts/render_docs.py` hands every public function here to its templates. One module so that the serving and CPU
pages read load tests, trade-off timings, ONNX Runtime and profile reports the same way.
"""
from typing import Any, Dict, List, Optional

Report = Dict[str, Any]


def table_line(cells: List[str]) -> str:
    """One row of a markdown table."""
    return "| " + " | ".join(cells) + " |"


def met_word(ok: bool) -> str:
    """A target's verdict as the results pages write it."""
    return "**met**" if ok else "**not met**"


_line, _met = table_line, met_word


def _x(value: float) -> str:
    return f"{value:.2f}×"


def _g(value: float) -> str:
    return f"{value:g}"


# --- load tests (scripts/load_test.py) ---------------------------------------------------------------------------


def serving_runs(report: Report) -> Dict[str, Dict[Any, Dict[str, Any]]]:
    """A load test's runs by variant letter and number of clients (or offered rate, for an open loop)."""
    return {variant["letter"]: {run["concurrency"] if run.get("rate") is None else run["rate"]: run
                                for run in variant["runs"]} for variant in report["variants"]}


def _errors(run: Dict[str, Any]) -> str:
    return ", ".join(f"{status}: {count}" for status, count in sorted(run["errors"].items())) or "none"


def _answers(run: Dict[str, Any]) -> str:
    answers = run.get("answers")
    if answers is None:
        return "not checked"
    return f"{answers['different']} of {answers['checked']} differ"


def client_cores(report: Report, run: Dict[str, Any]) -> float:
    """
    The cores the load generator itself used in a run. Reports recorded before `load_test.py` counted its own
    process alone (`protocol["load_generator_cpu"]`) counted its child server in too: the server's share is
    taken out of those.
    """
    cpu = run["cpu"]
    if report["protocol"].get("load_generator_cpu") == "own process" or cpu["server_cores"] is None:
        return cpu["load_generator_cores"]
    return cpu["load_generator_cores"] - cpu["server_cores"]


def _cores(report: Report, run: Dict[str, Any]) -> str:
    cpu = run.get("cpu")
    if cpu is None:
        return "n/a"
    server = "?" if cpu["server_cores"] is None else f"{cpu['server_cores']:.2f}"
    return f"{server} / {client_cores(report, run):.2f}"


def serving_table(report: Report) -> str:
    """
    Requests/s, p50 and p99 latency, mean batch size, the cores the server and the load generator used, errors and
    the answers' check of every variant at every number of clients (a server without `/metrics`, allennlp-server,
    has no batch size).
    """
    lines = [_line(["variant", "clients", "requests/s", "p50", "p99", "mean batch", "cores: server / clients",
                    "errors", "answers vs `allennlp predict`"]),
             "|---|---:|---:|---:|---:|---:|---:|---|---|"]
    for variant in report["variants"]:
        for run in variant["runs"]:
            load = str(run["concurrency"]) if run.get("rate") is None else f"{_g(run['rate'])} req/s offered"
            lines.append(_line([
                f"({variant['letter']}) {variant['meaning']}, threshold {_g(variant['threshold'])}", load,
                f"{run['requests_per_second']:.1f}", f"{run['latency_ms']['p50']:.1f} ms",
                f"{run['latency_ms']['p99']:.1f} ms",
                "n/a" if run["server"] is None else f"{run['server']['mean_batch_size']:.1f}", _cores(report, run),
                _errors(run), _answers(run),
            ]))
    return "\n".join(lines)


def throughput_ratio(report: Report, top: str, bottom: str, clients: int) -> float:
    """Requests/s of variant `top` over variant `bottom` at `clients` clients."""
    runs = serving_runs(report)
    return runs[top][clients]["requests_per_second"] / runs[bottom][clients]["requests_per_second"]


def peak_throughput(report: Report, letter: str) -> float:
    """The most requests/s variant `letter` answered at any number of clients."""
    return max(run["requests_per_second"] for run in serving_runs(report)[letter].values())


def answers_differing(*reports: Report) -> int:
    """How many checked answers of every run of these load tests differed from `allennlp predict`'s."""
    return sum(run.get("answers", {}).get("different", 0) for report in reports
               for variant in report["variants"] for run in variant["runs"])


def answers_checked(*reports: Report) -> int:
    """How many answers of every run of these load tests were checked against `allennlp predict`'s."""
    return sum(run.get("answers", {}).get("checked", 0) for report in reports
               for variant in report["variants"] for run in variant["runs"])


def lost_or_failed(report: Report) -> Dict[str, int]:
    """Every status of a load test's runs other than 200 and an explicit 503, added up."""
    found: Dict[str, int] = {}
    for variant in report["variants"]:
        for run in variant["runs"]:
            for status, count in run["statuses"].items():
                if status not in ("200", "503"):
                    found[status] = found.get(status, 0) + count
    return found


def saturation_sentence(report: Report) -> str:
    """What an open-loop run above the saturating load gave: answered, refused with 503, anything else."""
    (variant,) = report["variants"]
    (run,) = variant["runs"]
    statuses = run["statuses"]
    others = lost_or_failed(report)
    return (f"{run['requests']} requests offered at {_g(run['rate'])} per second over {run['seconds']:.1f} s: "
            f"{statuses.get('200', 0)} answered ({run['requests_per_second']:.1f}/s, p50 "
            f"{run['latency_ms']['p50']:.0f} ms, p99 {run['latency_ms']['p99']:.0f} ms), {statuses.get('503', 0)} "
            f"refused at once with 503, " + ("nothing else" if not others else
                                            "and " + ", ".join(f"{count} × {status}" for status, count in
                                                               sorted(others.items()))))


def model_ms(timing: Report, name: str, batch: str = "b1") -> float:
    """Milliseconds per row of trade-off row `name` (e.g. `agreement:threshold=0.9`, `full`) at batch 1 or N."""
    return 1000 * timing_row(timing, name)[f"seconds_per_instance_{batch}"]


def serving_targets(report: Report, saturation: Report, timing: Report, threshold: float, target_a: float) -> str:
    """The serving issue's targets for one model, as table lines (target, measured, met)."""
    runs = serving_runs(report)
    c_a, c_b = throughput_ratio(report, "c", "a", 64), throughput_ratio(report, "c", "b", 64)
    p50 = runs["c"][1]["latency_ms"]["p50"]
    own = model_ms(timing, f"agreement:threshold={_g(threshold)}")
    others = lost_or_failed(saturation)
    differing = answers_differing(report, saturation)
    lines = [
        _line([f"at 64 clients, (c) ≥ {_g(target_a)}× the requests/s of (a)",
               f"{_x(c_a)} (at 16 clients {_x(throughput_ratio(report, 'c', 'a', 16))})", _met(c_a >= target_a)]),
        _line(["at 64 clients, (c) ≥ 2× the requests/s of (b)",
               f"{_x(c_b)} (at 16 clients {_x(throughput_ratio(report, 'c', 'b', 16))})", _met(c_b >= 2.0)]),
        _line(["at 1 client, (c)'s p50 within 2 ms of the model's own batch-1 time at that threshold",
               f"{p50:.1f} ms against {own:.1f} ms (+{p50 - own:.1f} ms)", _met(p50 - own <= 2.0)]),
        _line(["under 2× the saturating load, nothing lost or failed but explicit 503s",
               "none" if not others else ", ".join(f"{status}: {count}" for status, count in sorted(others.items())),
               _met(not others)]),
        _line(["every answer equal to `allennlp predict`'s", f"{differing} of "
               f"{answers_checked(report, saturation)} answers differ", _met(differing == 0)]),
    ]
    return "\n".join(lines)


# --- CPU inference (tradeoff --precisions, benchmark_onnx.py, profile_predict.py) -----------------------------------


def timing_row(timing: Report, name: str) -> Dict[str, Any]:
    """One row of a timed trade-off by name (`int8:agreement:threshold=0.9`, `int8:full`, `full`, ...)."""
    (found,) = [row for row in timing["rows"] if row["name"] == name]
    return found


def picked(tradeoff: Report, policy: str) -> Optional[float]:
    """The threshold `tradeoff --max-accuracy-drop` picked for `policy` (`agreement`, `int8:agreement`)."""
    return tradeoff["meta"]["policies"][policy]["pick"]["threshold"]


def onnx_table(onnx: Report) -> str:
    """Accuracy and seconds per row of every variant of one `benchmark_onnx.py` run, speedups over PyTorch fp32's full
    model, at batch 1 and the run's batch size."""
    size = onnx["batch_sizes"]["bN"]
    lines = [_line(["variant", "accuracy", "ms/row, batch 1", "speedup", f"ms/row, batch {size}", "speedup"]),
             "|---|---:|---:|---:|---:|---:|"]
    for name, variant in onnx["variants"].items():
        one, many = variant["b1"], variant["bN"]
        lines.append(_line([f"`{name}`", f"{100 * one['accuracy']:.2f} %", f"{1000 * one['seconds_per_row']:.2f}",
                            _x(one["speedup"]), f"{1000 * many['seconds_per_row']:.2f}", _x(many["speedup"])]))
    return "\n".join(lines)


def profile_result(profile: Report, precision: str, threshold: float, batch_size: int) -> Dict[str, Any]:
    """One variant and batch size of a `profile_predict.py` run."""
    (found,) = [result for result in profile["results"] if result["precision"] == precision
                and result["threshold"] == threshold and result["batch_size"] == batch_size]
    return found


def end_to_end(profile: Report, precision: str, threshold: float, batch_size: int) -> Dict[str, float]:
    """
    `allennlp predict`'s whole loop against the model call alone, for one variant and batch size, each as a speedup
    over the fp32 full model (threshold 1.0) at the same batch size, and their ratio (the share of the model's
    speedup that the prediction path keeps).
    """
    reference = profile_result(profile, "fp32", 1.0, batch_size)
    found = profile_result(profile, precision, threshold, batch_size)
    whole = reference["total_seconds_per_row"] / found["total_seconds_per_row"]
    model = reference["seconds_per_row"]["model"] / found["seconds_per_row"]["model"]
    return {"end_to_end": whole, "model": model, "kept": whole / model,
            "total_ms": 1000 * found["total_seconds_per_row"], "model_ms": 1000 * found["seconds_per_row"]["model"]}


def end_to_end_table(profile: Report) -> str:
    """Per variant and batch size: ms per row of the whole loop and of the model, both speedups, the share kept."""
    lines = [_line(["precision", "threshold", "batch", "whole loop ms/row", "model ms/row", "end-to-end speedup",
                    "model-only speedup", "share kept"]), "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for result in profile["results"]:
        found = end_to_end(profile, result["precision"], result["threshold"], result["batch_size"])
        lines.append(_line([result["precision"], _g(result["threshold"]), str(result["batch_size"]),
                            f"{found['total_ms']:.2f}", f"{found['model_ms']:.2f}", _x(found["end_to_end"]),
                            _x(found["model"]), f"{100 * found['kept']:.0f} %"]))
    return "\n".join(lines)


def cpu_targets(pick: Report, timing: Report, onnx: Report, profile: Report, threshold: float,
                int8_threshold: float) -> str:
    """
    The CPU issue's targets for one model, as table lines (target, measured, met): accuracy from the trade-off
    over all held-out rows (`pick`), speed from the timed one.
    """
    name = f"int8:agreement:threshold={_g(int8_threshold)}"
    full, int8 = timing_row(pick, "full"), timing_row(pick, name)
    speedup = timing_row(timing, name)["speedup_b1"]
    drop = 100 * (full["accuracy"] - int8["accuracy"])
    lines = [_line(["int8 + early exit ≥ 4× at batch 1, within one point of the fp32 full model",
                    f"{_x(speedup)} at threshold {_g(int8_threshold)}, {100 * int8['accuracy']:.2f} % "
                    f"against {100 * full['accuracy']:.2f} %", _met(speedup >= 4.0 and drop <= 1.0)])]
    for precision, value in (("fp32", threshold), ("int8", int8_threshold)):
        for size in sorted({result["batch_size"] for result in profile["results"]}):
            found = end_to_end(profile, precision, value, size)
            lines.append(_line([f"end-to-end speedup ≥ 85 % of the model-only one ({precision}, threshold "
                                f"{_g(value)}, batch {size})",
                                f"{_x(found['end_to_end'])} against {_x(found['model'])}: "
                                f"{100 * found['kept']:.0f} %", _met(found["kept"] >= 0.85)]))
    variants = onnx["variants"]
    best_early_exit = max((name for name in variants if "early_exit" in name),
                          key=lambda name: variants[name]["b1"]["speedup"])
    ort = variants["ort_int8_full"]
    mine = variants[best_early_exit]
    for batch in ("b1", "bN"):
        label = "batch 1" if batch == "b1" else f"batch {onnx['batch_sizes']['bN']}"
        lines.append(_line([f"best early-exit variant at least as fast as ONNX Runtime int8's full model ({label})",
                            f"`{best_early_exit}` {_x(mine[batch]['speedup'])} ({100 * mine[batch]['accuracy']:.2f} %)"
                            f" against {_x(ort[batch]['speedup'])} ({100 * ort[batch]['accuracy']:.2f} %)",
                            _met(mine[batch]["speedup"] >= ort[batch]["speedup"])]))
    return "\n".join(lines)


# What render_docs.py's templates may call.
HELPERS = {name: value for name, value in dict(globals()).items()
           if callable(value) and not name.startswith("_") and getattr(value, "__module__", None) == __name__}
