"""
The `tradeoff` subcommand measures the speed/accuracy trade-off of a trained `sledgehammer_classifier` (for a
`sledgehammer_tagger`, see `sledgehammer.evaluation.tagger_tradeoff_report`):
accuracy and cost of each exit policy at each threshold, of each exit used alone, of the full model and of two
oracles, computed from one pass over labelled data that runs every exit, and optionally the measured
seconds per instance of each threshold and of the plain full model. The work is done by library code
(`sledgehammer.evaluation.tradeoff_report` and `tradeoff_format`); this module reads the arguments and files.

    allennlp tradeoff ARCHIVE DATA --output-dir DIR [--thresholds 0.5,0.6,...,1.0] [--policies P1,P2,...]
                      [--batch-size N]
                      [--time] [--time-instances N] [--num-threads N] [--max-accuracy-drop POINTS]
                      [--compare OTHER_ARCHIVE ...] [--precisions fp32,int8] [--cuda-device D]
                      [--overrides JSON] [--include-package PACKAGE]
"""
import argparse
import os
from typing import Any, Callable, Dict, List, Optional, Sequence, Union

import torch
from allennlp.commands.subcommand import Subcommand

from sledgehammer.commands.archive_inputs import (
    check_archive_config,
    check_data_path,
    load_checked_archive,
    read_labelled_instances,
    reporting_input_errors,
)
from sledgehammer.commands.compared_archives import name_compared_archives, run_compared_archive, run_in_precision
from sledgehammer.commands.precision_inputs import (
    overrides_dict,
    overrides_with_precision,
    parse_precisions,
    precision_in_overrides,
)
from sledgehammer.commands.tradeoff_arguments import (
    ALL_POLICIES,
    add_tradeoff_arguments,
    DEFAULT_THRESHOLDS,
    TradeoffError,
    check_arguments,
    parse_policies,
    parse_thresholds,
    parse_windows,
    select_policies,
)
from sledgehammer.common.model_types import registered_model_class
from sledgehammer.evaluation.certified_point import add_certified_point, read_certified_setting
from sledgehammer.evaluation.exit_outputs import collect_exit_outputs
from sledgehammer.evaluation.tagger_tradeoff_format import format_tagger_report, write_tagger_outputs
from sledgehammer.evaluation.tagger_tradeoff_report import build_tagger_tradeoff_report
from sledgehammer.evaluation.tradeoff_format import CSV_NAME, JSON_NAME, PLOT_NAME, format_report, write_outputs
from sledgehammer.evaluation.tradeoff_report import MIN_AGREEMENT, build_tradeoff_report
from sledgehammer.models import EarlyExitClassifier, EarlyExitTagger
from sledgehammer.models.precision import FP32


TRADEOFF_MODELS = (EarlyExitClassifier, EarlyExitTagger)


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
        the full model, for every exit policy (confidence, entropy, patience, and agreement when the
        archive holds fitted agreement predictors); the same for each exit used alone (a truncated model), the full model and two
        oracles (earliest exit agreeing with the last one; earliest correct exit). With --time it also
        measures the seconds per instance of each threshold and of the plain full model, at batch size
        1 and at --batch-size. With --compare, separately trained models (e.g. truncated models
        trained alone with exit_layers [k]) are run on the same DATA and added to the table and plot.
        Writes tradeoff.json, tradeoff.csv and tradeoff.png to --output-dir and prints a markdown
        table. On a sledgehammer_tagger archive it instead runs the model online for each exit alone,
        sentence-level exit at each threshold, token-level exit at each threshold and --windows value, and
        the token-level consistency oracle, and reports span F1 (or accuracy) against cost."""
        subparser = parser.add_parser(
            self.name,
            description=description,
            help="Measure accuracy (or F1) against cost of a sledgehammer_classifier or sledgehammer_tagger.",
        )
        add_tradeoff_arguments(subparser)
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
            policies=args.policies,
            windows=parse_windows(args.windows),
            batch_size=args.batch_size,
            time_speed=args.time,
            time_instances=args.time_instances,
            num_threads=args.num_threads,
            max_accuracy_drop=args.max_accuracy_drop,
            compare=args.compare,
            cuda_device=args.cuda_device,
            overrides=args.overrides,
            precisions=None if args.precisions is None else parse_precisions(args.precisions, error_class=TradeoffError),
        )


def run_tradeoff(
    archive_file: Union[str, "os.PathLike[str]"],
    data: str,
    output_dir: Union[str, "os.PathLike[str]"],
    thresholds: Optional[List[float]] = None,
    policies: str = ALL_POLICIES,
    windows: Sequence[int] = (1, 5, 15),
    batch_size: int = 32,
    time_speed: bool = False,
    time_instances: Optional[int] = None,
    num_threads: Optional[int] = None,
    max_accuracy_drop: Optional[float] = None,
    compare: Sequence[Union[str, "os.PathLike[str]"]] = (),
    cuda_device: int = -1,
    overrides: Union[str, Dict[str, Any]] = "",
    precisions: Optional[Sequence[str]] = None,
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
    policies : `str`, optional (default = `"all"`)
        Comma-separated exit policy names, or `"all"` (see `select_policies`). Classifiers only: a tagger runs
        with its archive's policy (choose another with `overrides`).
    windows : `Sequence[int]`, optional (default = `(1, 5, 15)`)
        For a `sledgehammer_tagger`: the windows of token-level exit to compare (see
        `sledgehammer.evaluation.tagger_tradeoff_report`, which makes a tagger's report instead).
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
    precisions : `Sequence[str]`, optional (default = `None`)
        Classifiers only: precisions to load the model in (`fp32` among them; see `parse_precisions`), each
        with `overrides` and its `quantize` key, run on the same rows and added to the report
        (`build_tradeoff_report`'s `precisions`). `None` is the report of `overrides`' precision alone, as before.

    # Returns

    The content of `tradeoff.json`: `meta` (inputs, model facts, timing set-up, per policy the picked threshold
    and the oracle savings, and `certified` when the archive holds a certified setting) and `rows` (see
    `compute_tradeoff`; a `certified` row for that setting, see `sledgehammer.evaluation.certified_point`).

    # Raises

    `TradeoffError` for unusable inputs, with a one-line message.
    """
    archive_file = os.fspath(archive_file)
    output_dir = os.fspath(output_dir)
    thresholds = parse_thresholds(DEFAULT_THRESHOLDS) if thresholds is None else list(thresholds)
    check_arguments(thresholds, batch_size, time_instances, num_threads, max_accuracy_drop)
    policy_names = parse_policies(policies)
    config = check_archive_config(archive_file, "tradeoff", error_class=TradeoffError, accepted=TRADEOFF_MODELS)
    is_tagger = issubclass(registered_model_class(config["model"]["type"]), EarlyExitTagger)
    if is_tagger and (compare or policy_names != [ALL_POLICIES] or precisions is not None):
        raise TradeoffError(
            "--compare, --policies and --precisions are for classifiers; a sledgehammer_tagger runs with its archive's "
            """exit policy (choose another with --overrides '{"exit_policy": {"type": "entropy"}}') and precision"""
        )
    if precisions is not None:
        precisions = parse_precisions(",".join(precisions), error_class=TradeoffError)
        if precision_in_overrides(overrides_dict(overrides, TradeoffError)) is not None:
            raise TradeoffError("--precisions loads the model in each precision; drop the quantize key of --overrides")
    compared_files = name_compared_archives([os.fspath(path) for path in compare])
    for compared_file in compared_files.values():
        check_archive_config(compared_file, "tradeoff", error_class=TradeoffError)
    check_data_path(data, "DATA", error_class=TradeoffError)
    if os.path.exists(output_dir) and not os.path.isdir(output_dir):
        raise TradeoffError(f"--output-dir {output_dir} is a file, not a folder")

    default_threads = torch.get_num_threads()
    if num_threads is not None:
        torch.set_num_threads(num_threads)
    try:
        archive = load_checked_archive(
            archive_file, cuda_device, overrides if precisions is None else overrides_with_precision(overrides, FP32),
            error_class=TradeoffError, accepted=TRADEOFF_MODELS,
        )
        if is_tagger:
            instances = read_labelled_instances(archive, data, "DATA", purpose="F1", error_class=TradeoffError)
            meta = {"archive": os.path.abspath(archive_file), "data": data}
            report = build_tagger_tradeoff_report(
                archive.model, instances, thresholds, windows, batch_size, time_speed, time_instances,
                max_accuracy_drop, cuda_device, meta,
            )
            _write_report(format_tagger_report(report), write_tagger_outputs, report, output_dir)
            return report
        model: EarlyExitClassifier = archive.model  # type: ignore[assignment]
        chosen = select_policies(policy_names, model)
        instances = read_labelled_instances(archive, data, "DATA", purpose="accuracy", error_class=TradeoffError)
        outputs = collect_exit_outputs(model, instances, batch_size=batch_size, cuda_device=cuda_device)
        compared = {
            name: run_compared_archive(name, path, data, instances, batch_size, cuda_device)
            for name, path in compared_files.items()
        }
        other_precisions = None if precisions is None else {
            precision: run_in_precision(archive_file, precision, overrides, policy_names, instances, batch_size,
                                        cuda_device)
            for precision in precisions if precision != FP32
        }
        meta = {"archive": os.path.abspath(archive_file), "data": data}
        if compared:
            meta["compared_archives"] = {name: os.path.abspath(path) for name, path in compared_files.items()}
        report = build_tradeoff_report(
            model, instances, outputs, chosen, thresholds, batch_size, time_speed, time_instances,
            max_accuracy_drop, compared, cuda_device, meta, other_precisions,
        )
        add_certified_point(report, model, outputs, read_certified_setting(archive_file, config))
    finally:
        torch.set_num_threads(default_threads)
    _write_report(format_report(report, max_accuracy_drop, MIN_AGREEMENT), write_outputs, report, output_dir)
    return report


def _write_report(
    printed: str, write: Callable[[Dict[str, Any], str], None], report: Dict[str, Any], output_dir: str
) -> None:
    """Prints the report, then writes its files into `output_dir` (created if needed)."""
    print(printed)
    try:
        os.makedirs(output_dir, exist_ok=True)
    except OSError as error:
        raise TradeoffError(f"cannot create --output-dir {output_dir}: {error}") from None
    write(report, output_dir)
    print(f"Wrote {JSON_NAME}, {CSV_NAME} and {PLOT_NAME} to {output_dir}")
