#!/usr/bin/env python
"""
Prints, as markdown, what the results pages report from tagger trade-off runs (`allennlp tradeoff` on
`sledgehammer_tagger` archives): for each run, each curve's best quality at 2x, 3x and 4x fewer FLOPs (with its
measured speedups), each curve's cheapest setting within the run's `--max-accuracy-drop`, and, at the cost of
each static exit, the best sentence- and token-level setting that costs no more (is early exit above static
truncation at every cost?).

Usage:
    python scripts/show_tagger_tradeoff.py NAME=path/to/tradeoff.json [NAME=path/to/tradeoff.json ...]
"""
import argparse
import json
import os
import sys
from typing import Any, Dict, List, Optional, Sequence, Tuple

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from sledgehammer.evaluation.tagger_tradeoff_report import best_within  # noqa: E402

CURVES = ("static", "sentence", "token:any window", "oracle_consistency")
Reports = Sequence[Tuple[str, Dict[str, Any]]]


def of_kind(rows: List[Dict[str, Any]], kind: str) -> List[Dict[str, Any]]:
    return [row for row in rows if row["kind"] == kind]


def cell(row: Optional[Dict[str, Any]]) -> str:
    if row is None:
        return "-"
    speed = f", {row['speedup_b1']:.2f}× b1, {row['speedup_bN']:.2f}× b32" if "speedup_b1" in row else ""
    return f"{100 * row['quality']:.2f} ({row['name']}; {1 / row['relative_flops']:.2f}× FLOPs{speed})"


def format_reductions_table(reports: Reports) -> str:
    """Per run and curve, the best quality at 2x, 3x and 4x fewer FLOPs."""
    lines = ["| run | curve | at 2× fewer FLOPs | at 3× | at 4× |", "|---|---|---|---|---|"]
    for name, report in reports:
        at = report["meta"]["quality_at_reductions"]
        for curve in CURVES:
            if curve in at:
                lines.append(f"| {name} | {curve} | " + " | ".join(cell(at[curve][key]) for key in ("2x", "3x", "4x"))
                             + " |")
    return "\n".join(lines)


def format_picks_table(reports: Reports) -> str:
    """Per run, each curve's cheapest setting within the run's `--max-accuracy-drop` of the full model."""
    lines = ["| run (full model) | " + " | ".join(CURVES[:3]) + " |", "|---|---|---|---|"]
    for name, report in reports:
        full = next(row for row in report["rows"] if row["kind"] == "full")
        picks = report["meta"]["picks"]
        lines.append(f"| {name} ({100 * full['quality']:.2f}) | "
                     + " | ".join(cell(picks.get(curve)) for curve in CURVES[:3]) + " |")
    return "\n".join(lines)


def format_matched_cost_table(reports: Reports) -> str:
    """At the cost of each static exit, the best sentence- and token-level setting that costs no more."""
    lines = ["| run | static exit (its cost) | static F1 | best sentence-level at no more cost | "
             "best token-level at no more cost |", "|---|---|---|---|---|"]
    for name, report in reports:
        rows = report["rows"]
        for static in of_kind(rows, "static"):
            flops = static["relative_flops"]
            lines.append(f"| {name} | exit {static['exit_layer']} ({flops:.3f}) | {100 * static['quality']:.2f} | "
                         f"{cell(best_within(of_kind(rows, 'sentence'), flops))} | "
                         f"{cell(best_within(of_kind(rows, 'token'), flops))} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", nargs="+", metavar="NAME=TRADEOFF_JSON")
    args = parser.parse_args()
    reports = []
    for item in args.runs:
        name, _, path = item.partition("=")
        if not path:
            sys.exit(f"expected NAME=path/to/tradeoff.json, got {item!r}")
        with open(path, encoding="utf-8") as file:
            reports.append((name, json.load(file)))
    print(format_reductions_table(reports))
    if all("picks" in report["meta"] for _, report in reports):
        print()
        print(format_picks_table(reports))
    print()
    print(format_matched_cost_table(reports))


if __name__ == "__main__":
    main()
