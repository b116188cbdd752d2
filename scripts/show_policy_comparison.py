#!/usr/bin/env python
"""
One markdown table from several `allennlp tradeoff` reports (`tradeoff.json`, one per model): per model and exit
policy, the cheapest threshold within the report's `--max-accuracy-drop` of the full model (its accuracy,
relative FLOPs and measured speedups) and the share of the consistency oracle's saving at >= 99 % agreement.

Usage:
    python scripts/show_policy_comparison.py NAME=runs/a/tradeoff/tradeoff.json [NAME=...]
"""
import json
import sys
from typing import Any, Dict, List, Optional, Sequence, Tuple

HEADER = ["model", "policy", "threshold", "accuracy", "mean layers", "rel. FLOPs", "speedup b1", "speedup bN",
          "share of oracle saving at ≥ 99 % agreement"]


def _percent(value: Optional[float]) -> str:
    return "-" if value is None else f"{100 * value:.2f} %"


def _times(value: Optional[float]) -> str:
    return "-" if value is None else f"{value:.2f}×"


def format_threshold(threshold: float, policy: str, num_exits: int) -> str:
    """A threshold as people read it; a patience threshold also names its patience (threshold × (exits − 1))."""
    if policy != "patience":
        return f"{threshold:g}"
    return f"{threshold:.3g} = patience {round(threshold * (num_exits - 1))}"


def rows_of(name: str, report: Dict[str, Any]) -> list:
    rows = {row["name"]: row for row in report["rows"]}
    full = next(row for row in report["rows"] if row["kind"] == "full")
    num_exits = len(report["meta"]["exit_layers"])
    lines = []
    for policy, summary in report["meta"]["policies"].items():
        pick = summary.get("pick") or {}
        row = rows.get(pick.get("row")) if pick.get("row") else None
        share = summary["oracle_savings"]
        lines.append([
            name, policy,
            "-" if row is None else format_threshold(row["threshold"], policy, num_exits),
            _percent(None if row is None else row["accuracy"]) + f" (full {100 * full['accuracy']:.2f} %)",
            "-" if row is None else f"{row['mean_layers']:.2f}",
            "-" if row is None else f"{row['relative_flops']:.3f}",
            _times(None if row is None else row.get("speedup_b1")),
            _times(None if row is None else row.get("speedup_bN")),
            "-" if share is None or share["share_of_oracle_savings"] is None
            else f"{100 * share['share_of_oracle_savings']:.0f} % "
            f"(threshold {format_threshold(share['threshold'], policy, num_exits)})",
        ])
    return lines


def format_policy_table(reports: Sequence[Tuple[str, Dict[str, Any]]]) -> str:
    """The markdown table of `rows_of` for each (name, report), in order."""
    lines: List[str] = ["| " + " | ".join(HEADER) + " |", "|" + "|".join("---" for _ in HEADER) + "|"]
    for name, report in reports:
        lines.extend("| " + " | ".join(line) + " |" for line in rows_of(name, report))
    return "\n".join(lines)


def main() -> int:
    reports = []
    for argument in sys.argv[1:]:
        name, _, path = argument.partition("=")
        with open(path, encoding="utf-8") as f:
            reports.append((name, json.load(f)))
    print(format_policy_table(reports))
    return 0


if __name__ == "__main__":
    sys.exit(main())
