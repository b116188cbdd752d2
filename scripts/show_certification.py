#!/usr/bin/env python
"""
Markdown tables from the JSON `scripts/certify_unlabelled.py` writes: per number of unlabelled selection rows and
per family (one threshold, per-exit thresholds) the certified setting, its agreement with the full model and its
FLOP saving on the evaluation rows against the consistency oracle's; and per family how often the guarantee held
over the random draws. `scripts/render_docs.py` calls these for the results page.

Usage:
    python scripts/show_certification.py docs/certify/agnews.json
"""
import json
import sys
from typing import Any, Dict, List, Optional

FAMILY_NAMES = {"single": "one threshold", "per_exit": "per-exit thresholds"}


def format_certified_setting(entry: Dict[str, Any]) -> str:
    """`0.97`, or `0.9/0.95/0.97/0.98/0.99/1` for per-exit thresholds (exit order)."""
    if entry.get("exit_thresholds") is not None:
        return "/".join(f"{value:g}" for value in entry["exit_thresholds"])
    return f"{entry['threshold']:g}"


def _percent(value: Optional[float], digits: int = 1) -> str:
    return "-" if value is None else f"{100 * value:.{digits}f} %"


def _rows(entry: Dict[str, Any]) -> str:
    return "all" if entry["size"] == "all" else f"{entry['size']:,}"


def certification_table(report: Dict[str, Any]) -> str:
    """One line per selection size and family: rows, setting, eval agreement, saving, the oracle's, their ratio."""
    lines = ["| unlabelled rows (selection half) | family | certified setting | agreement on eval | saving on eval | "
             "oracle's saving | share of the oracle's |", "|---|---|---|---:|---:|---:|---:|"]
    for entry in report["sizes"]:
        half = entry.get("selection_rows", entry["pool_rows"] - entry["pool_rows"] // 2)
        rows = f"{'all: ' if entry['size'] == 'all' else ''}{entry['pool_rows']:,} ({half:,})"
        if "error" in entry:
            lines.append(f"| {rows} | {FAMILY_NAMES[entry['family']]} | none: {entry['error']} | | | | |")
            continue
        lines.append(
            f"| {rows} | {FAMILY_NAMES[entry['family']]} | {format_certified_setting(entry)} | "
            f"{_percent(entry['eval_agreement'], 2)} | {_percent(entry['eval_saving'])} | "
            f"{_percent(report['oracle_eval_saving'])} | {_percent(entry['share_of_oracle_saving'], 0)} |"
        )
    return "\n".join(lines)


def outlook_table(report: Dict[str, Any]) -> str:
    """Per size and family: the saving certified on the selection rows and what more rows would reach."""
    lines = ["| unlabelled rows | family | certified saving (selection rows) | with 2× / 4× / 10× the rows | "
             "at most, with |", "|---|---|---:|---|---|"]
    for entry in report["sizes"]:
        if "error" in entry:
            continue
        more = " / ".join(_percent(item["saving"]) for item in entry["outlook"])
        most = entry["most_saving"]
        at_most = "-" if most is None else f"{_percent(most['saving'])}, {most['rows']:,} selection rows"
        lines.append(f"| {_rows(entry)} | {FAMILY_NAMES[entry['family']]} | {_percent(entry['selection_saving'])} | "
                     f"{more} | {at_most} |")
    return "\n".join(lines)


def draws_table(report: Dict[str, Any]) -> str:
    """Per family: draws meeting the target on the eval rows, their mean saving, and the range of eval agreement."""
    lines = ["| family | draws meeting the target | mean saving on eval | eval agreement (lowest, highest) |",
             "|---|---:|---:|---|"]
    for family, found in report["draws"].items():
        agreements = [draw["eval_agreement"] for draw in found["results"] if draw.get("eval_agreement") is not None]
        spread = "-" if not agreements else f"{_percent(min(agreements), 2)}, {_percent(max(agreements), 2)}"
        lines.append(f"| {FAMILY_NAMES[family]} | {found['met']} of {found['draws']} | "
                     f"{_percent(found['mean_eval_saving'])} | {spread} |")
    return "\n".join(lines)


def best_share(report: Dict[str, Any], min_rows: int) -> Optional[Dict[str, Any]]:
    """The size/family entry with the highest share of the oracle's saving among those with >= `min_rows` pool rows."""
    found = [entry for entry in report["sizes"]
             if "error" not in entry and entry["pool_rows"] >= min_rows and entry["share_of_oracle_saving"] is not None]
    return max(found, key=lambda entry: entry["share_of_oracle_saving"]) if found else None


def share_met(report: Dict[str, Any], family: str) -> float:
    """The share of the draws in which the family's certified setting met the target on the eval rows."""
    return report["draws"][family]["share_met"]


def main(argv: List[str]) -> int:
    for path in argv:
        with open(path, encoding="utf-8") as f:
            report = json.load(f)
        print(certification_table(report), outlook_table(report), draws_table(report), sep="\n\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
