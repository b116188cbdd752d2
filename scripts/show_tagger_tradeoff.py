#!/usr/bin/env python
"""
Prints, as markdown, what the README reports from tagger trade-off runs (`allennlp tradeoff` on
`sledgehammer_tagger` archives): for each run, each curve's best quality at 2x, 3x and 4x fewer FLOPs (with its
measured speedups), and, at the cost of each static exit, the best sentence- and token-level setting that costs
no more (is early exit above static truncation at every cost?).

Usage:
    python scripts/show_tagger_tradeoff.py NAME=path/to/tradeoff.json [NAME=path/to/tradeoff.json ...]
"""
import argparse
import json
import os
import sys
from typing import Any, Dict, List, Optional

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from sledgehammer.evaluation.tagger_tradeoff_report import best_within  # noqa: E402

CURVES = ("static", "sentence", "token:any window", "oracle_consistency")


def of_kind(rows: List[Dict[str, Any]], kind: str) -> List[Dict[str, Any]]:
    return [row for row in rows if row["kind"] == kind]


def cell(row: Optional[Dict[str, Any]]) -> str:
    if row is None:
        return "-"
    speed = f", {row['speedup_b1']:.2f}× b1, {row['speedup_bN']:.2f}× b32" if "speedup_b1" in row else ""
    return f"{100 * row['quality']:.2f} ({row['name']}; {1 / row['relative_flops']:.2f}× FLOPs{speed})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", nargs="+", metavar="NAME=TRADEOFF_JSON")
    args = parser.parse_args()
    reports = {}
    for item in args.runs:
        name, _, path = item.partition("=")
        if not path:
            sys.exit(f"expected NAME=path/to/tradeoff.json, got {item!r}")
        with open(path, encoding="utf-8") as file:
            reports[name] = json.load(file)

    print("| run | curve | at 2× fewer FLOPs | at 3× | at 4× |")
    print("|---|---|---|---|---|")
    for name, report in reports.items():
        at = report["meta"]["quality_at_reductions"]
        for curve in CURVES:
            if curve in at:
                print(f"| {name} | {curve} | " + " | ".join(cell(at[curve][key]) for key in ("2x", "3x", "4x")) + " |")

    print()
    print("| run | static exit (its cost) | static F1 | best sentence-level at no more cost | best token-level at no more cost |")
    print("|---|---|---|---|---|")
    for name, report in reports.items():
        rows = report["rows"]
        for static in (row for row in rows if row["kind"] == "static"):
            flops = static["relative_flops"]
            print(f"| {name} | exit {static['exit_layer']} ({flops:.3f}) | {100 * static['quality']:.2f} | "
                  f"{cell(best_within(of_kind(rows, 'sentence'), flops))} | "
                  f"{cell(best_within(of_kind(rows, 'token'), flops))} |")


if __name__ == "__main__":
    main()
