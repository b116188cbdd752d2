"""
One-line errors from AllenNLP's own commands run with the plugin (`allennlp predict`, `allennlp evaluate`,
`allennlp train`, ...).

AllenNLP's command line lets every exception end the program with a traceback. For the errors that are
about the user's input, not about the code, `install()` adds a `sys.excepthook` that prints the message
alone, as `allennlp <command>: error: <message>` on stderr, like argparse's usage errors; the exit status
is Python's for an uncaught exception, 1. The errors reported this way (`REPORTED_ERRORS`):

- `ArchiveError` (with `UnsafeArchiveError`): a model archive that is unreadable or unsafe to extract;
- `DatasetFormatError`: a data or input file that cannot be used, naming the file and, where it
  applies, the line (the dataset readers' format errors, `allennlp predict`'s input lines, empty files).

Every other exception still prints its traceback, and code that calls AllenNLP or sledgehammer as a
library gets the exceptions as before: the hook only sees exceptions nothing caught.
"""
import os
import sys
from types import TracebackType
from typing import Optional, Type

from sledgehammer.common.archive_files import ArchiveError
from sledgehammer.dataset_readers.transformer_classification_reader import DatasetFormatError

REPORTED_ERRORS = (ArchiveError, DatasetFormatError)


def command_name(argv=None) -> str:
    """How to name the running command in a message: `allennlp evaluate`, or the script's file name."""
    argv = sys.argv if argv is None else argv
    program = os.path.basename(argv[0]) if argv and argv[0] else "python"
    if program in ("allennlp", "__main__.py") and len(argv) > 1 and not argv[1].startswith("-"):
        return f"allennlp {argv[1]}"
    return "allennlp" if program == "__main__.py" else program


def one_line(error: BaseException) -> str:
    """The message of `error` with every run of whitespace (line breaks included) folded to one space."""
    return " ".join(str(error).split())


def install() -> None:
    """Installs the hook once; the hook that was there before handles every other exception."""
    previous = sys.excepthook
    if getattr(previous, "_sledgehammer_reports", False):
        return

    def report_input_errors(
        kind: Type[BaseException], error: BaseException, traceback: Optional[TracebackType]
    ) -> None:
        if isinstance(error, REPORTED_ERRORS):
            sys.stdout.flush()
            print(f"{command_name()}: error: {one_line(error)}", file=sys.stderr, flush=True)
        else:
            previous(kind, error, traceback)

    report_input_errors._sledgehammer_reports = True  # type: ignore[attr-defined]
    sys.excepthook = report_input_errors
