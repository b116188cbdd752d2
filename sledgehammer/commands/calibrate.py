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
import sys
import tempfile
from typing import Any, Dict, List, Optional, Tuple, Union

import torch
from allennlp.commands.subcommand import Subcommand
from allennlp.common.checks import ConfigurationError
from allennlp.common.tqdm import Tqdm
from allennlp.data import Instance
from allennlp.data.data_loaders import SimpleDataLoader
from allennlp.models.archival import load_archive
from allennlp.nn.util import move_to_device

from sledgehammer.calibration import DEFAULT_NUM_BINS, calibrate_exits, plot_reliability
from sledgehammer.common.archive_files import (
    CONFIG_NAME,
    ArchiveError,
    read_archive_config,
    write_archive_with_replacements,
)
from sledgehammer.models import EarlyExitClassifier

logger = logging.getLogger(__name__)

MODEL_TYPE = "sledgehammer_classifier"
CALIBRATION_NAME = "calibration.json"


class CalibrationError(Exception):
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
            "--batch-size", type=int, default=32, metavar="N", help="batch size for running the model"
        )
        subparser.add_argument(
            "--cuda-device", type=int, default=-1, metavar="D", help="id of GPU to use (-1 for CPU)"
        )
        subparser.add_argument(
            "-o",
            "--overrides",
            type=str,
            default="",
            help="a json(net) structure used to override the archived configuration when loading "
            "the model and dataset reader, e.g. '{\"dataset_reader.max_length\": 128}'",
        )
        subparser.add_argument(
            "--plot",
            metavar="PATH.png",
            help="also write a reliability diagram (one panel per exit) to this image file",
        )
        subparser.set_defaults(func=calibrate_from_args)
        return subparser


def calibrate_from_args(args: argparse.Namespace) -> None:
    """Runs `calibrate_archive` with the parsed arguments; input problems end the program with status 2."""
    try:
        calibrate_archive(
            archive_file=args.archive_file,
            dev_data=args.dev_data,
            output_archive=args.output_archive,
            batch_size=args.batch_size,
            cuda_device=args.cuda_device,
            overrides=args.overrides,
            plot=args.plot,
        )
    except CalibrationError as error:
        print(f"allennlp calibrate: error: {error}", file=sys.stderr)
        sys.exit(2)


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
    config = _read_checked_config(archive_file)
    _check_dev_data(dev_data)
    _check_output_path(destination, "--output-archive")
    if plot is not None:
        _check_output_path(os.fspath(plot), "--plot")

    archive = _load_checked_archive(archive_file, cuda_device, overrides)
    model = archive.model
    instances = _read_labelled_instances(archive.validation_dataset_reader, dev_data, model.vocab)
    exit_logits, labels = collect_exit_logits(model, instances, batch_size, cuda_device)
    try:
        exits = calibrate_exits(exit_logits, labels, model.exit_layers, num_bins=num_bins)
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
    _write_file_atomically(beside, report_bytes)
    print(f"Wrote the calibrated archive to {destination}")
    return report


def collect_exit_logits(
    model: EarlyExitClassifier, instances: List[Instance], batch_size: int, cuda_device: int = -1
) -> Tuple[torch.Tensor, torch.Tensor]:
    """
    Runs a `sledgehammer_classifier` over labelled, indexed instances in evaluation mode with threshold
    1.0 (so every exit runs for every row) and returns the raw logits of every exit,
    `(num_instances, num_exits, num_labels)`, and the gold labels, `(num_instances,)`, on the CPU.
    The model's threshold is restored afterwards.
    """
    loader = SimpleDataLoader(instances, batch_size, vocab=model.vocab)
    threshold = model.threshold
    model.eval()
    model.threshold = 1.0
    all_logits, all_labels = [], []
    try:
        with torch.no_grad():
            for batch in Tqdm.tqdm(loader, desc="calibrate: running every exit"):
                batch = move_to_device(batch, cuda_device)
                output = model(**batch)
                all_logits.append(output["exit_logits"].detach().float().cpu())
                all_labels.append(batch["label"].detach().long().cpu())
    finally:
        model.threshold = threshold
    return torch.cat(all_logits), torch.cat(all_labels)


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


def _read_checked_config(archive_file: str) -> Dict[str, Any]:
    try:
        config = read_archive_config(archive_file)
    except ArchiveError as error:
        raise CalibrationError(str(error)) from None
    model = config.get("model")
    model_type = model.get("type") if isinstance(model, dict) else None
    if model_type != MODEL_TYPE:
        raise CalibrationError(
            f"{archive_file} holds a model of type {model_type!r}; calibrate only handles {MODEL_TYPE!r}"
        )
    return config


def _check_dev_data(dev_data: str) -> None:
    if "://" in dev_data:  # a URL; the dataset reader fetches it
        return
    if not os.path.exists(dev_data):
        raise CalibrationError(f"DEV_DATA {dev_data} does not exist")
    if os.path.isdir(dev_data):
        raise CalibrationError(f"DEV_DATA {dev_data} is a folder, not a data file")


def _check_output_path(path: str, option: str) -> None:
    if os.path.isdir(path):
        raise CalibrationError(f"{option} {path} is a folder; give a file name")


def _make_parent_folder(path: str, option: str) -> None:
    try:
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    except OSError as error:
        raise CalibrationError(f"cannot create the folder of {option} {path}: {error}") from None


def _load_checked_archive(archive_file: str, cuda_device: int, overrides: Union[str, Dict[str, Any]]):
    # Only called once `read_archive_config` has checked that every member extracts inside its folder.
    try:
        archive = load_archive(archive_file, cuda_device=cuda_device, overrides=overrides)
    except ConfigurationError as error:
        raise CalibrationError(f"cannot load {archive_file}: {error}") from None
    if not isinstance(archive.model, EarlyExitClassifier):
        raise CalibrationError(f"{archive_file} does not hold a {MODEL_TYPE}")
    return archive


def _read_labelled_instances(reader, dev_data: str, vocab) -> List[Instance]:
    """Reads, checks and indexes the calibration instances."""
    try:
        instances = list(reader.read(dev_data))
    except (ValueError, ConfigurationError, OSError) as error:  # DatasetFormatError is a ValueError
        raise CalibrationError(f"cannot read DEV_DATA {dev_data}: {error}") from None
    if not instances:
        raise CalibrationError(f"DEV_DATA {dev_data} has no instances; calibration needs labelled data")
    for number, instance in enumerate(instances, start=1):
        if "label" not in instance.fields:
            raise CalibrationError(
                f"DEV_DATA {dev_data} has no labels (instance {number} has no 'label' field); "
                "calibration needs gold labels"
            )
        reader.apply_token_indexers(instance)
        try:
            instance.index_fields(vocab)
        except KeyError:
            label_field = instance.fields["label"]
            namespace = getattr(label_field, "_label_namespace", "labels")
            known = ", ".join(repr(label) for label in vocab.get_token_to_index_vocabulary(namespace))
            raise CalibrationError(
                f"DEV_DATA {dev_data}: instance {number} has the label {label_field.label!r}, "
                f"which the model does not know (its labels: {known})"
            ) from None
    return instances


def _config_with_temperatures(config: Dict[str, Any], temperatures: List[float]) -> bytes:
    config = json.loads(json.dumps(config))
    config["model"]["temperatures"] = temperatures
    # A top-level "temperatures" (a load-time override) would take precedence over the model's; drop it.
    config.pop("temperatures", None)
    return (json.dumps(config, indent=4) + "\n").encode("utf-8")


def _write_file_atomically(path: str, content: bytes) -> None:
    folder = os.path.dirname(os.path.abspath(path))
    descriptor, temporary = tempfile.mkstemp(prefix=".partial-", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(descriptor, "wb") as output:
            output.write(content)
            output.flush()
            os.fsync(output.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(temporary, 0o666 & ~umask)
        os.replace(temporary, path)
    except BaseException:
        try:
            os.unlink(temporary)
        except OSError:
            pass
        raise
