"""
How `allennlp tradeoff` shows a trade-off report: a markdown table, the sentences on the picked thresholds,
oracle savings and separately trained models, and the files `tradeoff.json`, `tradeoff.csv` and
`tradeoff.png`.
"""
import os
from typing import Any, Dict, List, Optional

from sledgehammer.evaluation.report_files import (  # noqa: F401  (the report files' names, for the formatters' users)
    CSV_NAME,
    JSON_NAME,
    PLOT_NAME,
    TIMING_FIELDS,
    write_report_json,
    write_rows_csv,
)
from sledgehammer.evaluation.certified_point import format_certified
from sledgehammer.evaluation.tradeoff import FULL
from sledgehammer.evaluation.tradeoff_plot import plot_tradeoff



def archive_label(path: str) -> str:
    """An archive's name for people: its folder when the file is the usual `model.tar.gz`."""
    folder, name = os.path.split(os.path.abspath(path))
    return os.path.basename(folder) if name == "model.tar.gz" else name


def format_oracle_savings(share: Optional[Dict[str, Any]], min_agreement: float, policy: str = "confidence") -> str:
    """The sentence on how much of the consistency oracle's savings an exit policy gets."""
    if share is None:
        return f"{policy}: no threshold agrees with the last exit on {100.0 * min_agreement:g}% of the rows"
    ratio = share["share_of_oracle_savings"]
    return (
        f"{policy}: at >= {100.0 * min_agreement:g}% agreement with the last exit: threshold {share['threshold']:g} "
        f"({100.0 * share['agreement_with_last_exit']:.2f}%) saves {100.0 * share['saved_flops']:.1f}% of FLOPs, "
        f"the consistency oracle {100.0 * share['oracle_saved_flops']:.1f}%"
        + ("" if ratio is None else f": {100.0 * ratio:.0f}% of the oracle's savings")
    )


def format_comparison(comparison: Dict[str, Any]) -> str:
    """The sentence comparing a separately trained model with the early-exit thresholds."""
    head = (
        f"{comparison['name']}: {100.0 * comparison['accuracy']:.2f}% at {comparison['relative_flops']:.3f} "
        "of the full model's FLOPs; "
    )
    if comparison["threshold"] is None:
        return head + "no threshold of the early-exit model is as cheap"
    return head + (
        f"the early-exit model at {_policy_prefix(comparison.get('threshold_policy'))}threshold "
        f"{comparison['threshold']:g} gets "
        f"{100.0 * comparison['threshold_accuracy']:.2f}% at {comparison['threshold_relative_flops']:.3f} "
        f"({comparison['accuracy_difference_points']:+.2f} points)"
    )


def _policy_prefix(policy: Optional[str]) -> str:
    return "" if policy in (None, "confidence") else f"{policy} "


def format_report(report: Dict[str, Any], max_accuracy_drop: Optional[float], min_agreement: float) -> str:
    """
    Everything `allennlp tradeoff` prints for a classifier: the table, then per policy the threshold picked
    within `max_accuracy_drop` (when given) and the share of the oracle's savings at `min_agreement`, then
    the separately trained models against the thresholds.
    """
    meta, rows = report["meta"], report["rows"]
    lines = [format_markdown_table(report)]
    timed_batch_size = meta["batch_size"] if meta["timed"] else None
    if max_accuracy_drop is not None:
        for name, summary in meta["policies"].items():
            picked = next((row for row in rows if row["name"] == summary["pick"]["row"]), None)
            lines.append(format_pick(rows, picked, max_accuracy_drop, timed_batch_size, policy=name))
    for name, summary in meta["policies"].items():
        lines.append(format_oracle_savings(summary["oracle_savings"], min_agreement, policy=name))
    lines.extend(format_comparison(comparison) for comparison in meta.get("comparisons", []))
    certified = format_certified(meta.get("certified"))
    if certified is not None:
        lines.append(certified)
    return "\n".join(lines)


def format_markdown_table(report: Dict[str, Any]) -> str:
    """The rows of a trade-off report as a markdown table (accuracies and agreement in %)."""
    rows = report["rows"]
    timed = report["meta"].get("timed", False)
    batch_size = report["meta"].get("batch_size")
    layers = report["meta"].get("exit_layers")
    header = ["kind", "name", "accuracy %", "mean layers", "rel. layers", "rel. FLOPs", "agrees w/ last %",
              "exit fractions" + (f" (layers {'/'.join(map(str, layers))})" if layers else "")]
    if timed:
        header += ["s/inst b1", "speedup b1", f"s/inst b{batch_size}", f"speedup b{batch_size}"]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    for row in rows:
        cells = [
            row["kind"],
            row["name"],
            _number(row["accuracy"], 100.0, ".2f"),
            f"{row['mean_layers']:.2f}",
            f"{row['relative_layers']:.3f}",
            f"{row['relative_flops']:.3f}",
            _number(row["agreement_with_last_exit"], 100.0, ".2f"),
            "/".join(f"{fraction:.2f}" for fraction in row["exit_fractions"]),
        ]
        if timed:
            cells += [
                _number(row.get("seconds_per_instance_b1"), 1.0, ".5f"),
                _number(row.get("speedup_b1"), 1.0, ".2f"),
                _number(row.get("seconds_per_instance_bN"), 1.0, ".5f"),
                _number(row.get("speedup_bN"), 1.0, ".2f"),
            ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def format_pick(
    rows: List[Dict[str, Any]],
    picked: Optional[Dict[str, Any]],
    max_accuracy_drop: float,
    timed_batch_size: Optional[int] = None,
    policy: str = "confidence",
) -> str:
    """The sentence `--max-accuracy-drop` prints about an exit policy's picked threshold (or its absence)."""
    full = next(row for row in rows if row["kind"] == FULL)
    if picked is None:
        return (
            f"{policy}: no threshold keeps accuracy within {max_accuracy_drop:g} points of the full model "
            f"({100.0 * full['accuracy']:.2f}%); include 1.0 in --thresholds to get the full model's accuracy"
        )
    saved = 100.0 * (1.0 - picked["relative_flops"])
    if timed_batch_size is not None and picked.get("speedup_b1") is not None:
        speedup = f"measured speedup {picked['speedup_b1']:.2f}\u00d7 at batch size 1"
        if picked.get("speedup_bN") is not None:
            speedup += f", {picked['speedup_bN']:.2f}\u00d7 at batch size {timed_batch_size}"
    else:
        speedup = f"speedup {_flops_speedup(picked['relative_flops'])} in FLOPs"
    return (
        f"{policy}: threshold {picked['threshold']:g} keeps accuracy within {max_accuracy_drop:g} points of the full "
        f"model ({100.0 * picked['accuracy']:.2f}% vs {100.0 * full['accuracy']:.2f}%) and saves "
        f"{saved:.1f}% of FLOPs ({speedup})"
    )


def _flops_speedup(relative_flops: float) -> str:
    return f"{1.0 / relative_flops:.2f}\u00d7" if relative_flops > 0 else "\u221e\u00d7"


def _number(value: Optional[float], scale: float, spec: str) -> str:
    return "-" if value is None else format(scale * value, spec)


def write_outputs(report: Dict[str, Any], output_dir: str) -> None:
    """Writes `tradeoff.json`, `tradeoff.csv` and `tradeoff.png` to `output_dir` (which must exist)."""
    write_report_json(report, output_dir)
    write_csv(report, os.path.join(output_dir, CSV_NAME))
    meta = report["meta"]
    plot_tradeoff(
        report["rows"],
        os.path.join(output_dir, PLOT_NAME),
        title=f"{os.path.basename(meta['archive'])} on {os.path.basename(meta['data'])} "
        f"({meta['num_instances']} instances)",
        batch_size=meta["batch_size"],
    )


def write_csv(report: Dict[str, Any], path: str) -> None:
    """
    One line per row; `exit_fractions` becomes one `exit_fraction_<layer>` column per exit; with several precisions
    a `precision` column follows `name`.
    """
    columns = ["kind", "name", "policy", "threshold", "accuracy", "mean_layers", "relative_layers", "relative_flops",
               "agreement_with_last_exit"]
    if "precisions" in report["meta"]:  # `--precisions`: which precision each row ran in
        columns.insert(2, "precision")
    write_rows_csv(report, columns, path)
