"""
Base of the readers for CoNLL-style column files (this module registers nothing): one word per line with
its tags in further columns, blank lines (or lines holding only whitespace) between sentences.
"""
from typing import Dict, FrozenSet, Iterable, List, Optional, Tuple

from allennlp.common.checks import ConfigurationError

from sledgehammer.dataset_readers.sequence_tagging_reader import (
    CODING_SCHEMES,
    Sentence,
    SequenceTaggingReader,
    check_span_tag,
    read_line_blocks,
)
from sledgehammer.dataset_readers.transformer_classification_reader import DatasetFormatError

DOCSTART = "-DOCSTART-"


class ColumnFileReader(SequenceTaggingReader):
    """
    Reads a column file: every non-blank line is one word, its columns separated by `_SEPARATOR`
    (`None`: runs of spaces or tabs), the word first; a blank line or a line holding only whitespace
    ends a sentence. With `_SKIP_DOCSTART`, a line whose first column is `-DOCSTART-` (a CoNLL document
    boundary) also ends a sentence and is skipped. Every word line must have exactly
    `len(_COLUMN_NAMES)` columns; span tag columns must hold `O`, `B-<type>` or `I-<type>`. Not
    registered: subclasses set the class attributes below.

    # Parameters

    transformer_model : `str`
        Name or path of the pretrained transformer whose tokenizer is used.
    tag_column : `str`, optional (default = `None`)
        Which column holds the tags to read, one of the keys of `_TAG_COLUMNS`; `None` is the first key.
    coding_scheme : `str`, optional (default = `"BIO"`)
        `"BIO"` or `"IOB1"`, the coding scheme of the output span tags (`_SPAN_COLUMNS`); the input may
        be in either (see `convert_span_tags`). Not used for other columns (e.g. part of speech).
    **kwargs
        Passed to `SequenceTaggingReader` (`max_word_pieces`, `split_fraction`, `split_part`,
        `split_seed`) and `DatasetReader` (`max_instances`).
    """

    _COLUMN_NAMES: Tuple[str, ...] = ()  # names of the columns in messages, the word first
    _TAG_COLUMNS: Dict[str, int] = {}  # tag_column value -> 0-based column index
    _SPAN_COLUMNS: FrozenSet[str] = frozenset()  # the tag_column values holding span tags
    _SEPARATOR: Optional[str] = None
    _SKIP_DOCSTART = False

    def __init__(
        self,
        transformer_model: str,
        tag_column: Optional[str] = None,
        coding_scheme: str = "BIO",
        **kwargs,
    ) -> None:
        if tag_column is None:
            tag_column = next(iter(self._TAG_COLUMNS))
        if tag_column not in self._TAG_COLUMNS:
            raise ConfigurationError(
                f"tag_column must be one of {', '.join(self._TAG_COLUMNS)}, got {tag_column!r}"
            )
        if coding_scheme not in CODING_SCHEMES:
            raise ConfigurationError(
                f"coding_scheme must be one of {', '.join(CODING_SCHEMES)}, got {coding_scheme!r}"
            )
        is_span = tag_column in self._SPAN_COLUMNS
        super().__init__(transformer_model, coding_scheme=coding_scheme if is_span else None, **kwargs)
        self._tag_column = tag_column
        self._tag_index = self._TAG_COLUMNS[tag_column]
        self._is_span = is_span

    def _read_sentences(self, file_path: str) -> Iterable[Sentence]:
        for block in read_line_blocks(file_path):  # blank lines end sentences
            words: List[str] = []
            tags: List[str] = []
            lines: List[int] = []
            for number, line in block:
                columns = line.split(self._SEPARATOR)
                if self._SEPARATOR is not None:
                    columns = [column.strip() for column in columns]
                if self._SKIP_DOCSTART and columns[0] == DOCSTART:
                    if words:
                        yield Sentence(words, tags, lines)
                        words, tags, lines = [], [], []
                    continue
                word, tag = self._parse_line(columns, file_path, number)
                words.append(word)
                tags.append(tag)
                lines.append(number)
            if words:
                yield Sentence(words, tags, lines)

    def _parse_line(self, columns: List[str], file_path: str, number: int) -> Tuple[str, str]:
        names = self._COLUMN_NAMES
        if len(columns) != len(names):
            kind = "space-separated" if self._SEPARATOR is None else "tab-separated"
            raise DatasetFormatError(
                file_path,
                number,
                f"expected {len(names)} {kind} columns ({', '.join(names)}), found {len(columns)}",
            )
        word, tag = columns[0], columns[self._tag_index]
        if not word:
            raise DatasetFormatError(
                file_path, number, f"expected a non-empty {names[0]} in column 1, found it empty"
            )
        name = names[self._tag_index]
        what = f"{name if name == 'tag' else name + ' tag'} in column {self._tag_index + 1}"
        if not tag:
            raise DatasetFormatError(file_path, number, f"expected a {what}, found it empty")
        if self._is_span:
            check_span_tag(tag, file_path, number, what)
        return word, tag
