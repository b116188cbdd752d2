"""The arguments and options of `allennlp calibrate` (its parser; the command itself is in `calibrate.py`)."""
import argparse

from sledgehammer.commands.archive_inputs import add_model_run_arguments
from sledgehammer.models.precision import CALIBRATION_KEY, PRECISIONS
from sledgehammer.modules.exit_policies import ExitPolicy

DESCRIPTION = """Calibrate the exits of a trained sledgehammer_classifier or sledgehammer_tagger
(one row per word) with temperature scaling. Runs the model once over DEV_DATA (read with the archive's validation
dataset reader) with every exit computed, fits one temperature per exit by minimising the negative
log-likelihood of the exit's raw logits (so calibrating again replaces earlier temperatures),
prints the temperature, negative log-likelihood, expected calibration error and accuracy of
every exit, and writes an archive whose config.json holds the temperatures as
model.temperatures and which contains the same figures as calibration.json (also written
beside the archive). Every other member of the archive is copied unchanged. With --selection-data, the
agreement predictors and the threshold with a guarantee come from that file's unlabelled texts instead."""


def add_calibrate_arguments(subparser: argparse.ArgumentParser) -> None:
    """Adds the arguments and options of `allennlp calibrate` to its parser."""
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
        "per-exit predictors of agreement with the last exit on DEV_DATA (on --selection-data when given)",
    )
    subparser.add_argument(
        "--target-agreement",
        type=float,
        metavar="A",
        help="also pick the policy's threshold so that, with probability >= 1 - DELTA, the answers agree "
        "with the last exit's on at least this share of new rows (Learn-then-Test on half of DEV_DATA, "
        "the other half fitting the temperatures; or on half of --selection-data, the other half fitting the "
        "predictors), and store it as the archive's threshold",
    )
    subparser.add_argument(
        "--delta", type=float, default=0.1, metavar="D",
        help="with --target-agreement: allowed probability that the guarantee fails (default 0.1)",
    )
    subparser.add_argument(
        "--seed", type=int, default=13, metavar="S",
        help="with --target-agreement: seed of the split of DEV_DATA (or --selection-data) into fitting and "
        "selection rows",
    )
    subparser.add_argument(
        "--selection-data",
        metavar="FILE",
        help="unlabelled texts for the agreement predictors and the threshold selection (their target is the "
        "last exit's answer): allennlp predict JSON lines ({\"sentence\": ...}) or any file the archive's reader "
        "reads, labels ignored. They must be new to the model (never its training data) and drawn like the data "
        "it will serve. Temperatures still come from DEV_DATA's gold labels",
    )
    subparser.add_argument(
        "--per-exit-thresholds",
        action="store_true",
        help="with --target-agreement: certify one of a family of per-exit threshold settings (chosen on the "
        "fitting rows, e.g. a lower threshold at an early exit than at later ones, tested in a fixed sequence) "
        "instead of one threshold for every exit",
    )
    subparser.add_argument(
        "--quantize",
        choices=PRECISIONS,
        help="calibrate the model in this precision (default: the quantize key of --overrides, else fp32): "
        "int8 fits temperatures, agreement predictors and the threshold of the dynamically quantized model and "
        f"stores them as model.{CALIBRATION_KEY}.int8 (and calibration_int8.json), leaving the fp32 ones as they are",
    )
    add_model_run_arguments(subparser)
