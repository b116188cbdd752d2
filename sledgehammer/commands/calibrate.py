"""
The `calibrate` subcommand fits one softmax temperature per exit of a trained `sledgehammer_classifier`
on labelled development data and stores the temperatures in the model archive.

    allennlp calibrate ARCHIVE DEV_DATA [--output-archive PATH] [--batch-size N] [--cuda-device D]
                       [--overrides JSON] [--plot PATH.png] [--include-package PACKAGE]
"""
import argparse
import json
import logging
import os
from typing import Any, Dict, List, Optional, Union

from allennlp.commands.subcommand import Subcommand

from sledgehammer.calibration import DEFAULT_NUM_BINS, calibrate_exits, plot_reliability
from sledgehammer.commands.archive_inputs import (
    CommandInputError,
    add_model_run_arguments,
    check_archive_config,
    check_data_path,
    load_checked_archive,
    read_labelled_instances,
    reporting_input_errors,
)
from sledgehammer.common.archive_files import (
    CONFIG_NAME,
    write_archive_with_replacements,
    write_bytes_atomically,
)
from sledgehammer.evaluation.exit_outputs import collect_exit_outputs

logger = logging.getLogger(__name__)

CALIBRATION_NAME = "calibration.json"


class CalibrationError(CommandInputError):
    """A problem with the user's input that `allennlp calibrate` reports in one line, without a traceback."""


@Subcommand.register("calibrate")
class Calibrate(Subcommand):
    """
    Fits one temperature per exit of a trained `sledgehammer_classifier` so that its confidences match
    its accuracy on labelled development data, and stores them in the archive's `config.json` as
    `model.temperatures`, which is what the early-exit rule thresholds.
    """

    def add_subparser(self, parser: argparse._SubParsersAction) -> argparse.ArgumentParser:
        description = """Calibrate the exits of a trained sledgehammer_classifier with temperature
        scaling. Runs the model once over DEV_DATA (read with the archive's validation dataset reader)
        with every exit computed, fits one temperature per exit by minimising the negative
        log-likelihood of the exit's raw logits (so calibrating again replaces earlier temperatures),
        prints the temperature, negative log-likelihood, expected calibration error and accuracy of
        every exit, and writes an archive whose config.json holds the temperatures as
        model.temperatures and which contains the same figures as calibration.json (also written
        beside the archive). Every other member of the archive is copied unchanged."""
        subparser = parser.add_parser(
            self.name,
            description=description,
            help="Fit per-exit softmax temperatures of a sledgehammer_classifier archive.",
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

    # Returns

    The content written to `calibration.json`: `archive`, `dev_data`, `num_instances`, `num_bins`,
    `temperatures` (in exit-layer order) and `exits` (one dictionary per exit, see
    `sledgehammer.calibration.calibrate_exits`).

    # Raises

    `CalibrationError` for unusable inputs, with a one-line message.
    """
    archive_file = os.fspath(archive_file)
    destination = os.fspath(output_archive) if output_archive is not None else archive_file
    if batch_size < 1:
        raise CalibrationError(f"--batch-size must be at least 1, got {batch_size}")
    config = check_archive_config(archive_file, "calibrate", error_class=CalibrationError)
    check_data_path(dev_data, "DEV_DATA", error_class=CalibrationError)
    _check_output_path(destination, "--output-archive")
    if plot is not None:
        _check_output_path(os.fspath(plot), "--plot")

    archive = load_checked_archive(archive_file, cuda_device, overrides, error_class=CalibrationError)
    model = archive.model
    instances = read_labelled_instances(
        archive, dev_data, "DEV_DATA", purpose="calibration", error_class=CalibrationError
    )
    outputs = collect_exit_outputs(model, instances, batch_size=batch_size, cuda_device=cuda_device)
    try:
        exits = calibrate_exits(outputs.exit_logits, outputs.labels, model.exit_layers, num_bins=num_bins)
    except ValueError as error:
        raise CalibrationError(f"cannot calibrate on {dev_data}: {error}") from None
    temperatures = [result["temperature"] for result in exits]
    report = {
        "archive": os.path.abspath(archive_file),
        "dev_data": dev_data,
        "num_instances": len(instances),
        "num_bins": num_bins,
        "temperatures": temperatures,
        "exits": exits,
    }
    print(format_calibration_table(report))

    if plot is not None:
        _make_parent_folder(os.fspath(plot), "--plot")
        plot_reliability(exits, plot)
    _make_parent_folder(destination, "--output-archive")
    report_bytes = (json.dumps(report, indent=2) + "\n").encode("utf-8")
    write_archive_with_replacements(
        archive_file,
        destination,
        {CONFIG_NAME: _config_with_temperatures(config, temperatures), CALIBRATION_NAME: report_bytes},
    )
    beside = os.path.join(os.path.dirname(os.path.abspath(destination)), CALIBRATION_NAME)
    write_bytes_atomically(beside, report_bytes)
    print(f"Wrote the calibrated archive to {destination}")
    return report


def format_calibration_table(report: Dict[str, Any]) -> str:
    """The per-exit figures of a calibration report as a plain-text table."""
    header = ("exit layer", "temperature", "NLL before", "NLL after", "ECE before", "ECE after", "accuracy")
    rows = [
        (
            str(result["exit_layer"]),
            f"{result['temperature']:.4f}",
            f"{result['nll_before']:.4f}",
            f"{result['nll_after']:.4f}",
            f"{result['ece_before']:.4f}",
            f"{result['ece_after']:.4f}",
            f"{result['accuracy']:.4f}",
        )
        for result in report["exits"]
    ]
    widths = [max(len(row[i]) for row in [header] + rows) for i in range(len(header))]
    lines = [
        f"Calibrated on {report['num_instances']} instances of {report['dev_data']} "
        f"(ECE with {report['num_bins']} bins):",
        "  ".join(cell.rjust(width) for cell, width in zip(header, widths)),
        "  ".join("-" * width for width in widths),
    ]
    lines += ["  ".join(cell.rjust(width) for cell, width in zip(row, widths)) for row in rows]
    return "\n".join(lines)


def _check_output_path(path: str, option: str) -> None:
    if os.path.isdir(path):
        raise CalibrationError(f"{option} {path} is a folder; give a file name")


def _make_parent_folder(path: str, option: str) -> None:
    try:
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    except OSError as error:
        raise CalibrationError(f"cannot create the folder of {option} {path}: {error}") from None


def _config_with_temperatures(config: Dict[str, Any], temperatures: List[float]) -> bytes:
    config = json.loads(json.dumps(config))
    config["model"]["temperatures"] = temperatures
    # A top-level "temperatures" (a load-time override) would take precedence over the model's; drop it.
    config.pop("temperatures", None)
    return (json.dumps(config, indent=4) + "\n").encode("utf-8")

