"""
Shared machinery of the sledgehammer classification readers (this module registers nothing).

`TransformerClassificationReader` turns one text or a text pair into a single wordpiece sequence in the
transformer's own format, truncates it to `max_length`, optionally keeps only one part of a seeded
held-out split, and shards the examples across distributed workers and data-loader processes. A concrete
reader only implements `_read_examples()`, using the row iterators and validators defined here, which
raise `DatasetFormatError` naming the file, the line and what was expected.
"""
import csv
import json
import logging
import random
from typing import Any, Dict, Iterable, Iterator, List, Mapping, NamedTuple, Optional, Tuple

from allennlp.common.checks import ConfigurationError
from allennlp.common.file_utils import open_compressed
from allennlp.data.dataset_readers.dataset_reader import DatasetReader
from allennlp.data.fields import Field, LabelField, TextField
from allennlp.data.instance import Instance
from allennlp.data.token_indexers import PretrainedTransformerIndexer
from allennlp.data.tokenizers import PretrainedTransformerTokenizer, Token

logger = logging.getLogger(__name__)

SPLIT_PARTS = ("held_out", "rest")


class DatasetFormatError(ValueError):
    """
    A data file does not have the expected format. The message reads `"<file>, line <n>: <what was
    expected>"` (or `"<file>: ..."` when the problem concerns a whole file); `source`, `line` and
    `detail` hold the three parts.
    """

    def __init__(self, source: str, line: Optional[int], detail: str) -> None:
        self.source = str(source)
        self.line = line
        self.detail = detail
        where = self.source if line is None else f"{self.source}, line {line}"
        super().__init__(f"{where}: {detail}")

    def __reduce__(self):  # keeps the error picklable across data-loader worker processes
        return type(self), (self.source, self.line, self.detail)


def check_split_options(split_fraction: Optional[float], split_part: str) -> None:
    """A `ConfigurationError` unless `split_fraction` is None or in (0, 1) and `split_part` is usable with it."""
    if split_fraction is not None and not 0.0 < split_fraction < 1.0:
        raise ConfigurationError(f"split_fraction must be strictly between 0 and 1, got {split_fraction}")
    if split_part not in SPLIT_PARTS:
        raise ConfigurationError(f"split_part must be one of {', '.join(SPLIT_PARTS)}, got {split_part!r}")
    if split_fraction is None and split_part != "rest":
        raise ConfigurationError(f"split_part={split_part!r} needs split_fraction to be set")


class Example(NamedTuple):
    """One classification example before tokenization."""

    text: str
    text_pair: Optional[str] = None
    label: Optional[str] = None


class TransformerClassificationReader(DatasetReader):
    """
    Base class of the sledgehammer readers for (single-text or text-pair) classification with a
    pretrained transformer. Not registered: use one of its subclasses.

    Every instance has the fields
        tokens : `TextField`
            One wordpiece sequence with the tokenizer's special tokens; for a pair, the tokenizer's own
            pair format (`[CLS] a [SEP] b [SEP]` with type ids 0 then 1 for BERT, `<s> a </s></s> b </s>`
            for RoBERTa). Indexed with `{"tokens": PretrainedTransformerIndexer(transformer_model)}`.
        label : `LabelField`, only when the example has a label (namespace `"labels"`).

    Subclasses implement `_read_examples(file_path)`, which yields one item per data row of the file, in
    file order: an `Example`, or `None` for a row the reader skips on purpose (e.g. an SNLI row without
    a gold label). The row index that decides the held-out split counts these skipped rows too, so a
    row's side of the split does not depend on which other rows are filtered out. Rows are parsed and
    validated in every worker; only tokenization is sharded.

    # Parameters

    transformer_model : `str`
        Name or path of the pretrained transformer whose tokenizer is used.
    max_length : `int`, optional (default = `512`)
        Maximum number of wordpieces of an instance, special tokens included. Longer inputs are
        truncated at the end (for a pair, the longer side is shortened first) and a single warning is
        logged per reader.
    split_fraction : `float`, optional (default = `None`)
        When set (strictly between 0 and 1), the data rows of a file are split deterministically: row
        `i` goes to the `"held_out"` part iff `random.Random(f"{split_seed}:{i}").random() <
        split_fraction`, so about this fraction of rows is held out. `i` is the 0-based index of the
        row among the file's data rows in file order: a header and blank lines do not count, rows the
        reader skips or filters out do. Use it to carve a test set out of a dev file, or to subsample
        a training file.
    split_part : `str`, optional (default = `"rest"`)
        Which part of the split to read: `"held_out"` or `"rest"`.
    split_seed : `int`, optional (default = `13`)
        Seed of the split; the same seed always gives the same split.
    **kwargs
        Passed to `DatasetReader` (e.g. `max_instances`).
    """

    def __init__(
        self,
        transformer_model: str,
        max_length: int = 512,
        split_fraction: Optional[float] = None,
        split_part: str = "rest",
        split_seed: int = 13,
        **kwargs,
    ) -> None:
        super().__init__(
            manual_distributed_sharding=True, manual_multiprocess_sharding=True, **kwargs
        )
        check_split_options(split_fraction, split_part)
        self._transformer_model = transformer_model
        self._tokenizer = PretrainedTransformerTokenizer(transformer_model, add_special_tokens=False)
        self._token_indexers = {"tokens": PretrainedTransformerIndexer(transformer_model)}
        shortest = self._tokenizer.num_special_tokens_for_pair() + 2
        if max_length < shortest:
            raise ConfigurationError(
                f"max_length must be at least {shortest} for {transformer_model} "
                f"(its special tokens plus one wordpiece per text), got {max_length}"
            )
        self._max_length = max_length
        self._split_fraction = split_fraction
        self._split_part = split_part
        self._split_seed = split_seed
        self._warned_truncation = False

    def _read_examples(self, file_path: str) -> Iterable[Optional[Example]]:
        """Yields one `Example` (or `None` for a row skipped on purpose) per data row of the file."""
        raise NotImplementedError

    def _read(self, file_path) -> Iterator[Instance]:
        rows = enumerate(self._read_examples(str(file_path)))
        examples = (example for i, example in rows if example is not None and self._in_split(i))
        for example in self.shard_iterable(examples):
            yield self._make_instance(*example)

    def _in_split(self, row_index: int) -> bool:
        if self._split_fraction is None:
            return True
        draw = random.Random(f"{self._split_seed}:{row_index}").random()
        return (draw < self._split_fraction) == (self._split_part == "held_out")

    def text_to_instance(  # type: ignore
        self, text: str, text_pair: Optional[str] = None, label: Optional[str] = None
    ) -> Instance:
        """
        # Parameters

        text : `str`
            The text to classify (the first text of a pair).
        text_pair : `str`, optional (default = `None`)
            The second text of a pair (e.g. the NLI hypothesis).
        label : `str`, optional (default = `None`)
            The gold label, if known.

        # Returns

        An `Instance` with the fields `tokens` (token indexers already applied) and, when a label is
        given, `label`.
        """
        instance = self._make_instance(text, text_pair, label)
        self.apply_token_indexers(instance)
        return instance

    def _make_instance(
        self, text: str, text_pair: Optional[str] = None, label: Optional[str] = None
    ) -> Instance:
        # Without token indexers, so that instances sent between processes stay small.
        tokens = self._tokenizer.tokenize(text)
        pair_tokens = None if text_pair is None else self._tokenizer.tokenize(text_pair)
        tokens, pair_tokens = self._truncate(tokens, pair_tokens)
        fields: Dict[str, Field] = {
            "tokens": TextField(self._tokenizer.add_special_tokens(tokens, pair_tokens))
        }
        if label is not None:
            fields["label"] = LabelField(str(label))
        return Instance(fields)

    def apply_token_indexers(self, instance: Instance) -> None:
        instance["tokens"].token_indexers = self._token_indexers  # type: ignore

    def _truncate(
        self, tokens: List[Token], pair_tokens: Optional[List[Token]]
    ) -> Tuple[List[Token], Optional[List[Token]]]:
        if pair_tokens is None:
            budget = self._max_length - self._tokenizer.num_special_tokens_for_sequence()
            if len(tokens) <= budget:
                return tokens, None
            self._warn_truncation()
            return tokens[:budget], None
        budget = self._max_length - self._tokenizer.num_special_tokens_for_pair()
        first, second = len(tokens), len(pair_tokens)
        if first + second <= budget:
            return tokens, pair_tokens
        self._warn_truncation()
        # Same result as removing one wordpiece at a time from the longer side (the first on ties).
        shorter = min(first, second)
        if shorter <= budget - shorter:
            if first >= second:
                first = budget - second
            else:
                second = budget - first
        else:
            first, second = budget // 2, budget - budget // 2
        return tokens[:first], pair_tokens[:second]

    def _warn_truncation(self) -> None:
        if not self._warned_truncation:
            self._warned_truncation = True
            logger.warning(
                "%s: some inputs are longer than max_length=%d wordpieces (special tokens included) "
                "and are truncated. This warning is shown once per reader.",
                type(self).__name__,
                self._max_length,
            )


# Row iterators: each yields (1-based physical line number, row) and skips blank lines.


def _open_text(file_path: str):
    # open_compressed resolves the path with cached_path and reads .gz/.bz2/.xz transparently.
    return open_compressed(file_path, "rt", encoding="utf-8-sig", newline="")


def read_lines(file_path: str) -> Iterator[Tuple[int, str]]:
    """Every non-blank line of a text file, without its line break."""
    with _open_text(file_path) as data_file:
        for number, line in enumerate(data_file, start=1):
            if line.strip():
                yield number, line.rstrip("\r\n")


def read_jsonl(file_path: str) -> Iterator[Tuple[int, Dict[str, Any]]]:
    """Every non-blank line of a JSON Lines file, which must be a JSON object."""
    for number, line in read_lines(file_path):
        try:
            record = json.loads(line)
        except json.JSONDecodeError as error:
            raise DatasetFormatError(
                file_path,
                number,
                f"expected one JSON object per line, found invalid JSON "
                f"({error.msg} at column {error.colno})",
            ) from None
        if not isinstance(record, dict):
            raise DatasetFormatError(
                file_path, number, f"expected a JSON object, found a JSON {type(record).__name__}"
            )
        yield number, record


def read_delimited(file_path: str, delimiter: str, quoted: bool) -> Iterator[Tuple[int, List[str]]]:
    """
    Every non-blank row of a delimited file, with the number of the line the row starts on.
    `quoted=True` reads CSV quoting strictly (fields in double quotes may contain delimiters, doubled
    quotes and line breaks); `quoted=False` reads one row per line and treats quotes as plain text
    (the GLUE / SICK TSV convention).
    """
    if quoted:
        options: Dict[str, Any] = {"strict": True}
    else:
        options = {"quoting": csv.QUOTE_NONE}
    with _open_text(file_path) as data_file:
        reader = csv.reader(data_file, delimiter=delimiter, **options)
        start = 1
        while True:
            try:
                row = next(reader)
            except StopIteration:
                return
            except csv.Error as error:
                kind = "CSV" if quoted else "delimited"
                raise DatasetFormatError(
                    file_path, start, f"expected a well-formed {kind} row, found a malformed one ({error})"
                ) from None
            number, start = start, reader.line_num + 1
            if any(cell.strip() for cell in row):
                yield number, row


# Validators shared by the readers. `what` names the value in messages, e.g. "column 'sentence'".


def require_field(
    record: Mapping[str, Any], key: str, source: str, line: int, what: str
) -> Any:
    if key not in record:
        found = ", ".join(repr(k) for k in record)
        raise DatasetFormatError(source, line, f"expected a {what}, found only: {found}")
    return record[key]


def require_text(value: Any, source: str, line: Optional[int], what: str) -> str:
    if not isinstance(value, str):
        raise DatasetFormatError(
            source, line, f"expected text in {what}, found {type(value).__name__} {value!r}"
        )
    if not value.strip():
        raise DatasetFormatError(source, line, f"expected non-empty text in {what}, found it empty")
    return value


def require_label(value: Any, source: str, line: int, what: str) -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if not isinstance(value, str):
        raise DatasetFormatError(
            source, line, f"expected a string or integer label in {what}, found {value!r}"
        )
    if not value.strip():
        raise DatasetFormatError(source, line, f"expected a label in {what}, found it empty")
    return value.strip()
