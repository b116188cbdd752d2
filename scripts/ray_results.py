#!/usr/bin/env python
"""
The Ray results page's sections (`docs/templates/results/ray.md`, rendered by `scripts/render_docs.py`), from the
JSON of `scripts/benchmark_ray.py` and of `scripts/load_test.py --variants c r`: the corpus job against
`allennlp predict`, Ray Serve's replicas against the single-process server, and what a cluster would do at the
measured rate. A report that has not been recorded yet gives a section that says so and how to record it; no
figure is typed by hand.
"""
from typing import Any, Callable, Dict, Optional

from docs_wave3 import met_word as _met, table_line as _line

# The targets.
ONE_ACTOR_TARGET = 0.9  # 1 actor x 2 threads within 10 % of allennlp predict in one process
TWO_ACTORS_TARGET = 0.9  # 2 actors x 1 thread >= 0.9 x 1 actor x 2 threads
SERVE_TARGET = 0.8  # Ray Serve, 2 replicas, at 64 clients within 20 % of the single-process server
SERVE_CLIENTS = 64
NOT_MEASURED = "_Not measured yet._ The JSON this section is made from is recorded by:"


def _missing(command: str) -> str:
    return f"{NOT_MEASURED}\n\n```\n{command}\n```"


def corpus_section(report: Optional[Dict[str, Any]], command: str) -> str:
    """Rows/s of every variant (best of its repeats), the outputs' identity, and the two corpus targets."""
    if report is None:
        return _missing(command)
    summary = report["summary"]
    best = summary["best_rows_per_second"]
    single = best["allennlp_predict"]
    lines = [_line(["variant", "rows", "best rows/s", "against allennlp predict", "rows identical to allennlp predict's",
                    "same answer and exit"]), "|---|---:|---:|---:|---:|---:|"]
    for name in report["protocol"]["variants"]:
        runs = [run for run in report["runs"] if run["variant"] == name]
        comparisons = [run["comparison"] for run in runs if "comparison" in run]
        identical = f"{min(c['identical_rows'] for c in comparisons)} of {comparisons[0]['reference_rows']}" \
            if comparisons else "(the reference)"
        same = f"{min(c['same_answers'] for c in comparisons)}" if comparisons else ""
        lines.append(_line([name, str(runs[0]["rows"]), f"{best[name]:.1f}", f"{best[name] / single:.2f}×",
                            identical, same]))
    targets = ["", _line(["target", "measured", ""]), "|---|---:|---|"]
    if "one_actor_vs_single_process" in summary:
        value = summary["one_actor_vs_single_process"]
        targets.append(_line(["1 actor × 2 threads within 10 % of one process", f"{value:.2f}×",
                              _met(value >= ONE_ACTOR_TARGET)]))
    if "two_actors_vs_one" in summary:
        value = summary["two_actors_vs_one"]
        targets.append(_line(["2 actors × 1 thread ≥ 0.9 × 1 actor × 2 threads", f"{value:.2f}×",
                              _met(value >= TWO_ACTORS_TARGET)]))
    targets.append(_line(["every output identical to allennlp predict's, row for row",
                          "yes" if summary["all_outputs_identical"] else "no", _met(summary["all_outputs_identical"])]))
    return "\n".join(lines + targets)


def serve_section(report: Optional[Dict[str, Any]], command: str, table: Callable[[Dict[str, Any]], str]) -> str:
    """The load test's table (`table`, the serving page's) and the Ray Serve target at 64 clients."""
    if report is None:
        return _missing(command)
    runs = {variant["letter"]: {run["concurrency"]: run for run in variant["runs"]} for variant in report["variants"]}
    text = table(report)
    if SERVE_CLIENTS in runs.get("r", {}) and SERVE_CLIENTS in runs.get("c", {}):
        ratio = runs["r"][SERVE_CLIENTS]["requests_per_second"] / runs["c"][SERVE_CLIENTS]["requests_per_second"]
        text += (f"\n\nAt {SERVE_CLIENTS} clients Ray Serve's replicas answer {ratio:.2f}× the single-process server's "
                 f"requests/s (target: at least {SERVE_TARGET:.1f}×): {_met(ratio >= SERVE_TARGET)}.")
    return text


def per_core_rate(report: Dict[str, Any]) -> Optional[float]:
    """Rows/s per reserved CPU of the best Ray variant, per core: its rows/s over actors × threads."""
    rates = []
    for run in report["runs"]:
        if "num_actors" in run:
            rates.append(run["rows_per_second"] / (run["num_actors"] * run["num_threads"]))
    return max(rates) if rates else None


def estimate_section(report: Optional[Dict[str, Any]], command: str, nodes: int = 100,
                     documents: int = 100_000_000) -> str:
    """What `nodes` machines like the measured one would take for `documents` rows at the measured per-core rate."""
    if report is None:
        return _missing(command)
    rate = per_core_rate(report)
    cores = report["protocol"]["cpu_count"]
    cluster_rate = rate * cores * nodes
    hours = documents / cluster_rate / 3600
    return (f"At the measured {rate:.1f} rows/s per core (the best Ray variant's rows/s over its actors × threads, "
            f"archive loading included), {nodes} nodes of {cores} cores each would answer "
            f"{cluster_rate:,.0f} rows/s, so {documents:,} documents of AG News' length in about {hours:.1f} hours "
            f"if the rate scaled linearly with the cores.")
