"""
Checks of the inputs that sledgehammer's subcommands share (`allennlp calibrate`, `allennlp tradeoff`):
a trained `EarlyExitClassifier` archive (a `sledgehammer_classifier` or a registered subclass) and
labelled data read with its validation dataset reader.

Every problem with the user's input is raised as a `CommandInputError` (or the subclass a command asks
for) with a one-line message, which the command prints without a traceback.
"""
import argparse
import os
import sys
from contextlib import contextmanager
from typing import Any, Dict, List, Tuple, Type, Union

from allennlp.common.checks import ConfigurationError
from allennlp.data import Instance
from allennlp.models.archival import Archive, load_archive

from sledgehammer.common.archive_files import ArchiveError, read_archive_config
from sledgehammer.common.cli_errors import one_line as _one_line
from sledgehammer.common.model_types import registered_model_class
from sledgehammer.models import EarlyExitClassifier, EarlyExitTagger

MODEL_TYPE = "sledgehammer_classifier"
# What each early-exit model class reads its gold answers from.
GOLD_FIELDS = ((EarlyExitTagger, "tags"), (EarlyExitClassifier, "label"))


class CommandInputError(Exception):
    """A user-input problem that a sledgehammer subcommand reports in one line, without a traceback."""


def check_archive_config(
    archive_file: str,
    command_name: str,
    error_class: Type[CommandInputError] = CommandInputError,
    accepted: Tuple[type, ...] = (EarlyExitClassifier,),
) -> Dict[str, Any]:
    """
    Checks, without extracting it, that `archive_file` is a safe model archive (see
    `sledgehammer.common.archive_files.read_archive_config`) holding an `EarlyExitClassifier`: its
    `model.type` must be a registered `Model` name whose class is `EarlyExitClassifier` or a subclass
    (`sledgehammer_classifier` or a user's own). Returns the parsed `config.json`.

    # Parameters

    archive_file : `str`
        A local `model.tar.gz`.
    command_name : `str`
        The subcommand, for the message about another model type (e.g. `"calibrate"`).
    error_class : `Type[CommandInputError]`, optional (default = `CommandInputError`)
        What to raise.
    accepted : `Tuple[type, ...]`, optional (default = `(EarlyExitClassifier,)`)
        The model classes (and their subclasses) the command handles.

    # Raises

    `error_class` when the archive is missing, unreadable or unsafe, or holds another model type.
    """
    try:
        config = read_archive_config(archive_file)
    except ArchiveError as error:
        raise error_class(str(error)) from None
    model = config.get("model")
    model_type = model.get("type") if isinstance(model, dict) else None
    model_class = registered_model_class(model_type)
    if model_class is None:
        raise error_class(
            f"{archive_file} holds a model of type {model_type!r}, which is not a registered Model; "
            f"{command_name} expected {_expected(accepted)} "
            f"(is the package that registers it imported? --include-package)"
        )
    if not issubclass(model_class, accepted):
        raise error_class(
            f"{archive_file} holds a model of type {model_type!r} ({model_class.__name__}); "
            f"{command_name} expected {_expected(accepted)}"
        )
    return config


def _expected(accepted: Tuple[type, ...]) -> str:
    names = {EarlyExitClassifier: MODEL_TYPE, EarlyExitTagger: "sledgehammer_tagger"}
    return " or ".join(f"{names.get(cls, cls.__name__)!r} (or a registered subclass of {cls.__name__})"
                       for cls in accepted)


def check_data_path(
    data: str, what: str, error_class: Type[CommandInputError] = CommandInputError
) -> None:
    """
    Checks that a local data path is an existing file. URLs (anything with `://`) are left to the
    dataset reader, which fetches them.

    # Parameters

    data : `str`
        The data path or URL.
    what : `str`
        How the command names the argument in messages (e.g. `"DEV_DATA"`, `"DATA"`).
    error_class : `Type[CommandInputError]`, optional (default = `CommandInputError`)
        What to raise.

    # Raises

    `error_class` when the path does not exist or is a folder.
    """
    if "://" in data:  # a URL; the dataset reader fetches it
        return
    if not os.path.exists(data):
        raise error_class(f"{what} {data} does not exist")
    if os.path.isdir(data):
        raise error_class(f"{what} {data} is a folder, not a data file")


def load_checked_archive(
    archive_file: str,
    cuda_device: int,
    overrides: Union[str, Dict[str, Any]],
    error_class: Type[CommandInputError] = CommandInputError,
    accepted: Tuple[type, ...] = (EarlyExitClassifier,),
) -> Archive:
    """
    Loads an archive with AllenNLP's `load_archive` and checks that it holds an `EarlyExitClassifier`.
    With the plugin imported, `load_archive` refuses unsafe archives itself
    (`sledgehammer.common.safe_extraction`); `check_archive_config` says so earlier, without loading.

    # Parameters

    archive_file : `str`
        A local `model.tar.gz`.
    cuda_device : `int`
        Id of the GPU to load the model on (-1 for the CPU).
    overrides : `Union[str, Dict[str, Any]]`
        Overrides of the archived configuration (a json(net) string or a dictionary).
    error_class : `Type[CommandInputError]`, optional (default = `CommandInputError`)
        What to raise.

    # Raises

    `error_class` when loading fails (`ArchiveError`, `ConfigurationError`, `OSError`, `RuntimeError`
    or `ValueError`; the message is collapsed to one line) or the model is not an
    `EarlyExitClassifier`.
    """
    try:
        archive = load_archive(archive_file, cuda_device=cuda_device, overrides=overrides)
    except (ArchiveError, ConfigurationError, OSError, RuntimeError, ValueError) as error:
        raise error_class(f"cannot load {archive_file}: {_one_line(error)}") from None
    if not isinstance(archive.model, accepted):
        raise error_class(
            f"{archive_file} holds a {type(archive.model).__name__}, expected "
            + " or ".join(cls.__name__ for cls in accepted)
        )
    return archive


def read_labelled_instances(
    archive: Archive,
    data: str,
    what: str,
    purpose: str = "the command",
    error_class: Type[CommandInputError] = CommandInputError,
) -> List[Instance]:
    """
    Reads `data` with the archive's validation dataset reader, checks that there is at least one
    instance and that every instance has a `label` field, and indexes every instance with the model's
    vocabulary (so a label the model does not know is reported here, naming the known labels).

    # Parameters

    archive : `Archive`
        An archive loaded with `load_checked_archive`.
    data : `str`
        Labelled data in a format the archive's validation dataset reader reads.
    what : `str`
        How the command names the data argument in messages (e.g. `"DEV_DATA"`, `"DATA"`).
    purpose : `str`, optional (default = `"the command"`)
        What needs the labels, for messages (e.g. `"calibration"`, `"accuracy"`).
    error_class : `Type[CommandInputError]`, optional (default = `CommandInputError`)
        What to raise.

    # Returns

    The instances, indexed and with their token indexers set.

    # Raises

    `error_class` when the data cannot be read (the message is collapsed to one line), has no
    instances, an instance has no label or a label the model does not know.
    """
    reader = archive.validation_dataset_reader
    vocab = archive.model.vocab
    gold = gold_field(archive.model)
    instances = read_with_reader(archive, data, what, error_class)
    if not instances:
        raise error_class(f"{what} {data} has no instances; {purpose} needs labelled data")
    for number, instance in enumerate(instances, start=1):
        if gold not in instance.fields:
            raise error_class(
                f"{what} {data} has no labels (instance {number} has no {gold!r} field); "
                f"{purpose} needs gold labels"
            )
        reader.apply_token_indexers(instance)
        try:
            instance.index_fields(vocab)
        except KeyError:
            label_field = instance.fields[gold]
            namespace = getattr(label_field, "_label_namespace", "labels")
            known_labels = vocab.get_token_to_index_vocabulary(namespace)
            given = getattr(label_field, "labels", [getattr(label_field, "label", "?")])
            unknown = next((label for label in given if label not in known_labels), "?")
            source = ""
            if "metadata" in instance.fields and isinstance(instance.fields["metadata"].metadata, dict):
                source = f" ({instance.fields['metadata'].metadata.get('source')})"
            known = ", ".join(repr(label) for label in known_labels)
            raise error_class(
                f"{what} {data}: instance {number}{source} has the label {unknown!r}, "
                f"which the model does not know (its labels: {known})"
            ) from None
    return instances


def read_with_reader(
    archive: Archive, data: str, what: str, error_class: Type[CommandInputError] = CommandInputError
) -> List[Instance]:
    """
    Every instance the archive's validation dataset reader reads from `data`, not indexed; a problem reading it is
    `error_class` with the reader's message in one line (`cannot read WHAT DATA: FILE, line N: ...`).
    """
    try:
        return list(archive.validation_dataset_reader.read(data))
    except (ValueError, ConfigurationError, OSError) as error:  # DatasetFormatError is a ValueError
        raise error_class(f"cannot read {what} {data}: {_one_line(error)}") from None


def gold_field(model: Any) -> str:
    """The instance field holding the gold answers for `model`: `"tags"` for a tagger, else `"label"`."""
    return next((field for cls, field in GOLD_FIELDS if isinstance(model, cls)), "label")


def add_model_run_arguments(subparser: argparse.ArgumentParser) -> None:
    """Adds the options every sledgehammer subcommand that runs an archived model takes:
    `--batch-size`, `--cuda-device` and `-o/--overrides`."""
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


@contextmanager
def reporting_input_errors(command_name: str):
    """Turns a `CommandInputError` into one line on stderr (`allennlp NAME: error: ...`) and exit status 2."""
    try:
        yield
    except CommandInputError as error:
        print(f"allennlp {command_name}: error: {error}", file=sys.stderr)
        sys.exit(2)
