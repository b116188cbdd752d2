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
from typing import Any, Dict, List, Optional, Union

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
from sledgehammer.commands.archive_inputs import (
    CommandInputError,
    add_model_run_arguments,
    check_archive_config,
    check_data_path,
    load_checked_archive,
    read_labelled_instances,
    reporting_input_errors,
)
from sledgehammer.commands.precision_inputs import chosen_precision, overrides_with_precision
from sledgehammer.evaluation.exit_outputs import ExitOutputs, collect_exit_outputs
from sledgehammer.evaluation.tradeoff import THRESHOLD, compute_tradeoff
from sledgehammer.models import EarlyExitClassifier, EarlyExitTagger
from sledgehammer.models.precision import CALIBRATION_KEY, FP32, PRECISIONS
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
        description = """Calibrate the exits of a trained sledgehammer_classifier or sledgehammer_tagger
        (one row per word) with temperature scaling. Runs the model once over DEV_DATA (read with the archive's validation dataset reader)
        with every exit computed, fits one temperature per exit by minimising the negative
        log-likelihood of the exit's raw logits (so calibrating again replaces earlier temperatures),
        prints the temperature, negative log-likelihood, expected calibration error and accuracy of
        every exit, and writes an archive whose config.json holds the temperatures as
        model.temperatures and which contains the same figures as calibration.json (also written
        beside the archive). Every other member of the archive is copied unchanged."""
        subparser = parser.add_parser(
            self.name,
            description=description,
            help="Fit per-exit softmax temperatures of a sledgehammer_classifier or sledgehammer_tagger archive.",
        )
        subparser.add_argument("archive_file", metavar="ARCHIVE", help="path to a model.tar.gz archive")
        subparser.add_argument(
            "dev_data", metavar="DEV_DATA", help="labelled data to calibrate on (e.g. the dev set)"
        )
        subparser.add_argument(
            "--output-archive",
            metavar="PATH",
            help="where to write the calibrated archive; by default ARCHIVE is replaced (atomically)",
        )
        subparser.add_argument(
            "--plot",
            metavar="PATH.png",
            help="also write a reliability diagram (one panel per exit) to this image file",
        )
        subparser.add_argument(
            "--exit-policy",
            choices=ExitPolicy.list_available(),
            help="store this exit policy in the archive (default: keep the archive's); 'agreement' fits its "
            "per-exit predictors of agreement with the last exit on DEV_DATA",
        )
        subparser.add_argument(
            "--target-agreement",
            type=float,
            metavar="A",
            help="also pick the policy's threshold so that, with probability >= 1 - DELTA, the answers agree "
            "with the last exit's on at least this share of new rows (Learn-then-Test on half of DEV_DATA, "
            "the other half fitting the temperatures), and store it as the archive's threshold",
        )
        subparser.add_argument(
            "--delta", type=float, default=0.1, metavar="D",
            help="with --target-agreement: allowed probability that the guarantee fails (default 0.1)",
        )
        subparser.add_argument(
            "--seed", type=int, default=13, metavar="S",
            help="with --target-agreement: seed of the split of DEV_DATA into fitting and selection rows",
        )
        subparser.add_argument(
            "--quantize",
            choices=PRECISIONS,
            help="calibrate the model in this precision (default: the quantize key of --overrides, else fp32): "
            "int8 fits temperatures, agreement predictors and the threshold of the dynamically quantized model and "
            f"stores them as model.{CALIBRATION_KEY}.int8 (and calibration_int8.json), leaving the fp32 ones as they are",
        )
        add_model_run_arguments(subparser)
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

    # Returns

    The content written to `calibration.json` (`calibration_int8.json`): `archive`, `dev_data`, `precision`,
    `num_instances`, `num_bins`,
    `temperatures` (in exit-layer order), `exits` (one dictionary per exit, see
    `sledgehammer.calibration.calibrate_exits`), `fit_rows`, `exit_policy` (as stored) and
    `threshold_selection` (`None` without `target_agreement`).

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
    _check_output_path(destination, "--output-archive")
    if plot is not None:
        _check_output_path(os.fspath(plot), "--plot")

    archive = load_checked_archive(
        archive_file, cuda_device, overrides_with_precision(overrides, precision, CalibrationError),
        error_class=CalibrationError, accepted=CALIBRATED_MODELS,
    )
    model = archive.model
    if target_agreement is not None and not isinstance(model, EarlyExitClassifier):
        raise CalibrationError(
            f"--target-agreement picks thresholds for classifiers; {archive_file} holds a "
            f"{type(model).__name__}, whose sentence and window rules decide for several words at once"
        )
    instances = read_labelled_instances(
        archive, dev_data, "DEV_DATA", purpose="calibration", error_class=CalibrationError
    )
    outputs = collect_exit_outputs(model, instances, batch_size=batch_size, cuda_device=cuda_device)
    policy = model.exit_policy
    if exit_policy is not None and exit_policy != policy.name:
        policy = ExitPolicy.by_name(exit_policy)(threshold=model.threshold)
    try:
        calibrated = calibrate_exit_outputs(
            outputs.exit_logits, outputs.labels, model.exit_layers, policy,
            target_agreement=target_agreement, delta=delta, seed=seed, num_bins=num_bins,
        )
    except TooFewRowsError as error:
        raise CalibrationError(f"--target-agreement on {dev_data}: {error}") from None
    except ValueError as error:
        raise CalibrationError(f"cannot calibrate on {dev_data}: {error}") from None
    exits, temperatures, policy = calibrated["exits"], calibrated["temperatures"], calibrated["policy"]
    selection = calibrated["selection"]
    if selection is not None:
        selection["relative_flops"] = _relative_flops(model, outputs, temperatures, policy)
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
    if selection is not None and precision != FP32:
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


def _relative_flops(model, outputs: ExitOutputs, temperatures: List[float], policy: ExitPolicy) -> float:
    """The policy's relative FLOPs at its threshold on every row of `outputs` (the trade-off's cost model)."""
    rows = compute_tradeoff(
        outputs, [policy.threshold], temperatures, model.exit_layers, model.cost,
        full_layers=model.num_encoder_layers, policies=[policy],
    )
    return next(row["relative_flops"] for row in rows if row["kind"] == THRESHOLD)
