"""
A clear error for `allennlp evaluate` on data without instances, with the plugin loaded.

AllenNLP's `evaluate` builds one data loader per data file and only finds out that a file holds no
instances inside the batch sampler (`AssertionError: Found no field that needed padding`, or metrics
of nothing). `install()` replaces the name `DataLoader` inside `allennlp.commands.evaluate`, and
nowhere else, with `NonEmptyDataLoader`, whose `from_params` first reads the file with the archive's
validation dataset reader up to its first instance. A file without one (empty, or only a header or
blank lines) or that cannot be opened is a `DatasetFormatError` naming the file, which the command
line prints as one line (`sledgehammer.common.cli_errors`). Format errors of the reader itself are
raised as before, only earlier.
"""
from typing import Any

from allennlp.commands import evaluate as allennlp_evaluate
from allennlp.common import Params
from allennlp.data import DataLoader, DatasetReader

from sledgehammer.common.cli_errors import one_line
from sledgehammer.dataset_readers.transformer_classification_reader import DatasetFormatError

NO_INSTANCES = "has no instances; nothing to evaluate (the file is empty or holds only a header or blank lines)"


class NonEmptyDataLoader:
    """Stands for `DataLoader` inside `allennlp.commands.evaluate`: only `from_params` is used there."""

    @staticmethod
    def from_params(params: Params, reader: DatasetReader, data_path: Any, **extras) -> DataLoader:
        """
        `DataLoader.from_params`, after `check_has_instances(reader, data_path)`.
        """
        check_has_instances(reader, data_path)
        return DataLoader.from_params(params=params, reader=reader, data_path=data_path, **extras)


def check_has_instances(reader: DatasetReader, data_path: Any) -> None:
    """
    Reads `data_path` with `reader` up to its first instance.

    # Parameters

    reader : `DatasetReader`
    data_path : `Any`
        A path (or whatever else the reader reads, e.g. a dictionary for a multi-task reader).

    # Raises

    `DatasetFormatError` naming `data_path` when the reader yields no instance or the data cannot be
    opened; the reader's own format errors as they are.
    """
    instances = iter(reader.read(data_path))
    try:
        first = next(instances, None)
    except FileNotFoundError:
        raise DatasetFormatError(str(data_path), None, "does not exist") from None
    except IsADirectoryError:
        raise DatasetFormatError(
            str(data_path), None, "is a folder, which this dataset reader does not read"
        ) from None
    except PermissionError as error:
        raise DatasetFormatError(str(data_path), None, f"cannot be read ({one_line(error)})") from None
    finally:
        close = getattr(instances, "close", None)
        if close is not None:
            close()
    if first is None:
        raise DatasetFormatError(str(data_path), None, NO_INSTANCES)


def install() -> None:
    """Makes `allennlp evaluate` check every data file with `check_has_instances` first."""
    allennlp_evaluate.DataLoader = NonEmptyDataLoader
