"""
How `allennlp tradeoff` shows a tagger's trade-off report: markdown tables (every row; each curve's quality at
2x/3x/4x fewer FLOPs; the picks within a quality budget) and the files `tradeoff.json`, `tradeoff.csv` and
`tradeoff.png` (quality against relative FLOPs and, when timed, against measured speedup).
"""
import os
from typing import Any, Dict, List, Optional

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from sledgehammer.common.atomic_files import atomic_output
from sledgehammer.evaluation.tagger_tradeoff import FULL, ORACLE_CONSISTENCY, SENTENCE, STATIC, TOKEN
from sledgehammer.evaluation.report_files import CSV_NAME, PLOT_NAME, TIMING_FIELDS, write_report_json, write_rows_csv
from sledgehammer.evaluation.tradeoff_format import archive_label

CURVE_STYLES = {STATIC: ("s-", "tab:green"), SENTENCE: ("o-", "tab:blue")}
WINDOW_COLORS = ("tab:orange", "tab:red", "tab:purple", "tab:brown", "tab:pink", "tab:olive")


def quality_label(report: Dict[str, Any]) -> str:
    return "span F1" if report["meta"]["metric"].startswith("f1") else "accuracy"


def format_tagger_report(report: Dict[str, Any]) -> str:
    """Everything `allennlp tradeoff` prints for a tagger: every row, the 2x/3x/4x table and the picks if any."""
    parts = [format_tagger_table(report), format_reductions(report)]
    if "picks" in report["meta"]:
        parts.append(format_picks(report))
    return "\n".join(parts)


def format_tagger_table(report: Dict[str, Any]) -> str:
    """Every row as a markdown table (quality and agreement in %)."""
    meta = report["meta"]
    timed, batch_size = meta.get("timed", False), meta.get("batch_size")
    header = ["name", f"{quality_label(report)} %", "rel. FLOPs", "FLOPs reduction", "mean layers",
              "agrees w/ last %", "exit fractions (layers " + "/".join(map(str, meta["exit_layers"])) + ")"]
    if timed:
        header += ["speedup b1", f"speedup b{batch_size}", f"same tags b1/b{batch_size} %"]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    for row in report["rows"]:
        cells = [
            row["name"],
            f"{100.0 * row['quality']:.2f}",
            f"{row['relative_flops']:.3f}",
            _times(1.0 / row["relative_flops"] if row["relative_flops"] > 0 else None),
            f"{row['mean_layers']:.2f}",
            f"{100.0 * row['agreement_with_last_exit']:.2f}",
            "/".join(f"{fraction:.2f}" for fraction in row["exit_fractions"]),
        ]
        if timed:
            same = row.get("same_tags_b1_bN")
            cells += [_times(row.get("speedup_b1")), _times(row.get("speedup_bN")),
                      "-" if same is None else f"{100.0 * same:.1f}"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def format_reductions(report: Dict[str, Any]) -> str:
    """Each curve's best quality at 2x, 3x and 4x fewer FLOPs, as a markdown table."""
    at = report["meta"]["quality_at_reductions"]
    reductions = list(next(iter(at.values())).keys()) if at else []
    full = next(row for row in report["rows"] if row["kind"] == FULL)
    header = ["curve"] + [f"{quality_label(report)} at {reduction} fewer FLOPs" for reduction in reductions]
    lines = [f"Full model: {100.0 * full['quality']:.2f}",
             "| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    for family, by_reduction in at.items():
        cells = [family]
        for reduction in reductions:
            best = by_reduction[reduction]
            cells.append("-" if best is None else f"{100.0 * best['quality']:.2f} ({best['name']}"
                         + _speedups(best) + ")")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def format_picks(report: Dict[str, Any]) -> str:
    """One sentence per curve: its cheapest setting within `--max-accuracy-drop` points of the full model."""
    meta = report["meta"]
    drop = meta["max_quality_drop"]
    full = next(row for row in report["rows"] if row["kind"] == FULL)
    lines = []
    for family, pick in meta["picks"].items():
        if pick is None:
            lines.append(f"{family}: no setting within {drop:g} points of the full model ({100.0 * full['quality']:.2f})")
            continue
        lines.append(
            f"{family}: {pick['name']} is within {drop:g} points ({100.0 * pick['quality']:.2f} vs "
            f"{100.0 * full['quality']:.2f}) at {_times(1.0 / pick['relative_flops'])} fewer FLOPs" + _speedups(pick)
        )
    return "\n".join(lines)


def write_tagger_outputs(report: Dict[str, Any], output_dir: str) -> None:
    """Writes `tradeoff.json`, `tradeoff.csv` and `tradeoff.png` to `output_dir` (which must exist)."""
    write_report_json(report, output_dir)
    columns = ["kind", "name", "family", "threshold", "window", "exit_layer", "quality", "relative_flops",
               "mean_layers", "agreement_with_last_exit"]
    write_rows_csv(report, columns, os.path.join(output_dir, CSV_NAME), TIMING_FIELDS + ("same_tags_b1_bN",))
    meta = report["meta"]
    plot_tagger_tradeoff(
        report,
        os.path.join(output_dir, PLOT_NAME),
        title=f"{archive_label(meta['archive'])} on {os.path.basename(meta['data'])} "
        f"({meta['num_instances']} sentences, {meta['num_words']} words; exit policy {meta['exit_policy']})",
    )


def plot_tagger_tradeoff(report: Dict[str, Any], path: str, title: Optional[str] = None) -> None:
    """
    Quality (%) against relative FLOPs: static exits, sentence-level exit and each window of token-level exit as
    curves, the oracle as a triangle, the full model as a star; when timed, a second panel against measured
    speedup (batch size 1 solid, batched dashed).
    """
    rows = report["rows"]
    timed = bool(report["meta"].get("timed"))
    figure = Figure(figsize=(6.4 * (2 if timed else 1), 4.8), constrained_layout=True)
    FigureCanvasAgg(figure)
    axes = figure.subplots(1, 2 if timed else 1, squeeze=False)[0]
    panels = [(axes[0], "relative_flops", "relative FLOPs (full model = 1)", "-")]
    if timed:
        panels += [(axes[1], "speedup_b1", "measured speedup over the full model (\u00d7)", "-"),
                   (axes[1], "speedup_bN", None, "--")]
    for ax, key, label, line in panels:
        for family, members, marker, color in _curves(rows):
            points = sorted((row[key], 100.0 * row["quality"]) for row in members)
            suffix = "" if key != "speedup_bN" else f", batch {report['meta']['batch_size']}"
            ax.plot([x for x, _ in points], [y for _, y in points], marker[0] + line, color=color, markersize=4,
                    label=family + suffix if key != "speedup_b1" or not timed else family + ", batch 1")
        for row in rows:
            if row["kind"] in (FULL, ORACLE_CONSISTENCY) and key != "speedup_bN":
                marker, color = ("*", "black") if row["kind"] == FULL else ("^", "tab:red")
                ax.plot([row[key]], [100.0 * row["quality"]], marker, color=color, markersize=10,
                        label="full model" if row["kind"] == FULL else "oracle (agrees with last exit)")
        if label is not None:
            ax.set_xlabel(label)
            ax.set_ylabel(f"{quality_label(report)} (%)")
            ax.grid(True, alpha=0.3)
    for ax in axes:
        ax.legend(fontsize=7, loc="best")
    if title:
        figure.suptitle(title)
    with atomic_output(path) as handle:
        figure.savefig(handle, format="png", dpi=100)


def _curves(rows: List[Dict[str, Any]]):
    families: Dict[str, List[Dict[str, Any]]] = {}
    for row in rows:
        if row["kind"] in (STATIC, SENTENCE, TOKEN):
            families.setdefault(row["family"], []).append(row)
    windows = 0
    for family, members in families.items():
        if family in CURVE_STYLES:
            marker, color = CURVE_STYLES[family]
        else:
            marker, color = "x-", WINDOW_COLORS[windows % len(WINDOW_COLORS)]
            windows += 1
        yield family, members, marker, color


def _speedups(summary: Dict[str, Any]) -> str:
    if summary.get("speedup_b1") is None:
        return ""
    return f"; measured {_times(summary['speedup_b1'])} at batch 1, {_times(summary.get('speedup_bN'))} batched"


def _times(value: Optional[float]) -> str:
    return "-" if value is None else f"{value:.2f}\u00d7"
