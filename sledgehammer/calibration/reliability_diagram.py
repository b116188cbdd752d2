"""
Reliability diagrams of an early-exit classifier's exits, before and after temperature scaling.

Uses matplotlib's object-oriented API with the Agg canvas, so it needs no display and leaves the global
pyplot backend alone.
"""
import math
import os
from typing import Any, Dict, Sequence, Union

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure


def plot_reliability(
    results: Union[Sequence[Dict[str, Any]], Dict[str, Any]],
    path: Union[str, "os.PathLike[str]"],
) -> None:
    """
    Draws one panel per exit: the accuracy of each confidence bin as bars, before (grey) and after
    (blue) calibration, the diagonal of perfect calibration, and the exit's temperature and expected
    calibration error before and after in the panel title. Empty bins get no bar. Writes the figure to
    `path`, in the format given by its extension (e.g. `.png`).

    # Parameters

    results : `Union[Sequence[Dict[str, Any]], Dict[str, Any]]`
        The per-exit results of `calibrate_exits` (`exit_layer`, `temperature`, `ece_before`,
        `ece_after`, `reliability_before`, `reliability_after`), or a dictionary holding them under
        `"exits"` (the content of `calibration.json`).
    path : `Union[str, os.PathLike]`
    """
    exits = results["exits"] if isinstance(results, dict) else list(results)
    if not exits:
        raise ValueError("no exits to plot")
    columns = min(len(exits), 4)
    rows = math.ceil(len(exits) / columns)
    figure = Figure(figsize=(3.2 * columns, 3.4 * rows), constrained_layout=True)
    FigureCanvasAgg(figure)
    axes = figure.subplots(rows, columns, squeeze=False)
    for index, ax in enumerate(axes.flat):
        if index >= len(exits):
            ax.set_visible(False)
            continue
        _draw_exit(ax, exits[index], show_legend=index == 0)
    figure.suptitle("Reliability per exit (accuracy by confidence bin)")
    figure.savefig(os.fspath(path), dpi=100)


def _draw_exit(ax, result: Dict[str, Any], show_legend: bool) -> None:
    before, after = result["reliability_before"], result["reliability_after"]
    num_bins = len(before["count"])
    width = 1.0 / num_bins
    lefts = [i * width for i in range(num_bins)]
    for bins, offset, color, label in (
        (before, 0.0, "0.65", "before"),
        (after, width / 2, "tab:blue", "after"),
    ):
        filled = [i for i in range(num_bins) if bins["count"][i] > 0]
        ax.bar(
            [lefts[i] + offset for i in filled],
            [bins["accuracy"][i] for i in filled],
            width=width / 2,
            align="edge",
            color=color,
            edgecolor="black",
            linewidth=0.4,
            label=label,
        )
    ax.plot([0, 1], [0, 1], linestyle="--", color="black", linewidth=0.8, label="perfect calibration")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_aspect("equal")
    ax.set_xlabel("confidence")
    ax.set_ylabel("accuracy")
    ax.set_title(
        f"layer {result['exit_layer']} (T = {result['temperature']:.3g})\n"
        f"ECE {result['ece_before']:.3f} \u2192 {result['ece_after']:.3f}",
        fontsize=9,
    )
    if show_legend:
        ax.legend(loc="upper left", fontsize=7)
