"""
The body of a `POST /predict` request, checked and turned into rows for the batcher.

A body is one input in the predictor's JSON (`{"sentence": ...}`, `{"premise": ..., "hypothesis": ...}`,
`{"tokens": [...]}`) or a non-empty list of them. Each input is checked with the predictor's own
`load_line` (what `allennlp predict` checks for an input line, its `"threshold"` included), so a problem is
a `RequestError` (HTTP 400) naming the field and what was expected. A tagger's inputs may also carry
`"window"` and `"exit_mode"`, which are taken out of the input and become the row's settings key.
"""
import json
from typing import Any, Dict, List, NamedTuple, Optional, Tuple

from allennlp.common.checks import ConfigurationError
from allennlp.common.util import JsonDict
from allennlp.predictors.predictor import Predictor

from sledgehammer.common.cli_errors import one_line
from sledgehammer.modules.token_halting import check_window

# A tagger's model-wide settings that an input may ask for; the batcher runs rows that differ in them apart.
SETTING_FIELDS = ("window", "exit_mode")
# The model's own settings.
DEFAULT_SETTINGS: Tuple[Optional[int], Optional[str]] = (None, None)


class RequestError(Exception):
    """
    A request the server refuses, answered with `status` and `{"error": kind, "message": message}`.

    # Parameters

    status : `int`
        The HTTP status.
    kind : `str`
        One of `sledgehammer.serving.metrics.ERROR_KINDS`.
    message : `str`
        What was wrong, in one line.
    headers : `Dict[str, str]`, optional (default = `None`)
        Extra response headers (e.g. `Retry-After`).
    """

    def __init__(self, status: int, kind: str, message: str, headers: Optional[Dict[str, str]] = None) -> None:
        super().__init__(message)
        self.status = status
        self.kind = kind
        self.message = message
        self.headers = headers or {}


class Row(NamedTuple):
    """One input of a request: the predictor's JSON, its settings key and its length for batching."""

    record: JsonDict
    settings: Tuple[Optional[int], Optional[str]]
    length: int


def bad_request(message: str) -> RequestError:
    return RequestError(400, "bad_request", message)


def parse_body(body: bytes, predictor: Predictor, exit_modes: Optional[Tuple[str, ...]]) -> Tuple[List[Row], bool]:
    """
    The rows of a request body, and whether the body was a list (the answer is then a list too).

    # Parameters

    body : `bytes`
        The request body, UTF-8 JSON.
    predictor : `Predictor`
        The served `sledgehammer_classifier` or `sledgehammer_tagger` predictor.
    exit_modes : `Tuple[str, ...]`, optional
        The exit modes the served tagger accepts; `None` for a classifier (which takes no settings).

    # Raises

    `RequestError` (400) for a body that is not JSON, not an object or a non-empty list of objects, or an
    input that the predictor's `load_line` refuses, or a setting out of range; list inputs are named by
    their 0-based position.
    """
    try:
        data = json.loads(body.decode("utf-8"))
    except UnicodeDecodeError as error:
        raise bad_request(f"expected a UTF-8 JSON body, found undecodable bytes ({error.reason})") from None
    except json.JSONDecodeError as error:
        raise bad_request(f"expected a JSON body, found invalid JSON ({error.msg} at line {error.lineno} "
                          f"column {error.colno})") from None
    is_list = isinstance(data, list)
    records = data if is_list else [data]
    if is_list and not records:
        raise bad_request("expected an input object or a non-empty list of them, found an empty list")
    rows = []
    for position, record in enumerate(records):
        where = f"input {position}: " if is_list else ""
        if not isinstance(record, dict):
            raise bad_request(f"{where}expected a JSON object, found a JSON {type(record).__name__}")
        try:
            rows.append(_row(record, predictor, exit_modes))
        except ConfigurationError as error:
            raise bad_request(where + one_line(error)) from None
    return rows, is_list


def _row(record: Dict[str, Any], predictor: Predictor, exit_modes: Optional[Tuple[str, ...]]) -> Row:
    settings = {name: record[name] for name in SETTING_FIELDS if name in record}
    if settings and exit_modes is None:
        raise ConfigurationError(
            f"the field {sorted(settings)[0]!r} is a sledgehammer_tagger setting; this server runs a classifier "
            f"(expected only the input fields and 'threshold')"
        )
    window = settings.get("window")
    if window is not None:
        try:
            check_window(window)
        except ConfigurationError:
            raise ConfigurationError(
                f"expected a positive odd integer (1, 3, 5, ...) in the field 'window', found {window!r}"
            ) from None
    exit_mode = settings.get("exit_mode")
    if exit_mode is not None and exit_mode not in (exit_modes or ()):
        raise ConfigurationError(
            f"expected one of {', '.join(repr(mode) for mode in exit_modes or ())} in the field 'exit_mode' "
            f"(the modes this model runs), found {exit_mode!r}"
        )
    record = {name: value for name, value in record.items() if name not in SETTING_FIELDS}
    predictor.load_line(json.dumps(record))  # the checks of `allennlp predict`'s input lines
    return Row(record, (window, exit_mode), input_length(record))


def input_length(record: JsonDict) -> int:
    """
    The characters of an input's texts (strings and lists of strings, other fields left out): what the
    batcher compares to keep rows of like length together. Each word of a `tokens` list counts one more,
    for the space that a sentence would have.
    """
    length = 0
    for value in record.values():
        if isinstance(value, str):
            length += len(value)
        elif isinstance(value, list):
            length += sum(len(item) + 1 for item in value if isinstance(item, str))
    return length
