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


def client_cpu_ms(report: Report, letter: str, clients: int) -> float:
    """Milliseconds of CPU the load generator itself spent per request in one run."""
    run = serving_runs(report)[letter][clients]
    return 1000 * client_cores(report, run) * run["seconds"] / run["requests"]


def batch_ms(report: Report, letter: str, clients: int) -> float:
    """The server's mean time per batch (the forward pass on the inference thread, predictor work included), ms."""
    return 1000 * serving_runs(report)[letter][clients]["server"]["mean_batch_seconds"]


def no_wait_rows(model: str, waiting: Report, no_wait: Report) -> str:
    """Table lines: variant (c) with its `--max-wait-ms` wait and without (`no_wait`), at each number of clients."""
    with_wait, without = serving_runs(waiting)["c"], serving_runs(no_wait)["c"]
    lines = []
    for clients in sorted(without):
        one, other = with_wait[clients], without[clients]
        lines.append(_line([model, str(clients), f"{one['requests_per_second']:.1f}",
                            f"{other['requests_per_second']:.1f}", f"{one['latency_ms']['p50']:.1f} ms",
                            f"{other['latency_ms']['p50']:.1f} ms", f"{other['server']['mean_batch_size']:.1f}"]))
    return "\n".join(lines)


def before_after_rows(before: Report, after: Report) -> str:
    """Table lines per variant of two load tests: the server's batch time at 1 client and requests/s at 64."""
    old, new = serving_runs(before), serving_runs(after)
    lines = []
    for variant in after["variants"]:
        letter = variant["letter"]
        if letter not in old or new[letter][1]["server"] is None:
            continue
        lines.append(_line([f"({letter}) {variant['meaning']}", f"{batch_ms(before, letter, 1):.1f} ms",
                            f"{batch_ms(after, letter, 1):.1f} ms",
                            f"{old[letter][64]['requests_per_second']:.1f}",
                            f"{new[letter][64]['requests_per_second']:.1f}"]))
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


def serving_targets(report: Report, saturation: Report, timing: Report, threshold: float, target_a: float,
                    no_wait: Optional[Report] = None) -> str:
    """
    The serving issue's targets for one model, as table lines (target, measured, met); with `no_wait`, the
    one-client latency of (c) with `--max-wait-ms 0` too.
    """
    runs = serving_runs(report)
    c_a, c_b = throughput_ratio(report, "c", "a", 64), throughput_ratio(report, "c", "b", 64)
    p50 = runs["c"][1]["latency_ms"]["p50"]
    own = model_ms(timing, f"agreement:threshold={_g(threshold)}")
    without_wait = []
    if no_wait is not None:
        fast = serving_runs(no_wait)["c"][1]["latency_ms"]["p50"]
        without_wait = [_line(["the same with `--max-wait-ms 0`", f"{fast:.1f} ms against {own:.1f} ms "
                                                                  f"(+{fast - own:.1f} ms)", _met(fast - own <= 2.0)])]
    others = lost_or_failed(saturation)
    differing = answers_differing(report, saturation)
    lines = [
        _line([f"at 64 clients, (c) ≥ {_g(target_a)}× the requests/s of (a)",
               f"{_x(c_a)} (at 16 clients {_x(throughput_ratio(report, 'c', 'a', 16))})", _met(c_a >= target_a)]),
        _line(["at 64 clients, (c) ≥ 2× the requests/s of (b)",
               f"{_x(c_b)} (at 16 clients {_x(throughput_ratio(report, 'c', 'b', 16))})", _met(c_b >= 2.0)]),
        _line(["at 1 client, (c)'s p50 within 2 ms of the model's own batch-1 time at that threshold",
               f"{p50:.1f} ms against {own:.1f} ms (+{p50 - own:.1f} ms)", _met(p50 - own <= 2.0)]),
        *without_wait,
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


def cpu_speed_rows(model: str, pick: Report, timing: Report) -> str:
    """
    Table lines of one model's fp32 and int8 variants, full and at their picked thresholds: accuracy and FLOPs from
    the trade-off over every held-out row (`pick`), batch-1 and batch-N speedups over the fp32 full model from the
    timed one (`timing`, the full model's own ms per row in brackets).
    """
    t, t8 = picked(pick, "agreement"), picked(pick, "int8:agreement")
    variants = [("fp32 full", "full"), ("int8 full", "int8:full"),
                (f"fp32 early exit {_g(t)}", f"agreement:threshold={_g(t)}"),
                (f"int8 early exit {_g(t8)}", f"int8:agreement:threshold={_g(t8)}")]
    lines = []
    for label, name in variants:
        whole, timed = timing_row(pick, name), timing_row(timing, name)
        if name == "full":
            speeds = [f"1.00× ({model_ms(timing, name, batch):.1f} ms)" for batch in ("b1", "bN")]
        else:
            speeds = [_x(timed[f"speedup_{batch}"]) for batch in ("b1", "bN")]
        flops = "–" if name.endswith("full") else _x(1.0 / whole["relative_flops"])
        lines.append(_line([model, label, f"{100 * whole['accuracy']:.2f} %", flops, *speeds]))
    return "\n".join(lines)


def int8_scheme_rows(model: str, onnx: Report) -> str:
    """Table lines of one `benchmark_onnx.py` run: ONNX Runtime's int8 full model per channel and per matrix."""
    lines = []
    for name, label in (("ort_int8_full", "one scale per output channel"),
                        ("ort_int8_per_tensor_full", "one scale per weight matrix (its default)")):
        variant = onnx["variants"][name]
        lines.append(_line([model, label, f"{100 * variant['b1']['accuracy']:.2f} %",
                            f"{1000 * variant['b1']['seconds_per_row']:.2f}",
                            f"{1000 * variant['bN']['seconds_per_row']:.2f}"]))
    return "\n".join(lines)


def mkl_before_after_rows(model: str, before: Report, after: Report) -> str:
    """
    Table lines of two `benchmark_onnx.py` runs, before and after MKL's fast kernels were selected on AMD
    processors: ms per row of PyTorch's fp32 and int8 full models and ONNX Runtime's fp32 one, at batch 1 and N.
    """
    lines = []
    for name in ("pytorch_fp32_full", "pytorch_fp32_early_exit", "pytorch_int8_full", "ort_fp32_full"):
        old, new = before["variants"][name], after["variants"][name]
        lines.append(_line([model, f"`{name}`", *(f"{1000 * run[batch]['seconds_per_row']:.2f}"
                                                   for batch in ("b1", "bN") for run in (old, new))]))
    return "\n".join(lines)


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
    for batch in ("b1", "bN"):
        label = "batch 1" if batch == "b1" else f"batch {onnx['batch_sizes']['bN']}"
        mine, peer = onnx_peers(onnx, batch)
        ours, theirs = onnx["variants"][mine][batch], onnx["variants"][peer][batch]
        lines.append(_line([f"best early-exit variant at least as fast as ONNX Runtime int8's full model, both within "
                            f"one point of the fp32 full model ({label})",
                            f"`{mine}` {_x(ours['speedup'])} ({100 * ours['accuracy']:.2f} %) against `{peer}` "
                            f"{_x(theirs['speedup'])} ({100 * theirs['accuracy']:.2f} %)",
                            _met(ours["speedup"] >= theirs["speedup"])]))
    return "\n".join(lines)


def cpu_limits(model: str, profile: Report, timing: Report, onnx: Report, threshold: float,
               int8_threshold: float) -> str:
    """
    One model's misses of the CPU targets, each as a bullet with what the same runs measured about it (or a line
    saying every target was met).
    """
    bullets = []
    name = f"int8:agreement:threshold={_g(int8_threshold)}"
    timed = timing_row(timing, name)
    if timed["speedup_b1"] < 4.0:
        in_onnx = onnx["variants"]["pytorch_int8_early_exit"]["b1"]["speedup"]
        early, plain = end_to_end(profile, "int8", int8_threshold, 1), end_to_end(profile, "int8", 1.0, 1)
        scaled = plain["model_ms"] * timed["relative_flops"]
        int8_alone = timing_row(timing, "int8:full")["speedup_b1"]
        bullets.append(
            f"- **{model}, int8 + early exit at batch 1: {_x(timed['speedup_b1'])} in the timed trade-off.** The same "
            f"variant, timed in the two other runs of the session, measured {_x(in_onnx)} (`benchmark_onnx.py`) and "
            f"{_x(early['model'])} (the model call in `profile_predict.py`). Two things keep it down. int8 alone "
            f"gives only {_x(int8_alone)} at batch 1 over the fp32 model running MKL's fast kernels (dynamic "
            f"quantization converts every layer's input to int8 and back, a cost that does not shrink with the short "
            f"rows of batch 1). And early exit gains less on top of int8 than its FLOPs promise. In the profile the "
            f"int8 model call takes {early['model_ms']:.2f} ms a row at threshold "
            f"{_g(int8_threshold)} against {plain['model_ms']:.2f} ms at 1.0; falling with its FLOPs "
            f"({_x(1 / timed['relative_flops'])} fewer) it would take {scaled:.2f} ms. The other "
            f"{early['model_ms'] - scaled:.2f} ms are the exit loop's own work between layers (every passed exit's "
            f"head, the agreement policy's features and decision, the rows leaving the batch), which int8 does not "
            f"make cheaper and which weighs more the cheaper the layers get.")
    for precision, value in (("fp32", threshold), ("int8", int8_threshold)):
        for size in sorted({result["batch_size"] for result in profile["results"]}):
            found = end_to_end(profile, precision, value, size)
            if found["kept"] >= 0.85:
                continue
            stages = profile_result(profile, precision, value, size)["seconds_per_row"]
            fixed = found["total_ms"] - found["model_ms"]
            bullets.append(
                f"- **{model}, {precision} at threshold {_g(value)}, batch {size}: the prediction path keeps "
                f"{100 * found['kept']:.0f} % of the model's speedup.** The model call takes {found['model_ms']:.2f} ms "
                f"a row and the rest of `allennlp predict`'s loop {fixed:.2f} ms (of which tokenising and building the "
                f"instance {1000 * stages['instances']:.2f} ms, AllenNLP's conversion of the outputs "
                f"{1000 * stages['conversion']:.2f} ms), the same for every variant: the faster the model call, the "
                f"more those fixed costs weigh.")
    for batch in ("b1", "bN"):
        mine, peer = onnx_peers(onnx, batch)
        ours, theirs = onnx["variants"][mine][batch], onnx["variants"][peer][batch]
        if ours["speedup"] < theirs["speedup"]:
            bullets.append(
                f"- **{model}, batch {1 if batch == 'b1' else onnx['batch_sizes']['bN']}: ONNX Runtime's int8 full "
                f"model is faster** ({_x(theirs['speedup'])} against `{mine}`'s {_x(ours['speedup'])}).")
    return "\n".join(bullets) if bullets else f"- **{model}**: every target met."


def onnx_peers(onnx: Report, batch: str) -> List[str]:
    """
    At one batch size of a `benchmark_onnx.py` run: the fastest early-exit variant and the fastest ONNX Runtime int8
    full model (per channel or per matrix), each among the variants within one point of PyTorch's fp32 full model
    there (when none of a kind is, the fastest of that kind).
    """
    variants = onnx["variants"]
    floor = variants["pytorch_fp32_full"][batch]["accuracy"] - 0.01

    def fastest(names: List[str]) -> str:
        within = [name for name in names if variants[name][batch]["accuracy"] >= floor - 1e-12] or names
        return max(within, key=lambda name: variants[name][batch]["speedup"])

    return [fastest([name for name in variants if "early_exit" in name]),
            fastest([name for name in variants if name.startswith("ort_int8") and name.endswith("_full")])]


# What render_docs.py's templates may call.
HELPERS = {name: value for name, value in dict(globals()).items()
           if callable(value) and not name.startswith("_") and getattr(value, "__module__", None) == __name__}
