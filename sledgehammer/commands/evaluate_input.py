"""
A clear error for `allennlp evaluate` on data without instances, with the plugin loaded.

AllenNLP's `evaluate` builds one data loader per data file and only finds out that a file holds no
instances inside the batch sampler (`AssertionError: Found no field that needed padding`, or metrics
of nothing). `install()` replaces the name `DataLoader` inside `allennlp.commands.evaluate`, and
nowhere else, with `NonEmptyDataLoader`, whose `from_params` first reads the file with the archive's
validation dataset reader up to its first instance. A file without one (empty, or only a header or
blank lines) or that cannot be opened is a `DatasetFormatError` naming the file, which the command
line prints as one line (`sledgehammer.common.cli_errors`). Format errors of the reader itself are
raised as before, only earlier. A label or tag the model's vocabulary does not know (AllenNLP's `KeyError`
while indexing a batch) is a `DatasetFormatError` too, naming the file and the label.
"""
import re

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
        loader = DataLoader.from_params(params=params, reader=reader, data_path=data_path, **extras)
        return KnownLabelsDataLoader(loader, str(data_path))


# AllenNLP's message for a token missing from a namespace without an OOV token.
_UNKNOWN_LABEL = re.compile(r"^'(?P<label>.*)' not found in vocab namespace '(?P<namespace>[^']*)'")


class KnownLabelsDataLoader:
    """
    A data loader (all else delegated) whose indexing (`index_with`, and iteration, which indexes lazily read
    instances) turns AllenNLP's `KeyError` for a label or tag missing from the model's vocabulary into a
    `DatasetFormatError` naming the data file and the label.
    """

    def __init__(self, loader: DataLoader, data_path: str) -> None:
        self._loader = loader
        self._data_path = data_path

    def __getattr__(self, name: str) -> Any:
        return getattr(self._loader, name)

    def __len__(self) -> int:
        return len(self._loader)

    def index_with(self, vocab: Any) -> None:
        try:
            self._loader.index_with(vocab)
        except KeyError as error:
            raise self._unknown_label(error) from None

    def __iter__(self):
        try:
            yield from self._loader
        except KeyError as error:
            raise self._unknown_label(error) from None

    def _unknown_label(self, error: KeyError) -> Exception:
        found = _UNKNOWN_LABEL.match(str(error.args[0]) if error.args else "")
        if found is None:
            return error
        return DatasetFormatError(
            self._data_path, None,
            f"holds the label {found['label']!r}, which the model does not know (not in its "
            f"{found['namespace']!r} vocabulary)",
        )


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
