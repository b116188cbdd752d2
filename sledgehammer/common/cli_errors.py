"""
One-line errors from AllenNLP's own commands run with the plugin (`allennlp predict`, `allennlp evaluate`,
`allennlp train`, ...).

AllenNLP's command line lets every exception end the program with a traceback. For the errors that are
about the user's input, not about the code, `install()` adds a `sys.excepthook` that prints the message
alone, as `allennlp <command>: error: <message>` on stderr, like argparse's usage errors; the exit status
is Python's for an uncaught exception, 1. The errors reported this way (`REPORTED_ERRORS`):

- `ArchiveError` (with `UnsafeArchiveError`): a model archive that is unreadable, unsafe to extract,
  too large, or whose weights name code (`safe_weights`);
- `DatasetFormatError`: a data or input file that cannot be used, naming the file and, where it
  applies, the line (the dataset readers' format errors, `allennlp predict`'s input lines, empty files);
- a `ConfigurationError` raised while a trained sledgehammer model is loaded or its predictor is built
  (`is_setting_error`): a bad `threshold`, `temperatures`, `exit_policy`, `window` or `exit_mode` given
  with `--overrides` or `--predictor-args` (the model's or predictor's message names the key).

Every other exception still prints its traceback, and code that calls AllenNLP or sledgehammer as a
library gets the exceptions as before: the hook only sees exceptions nothing caught.
"""
import os
import sys
import traceback as tracebacks
from types import TracebackType
from typing import Optional, Type

from allennlp.common.checks import ConfigurationError
from allennlp.models import Model
from allennlp.predictors import Predictor

from sledgehammer.common.archive_files import ArchiveError
from sledgehammer.dataset_readers.transformer_classification_reader import DatasetFormatError

REPORTED_ERRORS = (ArchiveError, DatasetFormatError)
# Where AllenNLP turns config values into constructor arguments (and raises a TypeError for a wrong type).
_PARAMETER_PARSING = ("allennlp.common.from_params", "allennlp.common.params")


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


def is_setting_error(error: BaseException, traceback: Optional[TracebackType]) -> bool:
    """
    Whether `error` is a `ConfigurationError` raised while a trained sledgehammer model was loaded (inside
    `Model._load` of a sledgehammer model class, which applies `--overrides` such as `threshold`,
    `temperatures`, `exit_policy`, `window` and `exit_mode`) or while a sledgehammer predictor was built (its
    `__init__`, which applies `--predictor-args`). The configuration of a trained model was valid when it was
    trained, so such an error is about the settings the user gave. So is a `TypeError` that AllenNLP's
    parameter parsing raises there for a value of the wrong type (`Expected threshold to be numeric.`).
    """
    frames = [frame for frame, _ in tracebacks.walk_tb(traceback)]
    if not frames:
        return False
    wrong_type = isinstance(error, TypeError) and frames[-1].f_globals.get("__name__") in _PARAMETER_PARSING
    if not (isinstance(error, ConfigurationError) or wrong_type):
        return False
    for frame in frames:
        name, local = frame.f_code.co_name, frame.f_locals
        if name == "_load" and _is_plugin_class(local.get("cls"), Model):
            return True
        if name == "__init__" and _is_plugin_class(type(local.get("self")), Predictor):
            return True
    return False


def _is_plugin_class(value, base: type) -> bool:
    return isinstance(value, type) and issubclass(value, base) and value.__module__.startswith("sledgehammer.")


def install() -> None:
    """Installs the hook once; the hook that was there before handles every other exception."""
    previous = sys.excepthook
    if getattr(previous, "_sledgehammer_reports", False):
        return

    def report_input_errors(
        kind: Type[BaseException], error: BaseException, traceback: Optional[TracebackType]
    ) -> None:
        if isinstance(error, REPORTED_ERRORS) or is_setting_error(error, traceback):
            sys.stdout.flush()
            print(f"{command_name()}: error: {one_line(error)}", file=sys.stderr, flush=True)
        else:
            previous(kind, error, traceback)

    report_input_errors._sledgehammer_reports = True  # type: ignore[attr-defined]
    sys.excepthook = report_input_errors
