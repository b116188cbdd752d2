"""Helpers shared by the dataset reader tests."""
from pathlib import Path
from typing import List

import pytest

from allennlp.data import DatasetReader, Instance

from sledgehammer.dataset_readers import DatasetFormatError, Example

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "data"


def examples(reader: DatasetReader, path) -> List[Example]:
    """The examples a reader parses from a file (skipped rows left out), before tokenization."""
    return [example for example in reader._read_examples(str(path)) if example is not None]


def labels(instances: List[Instance]) -> List[str]:
    return [instance["label"].label for instance in instances]


def wordpieces(instance: Instance) -> List[str]:
    return [token.text for token in instance["tokens"].tokens]


def type_ids(instance: Instance) -> List[int]:
    return [token.type_id for token in instance["tokens"].tokens]


def write(directory: Path, name: str, content: str) -> str:
    path = directory / name
    path.write_text(content, encoding="utf-8")
    return str(path)


def format_error(reader: DatasetReader, path: str, line) -> str:
    """Reads `path`, expecting a `DatasetFormatError` at `line`; returns what was expected."""
    with pytest.raises(DatasetFormatError) as info:
        list(reader.read(path))
    error = info.value
    where = path if line is None else f"{path}, line {line}"
    assert str(error).startswith(f"{where}: "), str(error)
    assert (error.source, error.line) == (path, line)
    return error.detail
