"""
The `tradeoff` subcommand measures the speed/accuracy trade-off of a trained `sledgehammer_classifier`:
accuracy and cost at each confidence threshold, of each exit used alone, of the full model and of two
oracles, computed from one pass over labelled data that runs every exit, and optionally the measured
seconds per instance of each threshold and of the plain full model.

    allennlp tradeoff ARCHIVE DATA --output-dir DIR [--thresholds 0.5,0.6,...,1.0] [--batch-size N]
                      [--time] [--time-instances N] [--num-threads N] [--max-accuracy-drop POINTS]
                      [--compare OTHER_ARCHIVE ...] [--cuda-device D]
                      [--overrides JSON] [--include-package PACKAGE]
"""
import argparse
import csv
import json
import logging
import math
import os
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import torch
from allennlp.commands.subcommand import Subcommand
from allennlp.data import Instance

from sledgehammer.commands.archive_inputs import (
    CommandInputError,
    add_model_run_arguments,
    check_archive_config,
    check_data_path,
    load_checked_archive,
    read_labelled_instances,
    reporting_input_errors,
)
from sledgehammer.evaluation.exit_outputs import ExitOutputs, collect_exit_outputs
from sledgehammer.evaluation.timing import NUM_THREADS_KEY, measure_seconds
from sledgehammer.evaluation.tradeoff import (
    FULL,
    FULL_NAME,
    SEPARATE,
    THRESHOLD,
    compute_tradeoff,
    oracle_savings_share,
    pick_threshold,
    separate_model_row,
)
from sledgehammer.evaluation.tradeoff_plot import plot_tradeoff
from sledgehammer.models import EarlyExitClassifier

logger = logging.getLogger(__name__)

DEFAULT_THRESHOLDS = "0.5,0.6,0.7,0.8,0.9,0.95,0.99,1.0"
JSON_NAME = "tradeoff.json"
CSV_NAME = "tradeoff.csv"
PLOT_NAME = "tradeoff.png"
TIMING_FIELDS = ("seconds_per_instance_b1", "speedup_b1", "seconds_per_instance_bN", "speedup_bN")
TIMED_KINDS = (THRESHOLD, FULL, SEPARATE)
# The agreement with the last exit at which the threshold policy's savings are set against the oracle's.
MIN_AGREEMENT = 0.99
COST_CONVENTION = (
    "FLOPs are InferenceCost estimates relative to the full model (every kept layer and the last exit "
    "head) on the same rows; with early exit (threshold < 1, oracles) a row pays the layers up to and "
    "the heads of every exit up to its answering exit; an exit used alone pays its layers and one head."
)


class TradeoffError(CommandInputError):
    """A problem with the user's input that `allennlp tradeoff` reports in one line, without a traceback."""


@Subcommand.register("tradeoff")
class Tradeoff(Subcommand):
    """
    Reports the speed/accuracy trade-off of a trained `sledgehammer_classifier` on labelled data, as a
    table, `tradeoff.json`, `tradeoff.csv` and a plot `tradeoff.png`.
    """

    def add_subparser(self, parser: argparse._SubParsersAction) -> argparse.ArgumentParser:
        description = """Measure the speed/accuracy trade-off of a trained sledgehammer_classifier.
        Runs the model once over DATA (read with the archive's validation dataset reader; labels are
        needed) with every exit computed and, with the archive's temperatures, works out for each
        threshold the accuracy, where rows exit, the mean layers run and the estimated FLOPs relative to
        the full model; the same for each exit used alone (a truncated model), the full model and two
        oracles (earliest exit agreeing with the last one; earliest correct exit). With --time it also
        measures the seconds per instance of each threshold and of the plain full model, at batch size
        1 and at --batch-size. With --compare, separately trained models (e.g. truncated models
        trained alone with exit_layers [k]) are run on the same DATA and added to the table and plot.
        Writes tradeoff.json, tradeoff.csv and tradeoff.png to --output-dir and prints a markdown
        table."""
        subparser = parser.add_parser(
            self.name,
            description=description,
            help="Measure accuracy against cost for confidence thresholds of a sledgehammer_classifier.",
        )
        subparser.add_argument("archive_file", metavar="ARCHIVE", help="path to a model.tar.gz archive")
        subparser.add_argument("data", metavar="DATA", help="labelled data to evaluate on (e.g. the dev set)")
        subparser.add_argument(
            "--output-dir", required=True, metavar="DIR", help="folder to write the results to (created if needed)"
        )
        subparser.add_argument(
            "--thresholds",
            default=DEFAULT_THRESHOLDS,
            metavar="T1,T2,...",
            help="comma-separated confidence thresholds in [0, 1]",
        )
        subparser.add_argument(
            "--time",
            action="store_true",
            help="also measure seconds per instance of each threshold and of the plain full model, "
            "at batch size 1 and at --batch-size",
        )
        subparser.add_argument(
            "--time-instances",
            type=int,
            metavar="N",
            help="with --time, time on the first N instances of DATA only (default: all)",
        )
        subparser.add_argument(
            "--num-threads",
            type=int,
            metavar="N",
            help="torch intra-op threads for the whole run (default: torch's default); on a machine "
            "busy with other work, 1 gives far steadier timings",
        )
        subparser.add_argument(
            "--max-accuracy-drop",
            type=float,
            metavar="POINTS",
            help="print the cheapest threshold whose accuracy is at most POINTS percentage points below "
            "the full model's (by measured speedup at batch size 1 with --time, else by FLOPs)",
        )
        subparser.add_argument(
            "--compare",
            action="append",
            default=[],
            metavar="OTHER_ARCHIVE",
            help="a separately trained sledgehammer_classifier archive (e.g. a truncated model trained "
            "alone) to run on DATA and add to the table and plot, named by its folder; repeatable. "
            "Loaded without --overrides; its last exit answers",
        )
        add_model_run_arguments(subparser)
        subparser.set_defaults(func=tradeoff_from_args)
        return subparser


def tradeoff_from_args(args: argparse.Namespace) -> None:
    """Runs `run_tradeoff` with the parsed arguments; input problems end the program with status 2."""
    with reporting_input_errors("tradeoff"):
        run_tradeoff(
            archive_file=args.archive_file,
            data=args.data,
            output_dir=args.output_dir,
            thresholds=parse_thresholds(args.thresholds),
            batch_size=args.batch_size,
            time_speed=args.time,
            time_instances=args.time_instances,
            num_threads=args.num_threads,
            max_accuracy_drop=args.max_accuracy_drop,
            compare=args.compare,
            cuda_device=args.cuda_device,
            overrides=args.overrides,
        )


def parse_thresholds(text: str) -> List[float]:
    """
    Parses a comma-separated list of thresholds in [0, 1] (e.g. `"0.5,0.9,1"`) into a sorted list
    without duplicates.

    # Raises

    `TradeoffError` for an empty list, an item that is not a number or a number outside [0, 1].
    """
    items = [item.strip() for item in text.split(",")]
    if not any(items):
        raise TradeoffError("--thresholds is empty; give comma-separated numbers in [0, 1], e.g. 0.5,0.9,1.0")
    thresholds = set()
    for item in items:
        try:
            value = float(item)
        except ValueError:
            raise TradeoffError(
                f"--thresholds: {item!r} is not a number; give comma-separated numbers in [0, 1]"
            ) from None
        if not 0.0 <= value <= 1.0:  # also refuses NaN
            raise TradeoffError(f"--thresholds: {item} is outside [0, 1]")
        thresholds.add(value)
    return sorted(thresholds)


def run_tradeoff(
    archive_file: Union[str, "os.PathLike[str]"],
    data: str,
    output_dir: Union[str, "os.PathLike[str]"],
    thresholds: Optional[List[float]] = None,
    batch_size: int = 32,
    time_speed: bool = False,
    time_instances: Optional[int] = None,
    num_threads: Optional[int] = None,
    max_accuracy_drop: Optional[float] = None,
    compare: Sequence[Union[str, "os.PathLike[str]"]] = (),
    cuda_device: int = -1,
    overrides: Union[str, Dict[str, Any]] = "",
) -> Dict[str, Any]:
    """
    Computes the trade-off table of an archived `sledgehammer_classifier` on labelled `data`, prints it
    as markdown and writes `tradeoff.json`, `tradeoff.csv` and `tradeoff.png` to `output_dir`.

    # Parameters

    archive_file : `Union[str, os.PathLike]`
        A local `model.tar.gz`.
    data : `str`
        Labelled data in a format the archive's validation dataset reader reads.
    output_dir : `Union[str, os.PathLike]`
        Created if needed.
    thresholds : `List[float]`, optional (default = `None`)
        Thresholds in [0, 1]; `None` means 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99 and 1.0.
    batch_size : `int`, optional (default = `32`)
    time_speed : `bool`, optional (default = `False`)
        Also measure seconds per instance at batch size 1 and at `batch_size` (threshold and full rows
        get `seconds_per_instance_b1`, `speedup_b1`, `seconds_per_instance_bN`, `speedup_bN`; speedup is
        the full model's seconds over the variant's).
    time_instances : `int`, optional (default = `None`)
        Time on the first `time_instances` instances only; `None` times on all.
    num_threads : `int`, optional (default = `None`)
        `torch.set_num_threads` for the run (restored afterwards); `None` keeps torch's setting.
    max_accuracy_drop : `float`, optional (default = `None`)
        If given, pick (and print) the cheapest threshold within this many accuracy points of the full
        model; see `pick_threshold`.
    compare : `Sequence[Union[str, os.PathLike]]`, optional (default = `()`)
        Archives of separately trained `sledgehammer_classifier`s (e.g. truncated models trained alone
        with `exit_layers: [k]`), loaded without `overrides`, run on `data` with their own readers and
        added as `separate_model` rows (see `separate_model_row`), named by their folder (or file name
        when it is not `model.tar.gz`); with `time_speed` they are timed in the same loop. For each,
        the report's `meta["comparisons"]` holds the most accurate threshold that costs no more FLOPs.
        (Every report's `meta["oracle_savings"]` sets the cheapest threshold agreeing with the last exit
        on >= 99 % of rows against the consistency oracle; see `oracle_savings_share`.)
    cuda_device : `int`, optional (default = `-1`)
    overrides : `Union[str, Dict[str, Any]]`, optional (default = `""`)
        Overrides of the archived configuration used when loading the model and reader.

    # Returns

    The content of `tradeoff.json`: `meta` (inputs, model facts, timing set-up, the picked threshold)
    and `rows` (see `compute_tradeoff`).

    # Raises

    `TradeoffError` for unusable inputs, with a one-line message.
    """
    archive_file = os.fspath(archive_file)
    output_dir = os.fspath(output_dir)
    thresholds = parse_thresholds(DEFAULT_THRESHOLDS) if thresholds is None else list(thresholds)
    _check_arguments(thresholds, batch_size, time_instances, num_threads, max_accuracy_drop)
    check_archive_config(archive_file, "tradeoff", error_class=TradeoffError)
    compared_files = _name_compared_archives([os.fspath(path) for path in compare])
    for compared_file in compared_files.values():
        check_archive_config(compared_file, "tradeoff", error_class=TradeoffError)
    check_data_path(data, "DATA", error_class=TradeoffError)
    if os.path.exists(output_dir) and not os.path.isdir(output_dir):
        raise TradeoffError(f"--output-dir {output_dir} is a file, not a folder")

    default_threads = torch.get_num_threads()
    if num_threads is not None:
        torch.set_num_threads(num_threads)
    try:
        return _run_checked(
            archive_file, data, output_dir, thresholds, batch_size, time_speed, time_instances,
            max_accuracy_drop, compared_files, cuda_device, overrides,
        )
    finally:
        torch.set_num_threads(default_threads)


def _run_checked(
    archive_file: str,
    data: str,
    output_dir: str,
    thresholds: List[float],
    batch_size: int,
    time_speed: bool,
    time_instances: Optional[int],
    max_accuracy_drop: Optional[float],
    compared_files: Dict[str, str],
    cuda_device: int,
    overrides: Union[str, Dict[str, Any]],
) -> Dict[str, Any]:
    archive = load_checked_archive(archive_file, cuda_device, overrides, error_class=TradeoffError)
    model: EarlyExitClassifier = archive.model  # type: ignore[assignment]
    instances = read_labelled_instances(archive, data, "DATA", purpose="accuracy", error_class=TradeoffError)
    outputs = collect_exit_outputs(model, instances, batch_size=batch_size, cuda_device=cuda_device)
    rows = compute_tradeoff(
        outputs,
        thresholds,
        temperatures=model.temperatures,
        exit_layers=model.exit_layers,
        cost=model._cost,
        full_layers=model._encoder.num_layers,
    )
    compared = {
        name: _run_compared(name, path, data, instances, batch_size, cuda_device)
        for name, path in compared_files.items()
    }
    for name, (other, _, other_outputs) in compared.items():
        rows.append(
            separate_model_row(name, other_outputs, other._cost, other._encoder.num_layers,
                               outputs, model._cost, model._encoder.num_layers)
        )
    meta: Dict[str, Any] = {
        "archive": os.path.abspath(archive_file),
        "data": data,
        "num_instances": len(instances),
        "exit_layers": list(model.exit_layers),
        "full_layers": model._encoder.num_layers,
        "temperatures": model.temperatures,
        "thresholds": thresholds,
        "batch_size": batch_size,
        "cuda_device": cuda_device,
        "torch_version": torch.__version__,
        "num_threads": torch.get_num_threads(),
        "accuracy_unit": "fraction of rows (0-1)",
        "cost_convention": COST_CONVENTION,
        "timed": time_speed,
    }
    if compared:
        meta["compared_archives"] = {name: os.path.abspath(path) for name, path in compared_files.items()}
    if time_speed:
        limit = len(instances) if time_instances is None else time_instances
        others = {name: (other, other_instances[:limit]) for name, (other, other_instances, _) in compared.items()}
        meta.update(_add_timing(rows, model, instances[:limit], thresholds, batch_size, cuda_device, others))
    if compared:
        meta["comparisons"] = compare_with_thresholds(rows)
    meta["oracle_savings"] = oracle_savings_share(rows, MIN_AGREEMENT)

    picked = None
    if max_accuracy_drop is not None:
        picked = pick_threshold(rows, max_accuracy_drop)
        meta["pick"] = {
            "max_accuracy_drop_points": max_accuracy_drop,
            "by": "speedup_b1" if time_speed else "relative_flops",
            "threshold": None if picked is None else picked["threshold"],
        }
    report = {"meta": meta, "rows": rows}

    print(format_markdown_table(report))
    if max_accuracy_drop is not None:
        print(format_pick(rows, picked, max_accuracy_drop, batch_size if time_speed else None))
    print(format_oracle_savings(meta["oracle_savings"], MIN_AGREEMENT))
    for comparison in meta.get("comparisons", []):
        print(format_comparison(comparison))
    _write_outputs(report, output_dir)
    print(f"Wrote {JSON_NAME}, {CSV_NAME} and {PLOT_NAME} to {output_dir}")
    return report


def _add_timing(
    rows: List[Dict[str, Any]],
    model: EarlyExitClassifier,
    instances: List[Instance],
    thresholds: List[float],
    batch_size: int,
    cuda_device: int,
    other_models: Dict[str, Tuple[EarlyExitClassifier, List[Instance]]],
) -> Dict[str, Any]:
    """Measures seconds per instance at batch size 1 and `batch_size` and adds them to the rows."""
    per_batch_size = {}
    for suffix, size in (("b1", 1), ("bN", batch_size)):
        if suffix == "bN" and batch_size == 1:
            per_batch_size["bN"] = per_batch_size["b1"]
        else:
            per_batch_size[suffix] = measure_seconds(
                model, instances, thresholds, size, cuda_device=cuda_device, other_models=other_models
            )
    for row in rows:
        timed = row["kind"] in TIMED_KINDS
        for suffix, seconds in per_batch_size.items():
            variant = seconds.get(row["name"]) if timed else None
            row[f"seconds_per_instance_{suffix}"] = variant
            row[f"speedup_{suffix}"] = None if variant is None else _ratio(seconds[FULL_NAME], variant)
    return {
        "timing": {
            "batch_sizes": {"b1": 1, "bN": batch_size},
            "num_instances": len(instances),
            "num_threads": int(per_batch_size["b1"][NUM_THREADS_KEY]),
            "unit": "seconds per instance",
            "full_model": "plain_forward_logits (one ordinary encoder pass, last exit head)",
        }
    }


def _name_compared_archives(paths: List[str]) -> Dict[str, str]:
    """Names each `--compare` archive by its folder (its file name when it is not `model.tar.gz`)."""
    named: Dict[str, str] = {}
    for path in paths:
        folder, file_name = os.path.split(os.path.abspath(path))
        name = os.path.basename(folder) if file_name == "model.tar.gz" else file_name
        if name in named or name == FULL_NAME or name.startswith("threshold="):
            raise TradeoffError(
                f"--compare {path}: the name {name!r} is already taken (by {named.get(name, 'a row')}); "
                "give archives in differently named folders"
            )
        named[name] = path
    return named


def _run_compared(
    name: str, path: str, data: str, instances: List[Instance], batch_size: int, cuda_device: int
) -> Tuple[EarlyExitClassifier, List[Instance], ExitOutputs]:
    """Loads a `--compare` archive, reads DATA with its reader and runs it once over every row."""
    archive = load_checked_archive(path, cuda_device, "", error_class=TradeoffError)
    other: EarlyExitClassifier = archive.model  # type: ignore[assignment]
    other_instances = read_labelled_instances(
        archive, data, f"DATA (read for --compare {path})", purpose="accuracy", error_class=TradeoffError
    )
    expected = [instance["label"].label for instance in instances]  # type: ignore[attr-defined]
    found = [instance["label"].label for instance in other_instances]  # type: ignore[attr-defined]
    if found != expected:
        raise TradeoffError(
            f"--compare {path}: its dataset reader reads DATA {data} as {len(found)} labelled rows that "
            f"differ from the early-exit model's {len(expected)}; both must read the same rows"
        )
    logger.info("Running %s (%s) over DATA", name, path)
    return other, other_instances, collect_exit_outputs(other, other_instances, batch_size, cuda_device)


def compare_with_thresholds(rows: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
    """
    For each `separate_model` row, the most accurate threshold row that costs no more relative FLOPs:
    a list of `{"name", "accuracy", "relative_flops", "threshold", "threshold_accuracy",
    "threshold_relative_flops", "accuracy_difference_points"}` (the threshold keys `None` when every
    threshold costs more).
    """
    thresholds = [row for row in rows if row["kind"] == THRESHOLD and row["accuracy"] is not None]
    comparisons = []
    for row in rows:
        if row["kind"] != SEPARATE or row["accuracy"] is None:
            continue
        cheaper = [other for other in thresholds if other["relative_flops"] <= row["relative_flops"] + 1e-9]
        best = max(cheaper, key=lambda other: (other["accuracy"], -other["relative_flops"]), default=None)
        comparisons.append({
            "name": row["name"],
            "accuracy": row["accuracy"],
            "relative_flops": row["relative_flops"],
            "threshold": None if best is None else best["threshold"],
            "threshold_accuracy": None if best is None else best["accuracy"],
            "threshold_relative_flops": None if best is None else best["relative_flops"],
            "accuracy_difference_points":
                None if best is None else 100.0 * (best["accuracy"] - row["accuracy"]),
        })
    return comparisons


def format_oracle_savings(share: Optional[Dict[str, Any]], min_agreement: float) -> str:
    """The sentence on how much of the consistency oracle's savings the threshold policy gets."""
    if share is None:
        return f"no threshold agrees with the last exit on {100.0 * min_agreement:g}% of the rows"
    ratio = share["share_of_oracle_savings"]
    return (
        f"at >= {100.0 * min_agreement:g}% agreement with the last exit: threshold {share['threshold']:g} "
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
        f"the early-exit model at threshold {comparison['threshold']:g} gets "
        f"{100.0 * comparison['threshold_accuracy']:.2f}% at {comparison['threshold_relative_flops']:.3f} "
        f"({comparison['accuracy_difference_points']:+.2f} points)"
    )


def _ratio(numerator: float, denominator: float) -> Optional[float]:
    return numerator / denominator if denominator > 0 else None


# ---- output -------------------------------------------------------------------------------------------


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
) -> str:
    """The sentence `--max-accuracy-drop` prints about the picked threshold (or its absence)."""
    full = next(row for row in rows if row["kind"] == FULL)
    if picked is None:
        return (
            f"no threshold keeps accuracy within {max_accuracy_drop:g} points of the full model "
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
        f"threshold {picked['threshold']:g} keeps accuracy within {max_accuracy_drop:g} points of the full "
        f"model ({100.0 * picked['accuracy']:.2f}% vs {100.0 * full['accuracy']:.2f}%) and saves "
        f"{saved:.1f}% of FLOPs ({speedup})"
    )


def _flops_speedup(relative_flops: float) -> str:
    return f"{1.0 / relative_flops:.2f}\u00d7" if relative_flops > 0 else "\u221e\u00d7"


def _number(value: Optional[float], scale: float, spec: str) -> str:
    return "-" if value is None else format(scale * value, spec)


def _write_outputs(report: Dict[str, Any], output_dir: str) -> None:
    try:
        os.makedirs(output_dir, exist_ok=True)
    except OSError as error:
        raise TradeoffError(f"cannot create --output-dir {output_dir}: {error}") from None
    with open(os.path.join(output_dir, JSON_NAME), "w", encoding="utf-8") as f:
        json.dump(_json_safe(report), f, indent=2)
        f.write("\n")
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
    """One line per row; `exit_fractions` becomes one `exit_fraction_<layer>` column per exit."""
    rows = report["rows"]
    layers = report["meta"]["exit_layers"]
    columns = ["kind", "name", "threshold", "accuracy", "mean_layers", "relative_layers", "relative_flops",
               "agreement_with_last_exit"] + [f"exit_fraction_{layer}" for layer in layers]
    if report["meta"].get("timed"):
        columns += list(TIMING_FIELDS)
    with open(path, "w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(columns)
        for row in rows:
            flat = dict(row)
            for layer, fraction in zip(layers, row["exit_fractions"]):
                flat[f"exit_fraction_{layer}"] = fraction
            writer.writerow(["" if flat.get(column) is None else flat[column] for column in columns])


def _json_safe(value: Any) -> Any:
    """Replaces non-finite floats (invalid in strict JSON) by `None`."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: _json_safe(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_json_safe(item) for item in value]
    return value


# ---- input checks -------------------------------------------------------------------------------------


def _check_arguments(
    thresholds: List[float],
    batch_size: int,
    time_instances: Optional[int],
    num_threads: Optional[int],
    max_accuracy_drop: Optional[float],
) -> None:
    if not thresholds:
        raise TradeoffError("no thresholds given")
    for threshold in thresholds:
        if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or not 0.0 <= threshold <= 1.0:
            raise TradeoffError(f"thresholds must be numbers in [0, 1], got {threshold!r}")
    if batch_size < 1:
        raise TradeoffError(f"--batch-size must be at least 1, got {batch_size}")
    if time_instances is not None and time_instances < 1:
        raise TradeoffError(f"--time-instances must be at least 1, got {time_instances}")
    if num_threads is not None and num_threads < 1:
        raise TradeoffError(f"--num-threads must be at least 1, got {num_threads}")
    if max_accuracy_drop is not None and not max_accuracy_drop >= 0:
        raise TradeoffError(f"--max-accuracy-drop must be a number of points >= 0, got {max_accuracy_drop}")

