"""
The `calibrate` subcommand fits one softmax temperature per exit of a trained `sledgehammer_classifier`
on labelled development data (and the agreement predictors of an `agreement` exit policy, and optionally a
threshold with a guarantee) and stores them in the model archive.

    allennlp calibrate ARCHIVE DEV_DATA [--output-archive PATH] [--batch-size N] [--cuda-device D]
                       [--exit-policy NAME] [--target-agreement A [--delta D] [--seed S]] [--quantize int8]
                       [--overrides JSON] [--plot PATH.png] [--include-package PACKAGE]
"""
import argparse
import logging
import os
from typing import Any, Dict, Optional, Union

from allennlp.commands.subcommand import Subcommand

from sledgehammer.calibration import (
    DEFAULT_NUM_BINS,
    TooFewRowsError,
    calibrate_exit_outputs,
    plot_reliability,
)
from sledgehammer.calibration.calibration_report import (  # noqa: F401  (CALIBRATION_NAME, for the command's users)
    CALIBRATION_NAME,
    format_calibration_table,
    format_threshold_selection,
    write_calibrated_archive,
)
from sledgehammer.calibration.certification_outlook import SettingSavings, policy_saving
from sledgehammer.commands.archive_inputs import (
    CommandInputError,
    check_archive_config,
    check_data_path,
    load_checked_archive,
    read_labelled_instances,
    reporting_input_errors,
)
from sledgehammer.commands.calibrate_arguments import DESCRIPTION, add_calibrate_arguments
from sledgehammer.commands.precision_inputs import chosen_precision, overrides_with_precision
from sledgehammer.commands.selection_inputs import read_selection_instances
from sledgehammer.evaluation.exit_outputs import collect_exit_outputs
from sledgehammer.models import EarlyExitClassifier, EarlyExitTagger
from sledgehammer.models.precision import CALIBRATION_KEY, FP32
from sledgehammer.modules.exit_policies import AgreementPolicy, ExitPolicy

logger = logging.getLogger(__name__)

# The models calibrate handles (a tagger's rows are its words).
CALIBRATED_MODELS = (EarlyExitClassifier, EarlyExitTagger)


class CalibrationError(CommandInputError):
    """A problem with the user's input that `allennlp calibrate` reports in one line, without a traceback."""


@Subcommand.register("calibrate")
class Calibrate(Subcommand):
    """
    Fits one temperature per exit of a trained `sledgehammer_classifier` or `sledgehammer_tagger` (or a
    registered subclass; a tagger's rows are its words) so that its confidences match its accuracy on
    labelled development data, and stores them in the archive's `config.json` as
    `model.temperatures`, which is what the early-exit rule thresholds.
    """

    def add_subparser(self, parser: argparse._SubParsersAction) -> argparse.ArgumentParser:
        subparser = parser.add_parser(
            self.name,
            description=DESCRIPTION,
            help="Fit per-exit softmax temperatures of a sledgehammer_classifier or sledgehammer_tagger archive.",
        )
        add_calibrate_arguments(subparser)
        subparser.set_defaults(func=calibrate_from_args)
        return subparser


def calibrate_from_args(args: argparse.Namespace) -> None:
    """Runs `calibrate_archive` with the parsed arguments; input problems end the program with status 2."""
    with reporting_input_errors("calibrate"):
        calibrate_archive(
            archive_file=args.archive_file,
            dev_data=args.dev_data,
            output_archive=args.output_archive,
            batch_size=args.batch_size,
            cuda_device=args.cuda_device,
            overrides=args.overrides,
            plot=args.plot,
            exit_policy=args.exit_policy,
            target_agreement=args.target_agreement,
            delta=args.delta,
            seed=args.seed,
            quantize=args.quantize,
            selection_data=args.selection_data,
            per_exit_thresholds=args.per_exit_thresholds,
        )


def calibrate_archive(
    archive_file: Union[str, "os.PathLike[str]"],
    dev_data: str,
    output_archive: Optional[Union[str, "os.PathLike[str]"]] = None,
    batch_size: int = 32,
    cuda_device: int = -1,
    overrides: Union[str, Dict[str, Any]] = "",
    plot: Optional[Union[str, "os.PathLike[str]"]] = None,
    num_bins: int = DEFAULT_NUM_BINS,
    exit_policy: Optional[str] = None,
    target_agreement: Optional[float] = None,
    delta: float = 0.1,
    seed: int = 13,
    quantize: Optional[str] = None,
    selection_data: Optional[str] = None,
    per_exit_thresholds: bool = False,
) -> Dict[str, Any]:
    """
    Calibrates the exits of an archived `sledgehammer_classifier` on `dev_data` and writes the
    calibrated archive. Nothing is written unless calibration succeeds.

    # Parameters

    archive_file : `Union[str, os.PathLike]`
        A local `model.tar.gz`.
    dev_data : `str`
        Labelled data in a format the archive's validation dataset reader reads.
    output_archive : `Union[str, os.PathLike]`, optional (default = `None`)
        Where to write the calibrated archive (its folder is created if needed). `None` replaces
        `archive_file` atomically.
    batch_size : `int`, optional (default = `32`)
    cuda_device : `int`, optional (default = `-1`)
    overrides : `Union[str, Dict[str, Any]]`, optional (default = `""`)
        Overrides of the archived configuration used when loading the model and reader; they are not
        stored in the new archive.
    plot : `Union[str, os.PathLike]`, optional (default = `None`)
        Where to write a reliability diagram.
    num_bins : `int`, optional (default = `15`)
        Confidence bins of the expected calibration error.
    exit_policy : `str`, optional (default = `None`)
        A registered `ExitPolicy` name to store in the archive (keeping the archive's threshold); `None`
        keeps the archive's policy. An `agreement` policy gets its predictors fitted here.
    target_agreement : `float`, optional (default = `None`)
        Agreement with the last exit to guarantee with probability `1 - delta`; picks and stores the policy's
        threshold (see `sledgehammer.calibration.calibrate_exit_outputs`).
    delta : `float`, optional (default = `0.1`)
    seed : `int`, optional (default = `13`)
        Seed of the split of the rows between fitting and threshold selection.
    quantize : `str`, optional (default = `None`)
        The precision to calibrate (`"fp32"` or `"int8"`); `None` is the `quantize` key of `overrides`, else fp32.
        The model is loaded in that precision and its calibration is stored for it: fp32's as the model's own
        settings, int8's as `model.calibration.int8` (`{"temperatures", "exit_policy" when stored, "threshold"
        with `target_agreement`}`) beside them, with the report as `calibration_int8.json`.
    selection_data : `str`, optional (default = `None`)
        Unlabelled texts (`allennlp predict` JSON lines, or a file the archive's reader reads, labels ignored;
        `sledgehammer.commands.selection_inputs`) that fit the agreement predictors and pick the setting in
        place of `dev_data`, whose gold labels then fit only the temperatures. Classifiers only.
    per_exit_thresholds : `bool`, optional (default = `False`)
        With `target_agreement`: certify a per-exit setting (one threshold per exit, stored as the policy's
        `exit_thresholds`) from a family chosen on the fitting rows, instead of one threshold.

    # Returns

    The content written to `calibration.json` (`calibration_int8.json`): `archive`, `dev_data`, `precision`,
    `num_instances`, `num_bins`,
    `temperatures` (in exit-layer order), `exits` (one dictionary per exit, see
    `sledgehammer.calibration.calibrate_exits`), `fit_rows`, `selection_data` and `selection_instances` (with
    `selection_data`), `exit_policy` (as stored) and `threshold_selection` (`None` without `target_agreement`).

    # Raises

    `CalibrationError` for unusable inputs, with a one-line message.
    """
    archive_file = os.fspath(archive_file)
    destination = os.fspath(output_archive) if output_archive is not None else archive_file
    if batch_size < 1:
        raise CalibrationError(f"--batch-size must be at least 1, got {batch_size}")
    if target_agreement is not None and not 0.0 < target_agreement < 1.0:
        raise CalibrationError(f"--target-agreement must be a share in (0, 1), e.g. 0.99; got {target_agreement}")
    if not 0.0 < delta < 1.0:
        raise CalibrationError(f"--delta must be a probability in (0, 1), e.g. 0.1; got {delta}")
    if exit_policy is not None and exit_policy not in ExitPolicy.list_available():
        raise CalibrationError(
            f"--exit-policy {exit_policy!r} is not a registered exit policy; "
            f"expected one of {', '.join(ExitPolicy.list_available())}"
        )
    precision = chosen_precision(quantize, overrides, "--quantize", error_class=CalibrationError)
    config = check_archive_config(archive_file, "calibrate", error_class=CalibrationError, accepted=CALIBRATED_MODELS)
    check_data_path(dev_data, "DEV_DATA", error_class=CalibrationError)
    if selection_data is not None:
        check_data_path(selection_data, "--selection-data", error_class=CalibrationError)
    _check_output_path(destination, "--output-archive")
    if plot is not None:
        _check_output_path(os.fspath(plot), "--plot")

    archive = load_checked_archive(
        archive_file, cuda_device, overrides_with_precision(overrides, precision, CalibrationError),
        error_class=CalibrationError, accepted=CALIBRATED_MODELS,
    )
    model = archive.model
    for option, given in (("--target-agreement", target_agreement is not None),
                          ("--selection-data", selection_data is not None)):
        if given and not isinstance(model, EarlyExitClassifier):
            raise CalibrationError(
                f"{option} is for classifiers; {archive_file} holds a "
                f"{type(model).__name__}, whose sentence and window rules decide for several words at once"
            )
    if per_exit_thresholds and target_agreement is None:
        raise CalibrationError("--per-exit-thresholds certifies a setting: give --target-agreement too")
    instances = read_labelled_instances(
        archive, dev_data, "DEV_DATA", purpose="calibration", error_class=CalibrationError
    )
    outputs = collect_exit_outputs(model, instances, batch_size=batch_size, cuda_device=cuda_device)
    policy = model.exit_policy
    if exit_policy is not None and exit_policy != policy.name:
        policy = ExitPolicy.by_name(exit_policy)(threshold=model.threshold)
    selection_outputs = None
    if selection_data is not None:
        if target_agreement is None and not isinstance(policy, AgreementPolicy):
            raise CalibrationError(
                "--selection-data fits the agreement predictors and picks the threshold: give --target-agreement "
                "or --exit-policy agreement too"
            )
        selection_instances = read_selection_instances(archive, selection_data, error_class=CalibrationError)
        selection_outputs = collect_exit_outputs(model, selection_instances, batch_size=batch_size,
                                                 cuda_device=cuda_device)
    rows_source = dev_data if selection_data is None else selection_data
    try:
        calibrated = calibrate_exit_outputs(
            outputs.exit_logits, outputs.labels, model.exit_layers, policy,
            target_agreement=target_agreement, delta=delta, seed=seed, num_bins=num_bins,
            selection_logits=None if selection_outputs is None else selection_outputs.exit_logits,
            per_exit=per_exit_thresholds, cost=model.cost, lengths=outputs.lengths,
            selection_lengths=None if selection_outputs is None else selection_outputs.lengths,
        )
    except TooFewRowsError as error:
        raise CalibrationError(f"--target-agreement on {rows_source}: {error}") from None
    except ValueError as error:
        raise CalibrationError(f"cannot calibrate on {rows_source}: {error}") from None
    exits, temperatures, policy = calibrated["exits"], calibrated["temperatures"], calibrated["policy"]
    selection = calibrated["selection"]
    if selection is not None:
        savings = SettingSavings(model.cost, model.exit_layers, outputs.lengths)
        selection["relative_flops"] = 1.0 - policy_saving(policy, outputs.exit_logits, temperatures, savings)
    # Archives made before exit policies keep their config as it was unless a policy is asked for or fitted.
    store_policy = exit_policy is not None or target_agreement is not None or isinstance(policy, AgreementPolicy)
    report = {
        "archive": os.path.abspath(archive_file),
        "dev_data": dev_data,
        "precision": precision,
        "num_instances": len(instances),
        "num_bins": num_bins,
        "temperatures": temperatures,
        "exits": exits,
        "fit_rows": calibrated["fit_rows"],
        **({} if selection_outputs is None else {
            "selection_data": selection_data, "selection_instances": selection_outputs.num_rows,
            "agreement_fit_rows": calibrated["agreement_rows"],
        }),
        "exit_policy": policy.configuration() if store_policy else None,
        "threshold_selection": selection,
    }
    print(format_calibration_table(report))
    if selection is not None:
        print(format_threshold_selection(policy.name, selection))

    if plot is not None:
        _make_parent_folder(os.fspath(plot), "--plot")
        plot_reliability(exits, plot)
    _make_parent_folder(destination, "--output-archive")
    calibration: Dict[str, Any] = {"temperatures": temperatures}
    if store_policy:
        calibration["exit_policy"] = report["exit_policy"]
    if selection is not None and precision != FP32 and selection["threshold"] is not None:
        calibration["threshold"] = selection["threshold"]
    write_calibrated_archive(archive_file, destination, config, calibration, report)
    where = "" if precision == FP32 else f" (the {precision} calibration, as model.{CALIBRATION_KEY}.{precision})"
    print(f"Wrote the calibrated archive{where} to {destination}")
    return report


def _check_output_path(path: str, option: str) -> None:
    if os.path.isdir(path):
        raise CalibrationError(f"{option} {path} is a folder; give a file name")


def _make_parent_folder(path: str, option: str) -> None:
    try:
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    except OSError as error:
        raise CalibrationError(f"cannot create the folder of {option} {path}: {error}") from None
