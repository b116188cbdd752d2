"""
Checked input reading for `allennlp predict` with the plugin loaded.

AllenNLP's `predict` reads its input file line by line, skips blank lines, and hands each line to the
predictor's `load_line`; an error there carries no file name and no line number, a UTF-8 byte order
mark breaks the first line, and an empty input gives an empty output without a word. `install()`
makes `predict` build its `_PredictManager` as a `CheckedPredictManager` instead, which

- names the input file and the physical line (1-based, blank lines counted, as an editor numbers
  lines) in every error about an input line: `in.jsonl, line 3: expected a JSON object ...`;
- skips a UTF-8 byte order mark at the start of the input, as the dataset readers do;
- refuses an input without any non-blank line (or, with `--use-dataset-reader`, without instances):
  an error, before the output file is created when the input is a file.

These errors are `DatasetFormatError`s, which the command line prints as one line
(`sledgehammer.common.cli_errors`).
"""
import sys
from typing import Iterable, Iterator, Optional, Tuple

from allennlp.commands import predict as allennlp_predict
from allennlp.common.checks import ConfigurationError
from allennlp.common.file_utils import cached_path, open_compressed
from allennlp.data import Instance
from allennlp.predictors.predictor import JsonDict

from sledgehammer.common.cli_errors import one_line
from sledgehammer.dataset_readers.transformer_classification_reader import DatasetFormatError

STDIN = "-"
STDIN_NAME = "<stdin>"
BYTE_ORDER_MARK = "\ufeff"
EMPTY_INPUT = "has no input lines (it is empty or blank); nothing to predict"
NO_INSTANCES = "has no instances; nothing to predict"


class CheckedPredictManager(allennlp_predict._PredictManager):
    """
    AllenNLP's `_PredictManager` with the input checks described in the module docstring. Takes the
    same arguments.
    """

    def __init__(
        self,
        predictor,
        input_file: str,
        output_file: Optional[str],
        batch_size: int,
        print_to_console: bool,
        has_dataset_reader: bool,
        multitask_head: Optional[str] = None,
    ) -> None:
        if input_file != STDIN:
            check_input_file(input_file, needs_a_line=not has_dataset_reader)
        super().__init__(
            predictor,
            input_file,
            output_file,
            batch_size,
            print_to_console,
            has_dataset_reader,
            multitask_head,
        )

    def _get_json_data(self) -> Iterator[JsonDict]:
        name = STDIN_NAME if self._input_file == STDIN else self._input_file
        found = False
        for number, line in self._numbered_lines():
            if not line.strip():
                continue
            found = True
            try:
                record = self._predictor.load_line(line)
            except (ConfigurationError, ValueError) as error:
                raise DatasetFormatError(name, number, one_line(error)) from None
            yield record
        if not found:
            raise DatasetFormatError(name, None, EMPTY_INPUT)

    def _get_instance_data(self) -> Iterator[Instance]:
        found = False
        for instance in super()._get_instance_data():
            found = True
            yield instance
        if not found:
            raise DatasetFormatError(self._input_file, None, NO_INSTANCES)

    def _numbered_lines(self) -> Iterator[Tuple[int, str]]:
        if self._input_file == STDIN:
            yield from numbered_lines(sys.stdin, STDIN_NAME)
        else:
            with open_compressed(cached_path(self._input_file), "rt", encoding="utf-8-sig") as lines:
                yield from numbered_lines(lines, self._input_file)


def numbered_lines(lines: Iterable[str], name: str) -> Iterator[Tuple[int, str]]:
    """
    Every line with its 1-based physical number, a byte order mark at the start removed.

    # Raises

    `DatasetFormatError` naming `name` (and the line) when the input is not UTF-8 text.
    """
    number = 0
    iterator = iter(lines)
    while True:
        try:
            line = next(iterator)
        except StopIteration:
            return
        except UnicodeDecodeError as error:
            raise DatasetFormatError(
                name, number + 1, f"expected UTF-8 text, found undecodable bytes ({error.reason})"
            ) from None
        number += 1
        if number == 1 and line.startswith(BYTE_ORDER_MARK):
            line = line[len(BYTE_ORDER_MARK):]
        yield number, line


def check_input_file(input_file: str, needs_a_line: bool = True) -> None:
    """
    Checks that `allennlp predict`'s input file can be read and, with `needs_a_line`, has a
    non-blank line, reading no further than the first one.

    # Parameters

    input_file : `str`
        A path or URL, as `allennlp predict` takes it.
    needs_a_line : `bool`, optional (default = `True`)
        Whether to look for a non-blank line (not when a dataset reader reads the file).

    # Raises

    `DatasetFormatError` naming the file when it does not exist, cannot be opened, or has no
    non-blank line.
    """
    try:
        resolved = cached_path(input_file)
        if not needs_a_line:
            return
        with open_compressed(resolved, "rt", encoding="utf-8-sig") as lines:
            if any(line.strip() for _, line in numbered_lines(lines, input_file)):
                return
    except FileNotFoundError:
        raise DatasetFormatError(input_file, None, "does not exist") from None
    except IsADirectoryError:
        raise DatasetFormatError(input_file, None, "is a folder, expected an input file") from None
    except OSError as error:
        raise DatasetFormatError(input_file, None, f"cannot be read ({one_line(error)})") from None
    raise DatasetFormatError(input_file, None, EMPTY_INPUT)


def install() -> None:
    """Makes `allennlp predict` read its input with `CheckedPredictManager`."""
    allennlp_predict._PredictManager = CheckedPredictManager
