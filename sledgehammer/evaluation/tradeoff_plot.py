"""
The speed/accuracy trade-off plot of `allennlp tradeoff`: accuracy against relative FLOPs and, when the
speed was measured, against measured speedup.

Uses matplotlib's object-oriented API with the Agg canvas, so it needs no display and leaves the global
pyplot backend alone.
"""
import os
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from sledgehammer.evaluation.precision_rows import row_precision
from sledgehammer.evaluation.records import TradeoffRow
from sledgehammer.evaluation.tradeoff import (
    CERTIFIED,
    FULL,
    ORACLE_ACCURACY,
    ORACLE_CONSISTENCY,
    SEPARATE,
    STATIC,
    THRESHOLD,
)
from sledgehammer.models.precision import FP32

# Measured speedups drawn on the second panel: row key -> legend label, line style.
SPEEDUP_KEYS = (("speedup_b1", "batch size 1"), ("speedup_bN", "batch size {batch_size}"))
SPEEDUP_STYLES = {"speedup_b1": "o-", "speedup_bN": "x--"}
# One colour per exit policy's curve, in the order the policies first appear.
POLICY_COLORS = ("tab:blue", "tab:orange", "tab:olive", "tab:cyan", "tab:pink", "tab:gray")


def plot_tradeoff(
    rows: Sequence[TradeoffRow],
    path: Union[str, "os.PathLike[str]"],
    title: Optional[str] = None,
    batch_size: Optional[int] = None,
) -> None:
    """
    Draws accuracy (%) against relative FLOPs: each exit policy's threshold rows as a curve of its own colour,
    each point labelled by its threshold, the exits used alone as squares labelled by their exit layer, separately trained
    models (`separate_model` rows) as diamonds labelled by name, the full model as a star, the two
    oracles as triangles and the archive's certified setting (a `certified` row) as a cross. When the rows carry measured speedups (`speedup_b1`, `speedup_bN`), a second
    panel draws accuracy against speedup (batch size 1 solid, batched dashed). Rows of another precision
    (`"precision": "int8"`, see `precision_rows`) add their own curves (`confidence, int8`) and their full model as a
    plus; their static exits and oracles stay in the table only. Writes the figure to `path`, in the format given
    by its extension (e.g. `.png`).

    # Parameters

    rows : `Sequence[TradeoffRow]`
        Rows of `compute_tradeoff` (with labels), possibly with timing fields.
    path : `Union[str, os.PathLike]`
    title : `str`, optional (default = `None`)
    batch_size : `int`, optional (default = `None`)
        The batch size `speedup_bN` was measured at, for the legend.
    """
    rows = [row for row in rows if row.get("accuracy") is not None]
    if not rows:
        raise ValueError("no rows with an accuracy to plot")
    curves = _policy_curves(rows)
    other_full = [row for row in rows if row["kind"] == FULL and row_precision(row) != FP32]
    rows = [row for row in rows if row_precision(row) == FP32]
    separate_rows = _of_kind(rows, SEPARATE)
    timed = [key for key, _ in SPEEDUP_KEYS if any(row.get(key) is not None for row in rows)]
    figure = Figure(figsize=(6.4 * (2 if timed else 1), 4.8), constrained_layout=True)
    FigureCanvasAgg(figure)
    axes = figure.subplots(1, 2 if timed else 1, squeeze=False)[0]

    flops_ax = axes[0]
    for policy, (curve, color) in curves.items():
        _draw_curve(flops_ax, curve, "relative_flops", f"early exit ({policy})", color)
    static_rows = _of_kind(rows, STATIC)
    for row in static_rows:
        _point(flops_ax, row["relative_flops"], row["accuracy"], "s", "tab:green", _static_label(row))
    if static_rows:
        _legend_marker(flops_ax, "s", "tab:green", "one exit alone (layer)")
    for row in separate_rows:
        _point(flops_ax, row["relative_flops"], row["accuracy"], "D", "tab:purple", str(row["name"]))
    if separate_rows:
        _legend_marker(flops_ax, "D", "tab:purple", "separately trained models")
    _draw_reference_points(flops_ax, rows, "relative_flops")
    for row in other_full:
        _full_of_precision(flops_ax, row, "relative_flops")
    flops_ax.set_xlabel("relative FLOPs (full model = 1)")
    flops_ax.set_ylabel("accuracy (%)")
    flops_ax.set_title("accuracy vs estimated cost")
    flops_ax.grid(True, alpha=0.3)
    flops_ax.legend(fontsize=8, loc="best")

    if timed:
        speed_ax = axes[1]
        colors = {"speedup_b1": "tab:blue", "speedup_bN": "tab:orange"}
        for key, label in SPEEDUP_KEYS:
            if key in timed:
                label = label.format(batch_size=batch_size if batch_size is not None else "N")
                for policy, (curve, color) in curves.items():
                    _draw_curve(speed_ax, curve, key, f"{policy}, {label}", color, SPEEDUP_STYLES[key])
        for row in _of_kind(rows, FULL):
            speed_ax.plot([1.0], [100.0 * row["accuracy"]], "*", color="black", markersize=12, label="full model")
        for row in other_full:
            for number, key in enumerate(timed):
                _full_of_precision(speed_ax, row, key, labelled=number == 0)
        for row in separate_rows:
            for key in timed:
                if row.get(key) is not None:
                    _point(speed_ax, row[key], row["accuracy"], "D", colors[key], str(row["name"]))
        if any(row.get(key) is not None for row in separate_rows for key in timed):
            _legend_marker(speed_ax, "D", "tab:purple", "separately trained models")
        speed_ax.set_xlabel("measured speedup over the full model (\u00d7)")
        speed_ax.set_ylabel("accuracy (%)")
        speed_ax.set_title("accuracy vs measured speed")
        speed_ax.grid(True, alpha=0.3)
        speed_ax.legend(fontsize=8, loc="best")

    if title:
        figure.suptitle(title)
    figure.savefig(os.fspath(path), dpi=100)


def _of_kind(rows: Sequence[Dict[str, Any]], kind: str) -> List[Dict[str, Any]]:
    return [row for row in rows if row["kind"] == kind]


def _full_of_precision(ax, row: Dict[str, Any], x_key: str, labelled: bool = True) -> None:
    """The full model in another precision: a plus at its cost or speedup, in the legend as `full model (int8)`."""
    if row.get(x_key) is not None:
        ax.plot([row[x_key]], [100.0 * row["accuracy"]], "P", color="black", markersize=9,
                label=f"full model ({row_precision(row)})" if labelled else None)


def _policy_curves(rows: Sequence[Dict[str, Any]]) -> Dict[str, Tuple[List[Dict[str, Any]], str]]:
    """
    The threshold rows grouped by exit policy (rows without one count as `confidence`) and, for precisions other
    than fp32, by precision (`"confidence, int8"`), each with a colour.
    """
    curves: Dict[str, Tuple[List[Dict[str, Any]], str]] = {}
    for row in _of_kind(rows, THRESHOLD):
        policy = row.get("policy") or "confidence"
        if row_precision(row) != FP32:
            policy = f"{policy}, {row_precision(row)}"
        if policy not in curves:
            curves[policy] = ([], POLICY_COLORS[len(curves) % len(POLICY_COLORS)])
        curves[policy][0].append(row)
    return curves


def _draw_curve(ax, rows: List[Dict[str, Any]], x_key: str, label: str, color: str, style: str = "o-") -> None:
    """Threshold points joined in threshold order; points at the same place share one label."""
    points = sorted((row["threshold"], row[x_key], 100.0 * row["accuracy"]) for row in rows
                    if row.get(x_key) is not None)
    if not points:
        return
    ax.plot([p[1] for p in points], [p[2] for p in points], style, color=color, markersize=4, label=label)
    labels: Dict[Tuple[float, float], List[str]] = {}
    for threshold, x, y in points:
        labels.setdefault((round(x, 3), round(y, 2)), []).append(f"{threshold:g}")
    for (x, y), thresholds in labels.items():
        text = thresholds[0] if len(thresholds) == 1 else f"{thresholds[0]}\u2013{thresholds[-1]}"
        ax.annotate(text, (x, y), textcoords="offset points", xytext=(3, 4), fontsize=7, color=color)


def _draw_reference_points(ax, rows: Sequence[Dict[str, Any]], x_key: str) -> None:
    for kind, marker, color, label in (
        (FULL, "*", "black", "full model"),
        (ORACLE_CONSISTENCY, "^", "tab:red", "oracle (agrees with last exit)"),
        (ORACLE_ACCURACY, "v", "tab:brown", "oracle (earliest correct exit)"),
        (CERTIFIED, "X", "darkgreen", "certified setting"),
    ):
        for row in _of_kind(rows, kind):
            size = 12 if kind == FULL else 7
            ax.plot([row[x_key]], [100.0 * row["accuracy"]], marker, color=color, markersize=size, label=label)


def _point(ax, x: float, accuracy: float, marker: str, color: str, label: str) -> None:
    y = 100.0 * accuracy
    ax.plot([x], [y], marker, color=color, markersize=6)
    ax.annotate(label, (x, y), textcoords="offset points", xytext=(4, -9), fontsize=7, color=color)


def _legend_marker(ax, marker: str, color: str, label: str) -> None:
    ax.plot([], [], marker, color=color, markersize=6, label=label)


def _static_label(row: Dict[str, Any]) -> str:
    # A static row runs the layers up to its exit: exit layer = mean layers - 1 (0-based).
    return f"{int(round(row['mean_layers'])) - 1}"
