"""
Reading the unlabelled selection rows of `allennlp calibrate --selection-data FILE`: texts the model will serve,
whose target is the model's own last exit, so that their labels (when the file has any) are ignored.

FILE is `allennlp predict`'s JSON-lines input (`{"sentence": "..."}` per line, or the pair fields the archive's
predictor reads), read with the archive's predictor, or any file the archive's validation dataset reader reads,
whose label fields are dropped. Every problem is one line naming the file (and the line and field, where the
predictor or the reader says them).
"""
from typing import List, Type

from allennlp.common.checks import ConfigurationError
from allennlp.common.file_utils import cached_path, open_compressed
from allennlp.data import Instance
from allennlp.models.archival import Archive
from allennlp.predictors import Predictor

from sledgehammer.commands.archive_inputs import CommandInputError, check_data_path, gold_field, read_with_reader
from sledgehammer.commands.predict_input import numbered_lines
from sledgehammer.common.cli_errors import one_line

# File names read as `allennlp predict` JSON lines.
JSON_LINES_SUFFIXES = (".jsonl", ".json", ".jsonl.gz")
# Instance fields that selection rows never carry into the model: the gold answers and per-row thresholds.
IGNORED_FIELDS = ("label", "tags", "threshold")


def read_selection_instances(
    archive: Archive,
    data: str,
    what: str = "--selection-data",
    error_class: Type[CommandInputError] = CommandInputError,
) -> List[Instance]:
    """
    The instances of the selection file `data`, without labels, indexed with the model's vocabulary.

    # Parameters

    archive : `Archive`
        The loaded archive (its predictor and validation dataset reader read the file).
    data : `str`
        `allennlp predict` JSON lines (by the suffixes in `JSON_LINES_SUFFIXES`) or a file the archive's
        validation dataset reader reads.
    what : `str`, optional (default = `"--selection-data"`)
        How the command names the file in messages.
    error_class : `Type[CommandInputError]`, optional (default = `CommandInputError`)
        What to raise.

    # Raises

    `error_class` when the file is missing or unreadable, a line is not an input the predictor takes
    (`FILE, line N: ...`, naming the field), or it holds no rows.
    """
    check_data_path(data, what, error_class=error_class)
    if data.lower().endswith(JSON_LINES_SUFFIXES):
        instances = _json_lines_instances(archive, data, what, error_class)
    else:
        instances = read_with_reader(archive, data, what, error_class)
    if not instances:
        raise error_class(f"{what} {data} has no rows; the selection needs unlabelled texts")
    reader = archive.validation_dataset_reader
    ignored = set(IGNORED_FIELDS) | {gold_field(archive.model)}
    for instance in instances:
        for name in ignored & set(instance.fields):
            del instance.fields[name]
        reader.apply_token_indexers(instance)
        instance.index_fields(archive.model.vocab)
    return instances


def _json_lines_instances(
    archive: Archive, data: str, what: str, error_class: Type[CommandInputError]
) -> List[Instance]:
    predictor = Predictor.from_archive(archive)
    instances = []
    try:
        with open_compressed(cached_path(data), "rt", encoding="utf-8-sig") as lines:
            for number, line in numbered_lines(lines, data):
                if not line.strip():
                    continue
                try:
                    record = predictor.load_line(line)
                    record.pop("threshold", None)
                    instances.append(predictor._json_to_instance(record))
                except (ConfigurationError, ValueError) as error:
                    raise error_class(f"{what} {data}, line {number}: {one_line(error)}") from None
    except ValueError as error:  # undecodable bytes, with the line
        raise error_class(f"{what} {one_line(error)}") from None
    except OSError as error:
        raise error_class(f"cannot read {what} {data}: {one_line(error)}") from None
    return instances
