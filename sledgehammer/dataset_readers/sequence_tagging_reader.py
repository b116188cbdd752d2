"""
Shared machinery of the sledgehammer sequence labeling readers (this module registers nothing).

`SequenceTaggingReader` turns one sentence (a list of words, optionally with one tag per word) into
instances for a word-level tagger on top of a pretrained transformer: it splits a sentence that has too
many word pieces into consecutive chunks of whole words, optionally keeps only one part of a seeded
held-out split, converts span tags to one coding scheme and shards the sentences across distributed
workers and data-loader processes. A concrete reader only implements `_read_sentences()`; format errors
are `DatasetFormatError`s naming the file, the line and what was expected.
"""
import re
from typing import Dict, Iterable, Iterator, List, NamedTuple, Optional, Tuple

from allennlp.common.checks import ConfigurationError
from allennlp.data.dataset_readers.dataset_reader import DatasetReader
from allennlp.data.fields import Field, MetadataField, SequenceLabelField, TextField
from allennlp.data.instance import Instance
from allennlp.data.token_indexers import PretrainedTransformerMismatchedIndexer
from allennlp.data.tokenizers import PretrainedTransformerTokenizer, Token

from sledgehammer.dataset_readers.transformer_classification_reader import (
    DatasetFormatError,
    TransformerClassificationReader,
    check_split_options,
    read_lines,
)

CODING_SCHEMES = ("IOB1", "BIO")
_SPAN_TAG = re.compile(r"^[BI]-\S")


class Sentence(NamedTuple):
    """One sentence of a data file before tokenization."""

    words: List[str]
    tags: Optional[List[str]]
    lines: List[int]  # the 1-based line number of each word


def read_line_blocks(file_path: str) -> Iterator[List[Tuple[int, str]]]:
    """
    The runs of consecutive non-blank lines of a text file (a blank line ends a run: the sentence break of the
    CoNLL formats), each as `(1-based line number, line)` pairs.
    """
    block: List[Tuple[int, str]] = []
    for number, line in read_lines(file_path):
        if block and number != block[-1][0] + 1:
            yield block
            block = []
        block.append((number, line))
    if block:
        yield block


def check_span_tag(tag: str, source: str, line: int, what: str) -> str:
    """`tag` if it is `O` or `B-<type>` / `I-<type>`; otherwise a `DatasetFormatError`."""
    if tag != "O" and not _SPAN_TAG.match(tag):
        raise DatasetFormatError(
            source,
            line,
            f"expected a {what} that is O or B-<type> or I-<type> (IOB1 or BIO), found {tag!r}",
        )
    return tag


def convert_span_tags(tags: List[str], coding_scheme: str) -> List[str]:
    """
    Re-codes span tags (`O`, `B-X`, `I-X`) in IOB1 or BIO into `coding_scheme`.

    The input is read the way conlleval reads it: `B-X` always starts a span, `I-X` continues a span of
    type X right before it and starts a new one otherwise. This reads correct IOB1 (where `B-X` is used
    only between two adjacent X spans) and correct BIO (where every span starts with `B-X`) alike, so
    the input scheme need not be known, and a sequence already in `coding_scheme` is returned unchanged.
    In the output, BIO starts every span with `B-`; IOB1 starts a span with `B-` only right after a span
    of the same type and with `I-` otherwise.
    """
    if coding_scheme not in CODING_SCHEMES:
        raise ConfigurationError(
            f"coding_scheme must be one of {', '.join(CODING_SCHEMES)}, got {coding_scheme!r}"
        )
    converted = []
    previous_type = None  # the type of the span the previous word is in, None after O
    for tag in tags:
        if tag == "O":
            converted.append(tag)
            previous_type = None
            continue
        prefix, span_type = tag[0], tag[2:]
        starts = prefix == "B" or span_type != previous_type
        if not starts:
            converted.append(f"I-{span_type}")
        elif coding_scheme == "BIO" or span_type == previous_type:
            converted.append(f"B-{span_type}")
        else:
            converted.append(f"I-{span_type}")
        previous_type = span_type
    return converted


class WordTooLongError(ValueError):
    """
    A word has more word pieces than fit into one instance: `position` (0-based, in its sentence) and
    `detail`, what was expected and found.
    """

    def __init__(self, position: int, detail: str) -> None:
        super().__init__(f"word {position} (0-based) does not fit into one instance: {detail}")
        self.position = position
        self.detail = detail


class SequenceTaggingReader(DatasetReader):
    """
    Base class of the sledgehammer readers for sequence labeling (one tag per word) with a pretrained
    transformer. Not registered: use one of its subclasses.

    Every instance has the fields
        tokens : `TextField`
            The words as `Token`s, indexed with `{"tokens": PretrainedTransformerMismatchedIndexer(
            transformer_model, max_length=None)}`, which splits each word into word pieces and adds the
            transformer's special tokens; the indexed dict holds `token_ids`, `mask`, `type_ids`,
            `offsets` and `wordpiece_mask`. A word for which the tokenizer gives no word piece at all
            (e.g. a zero-width space) gets the offsets (-1, -1).
        tags : `SequenceLabelField`, only when the tags are known: one tag per word, label namespace
            `"labels"`.
        metadata : `MetadataField`, a dict with `"words"` (the words), `"source"` (`"<file>:<line>"`, the
            line of the sentence's first word; `None` for `text_to_instance`), `"tags"` when known and,
            for a sentence split into several instances, `"chunk"` (0, 1, ... in order).

    Long sentences are never truncated: a sentence whose word pieces do not fit into `max_word_pieces`
    (special tokens included) is split into consecutive chunks of whole words, each as long as possible
    in turn, and each chunk becomes an instance of its own, with `"chunk"` in its metadata. A span
    crossing a chunk boundary becomes two spans (span tags are re-coded per chunk, so each chunk is
    consistent in the output coding scheme). A single word with more word pieces than fit is an error
    naming the file and the line. `word_chunks(words)` gives the split of any list of words (the
    `sledgehammer_tagger` predictor splits long inputs with it); `text_to_instance` does not split, it
    raises a `ValueError` for words that do not fit.

    Subclasses implement `_read_sentences(file_path)`, which yields the `Sentence`s of the file in
    order. Sentences are parsed and validated in every worker; only tokenization is sharded.

    # Parameters

    transformer_model : `str`
        Name or path of the pretrained transformer whose tokenizer is used.
    max_word_pieces : `int`, optional (default = `512`)
        Maximum number of word pieces of an instance, the transformer's special tokens included (BERT
        adds 2: `[CLS]` and `[SEP]`). Longer sentences are split as described above.
    coding_scheme : `str`, optional (default = `None`)
        `"BIO"` or `"IOB1"`: re-code the tags of every instance (span tags `O`, `B-X`, `I-X`) into this
        scheme, see `convert_span_tags`. `None` keeps the tags as they are (e.g. part-of-speech tags).
        Subclasses set it from their own parameters.
    split_fraction : `float`, optional (default = `None`)
        When set (strictly between 0 and 1), the sentences of a file are split deterministically, with
        the rule of `TransformerClassificationReader`: sentence `i` (0-based, in file order, before any
        chunking) goes to the `"held_out"` part iff `random.Random(f"{split_seed}:{i}").random() <
        split_fraction`. All chunks of a long sentence are on the same side. Use it to carve a dev set
        out of a training file, e.g. CoNLL-2000, which has none.
    split_part : `str`, optional (default = `"rest"`)
        Which part of the split to read: `"held_out"` or `"rest"`.
    split_seed : `int`, optional (default = `13`)
        Seed of the split; the same seed always gives the same split.
    **kwargs
        Passed to `DatasetReader` (e.g. `max_instances`, which counts instances, i.e. chunks).
    """

    def __init__(
        self,
        transformer_model: str,
        max_word_pieces: int = 512,
        coding_scheme: Optional[str] = None,
        split_fraction: Optional[float] = None,
        split_part: str = "rest",
        split_seed: int = 13,
        **kwargs,
    ) -> None:
        super().__init__(
            manual_distributed_sharding=True, manual_multiprocess_sharding=True, **kwargs
        )
        if coding_scheme is not None and coding_scheme not in CODING_SCHEMES:
            raise ConfigurationError(
                f"coding_scheme must be one of {', '.join(CODING_SCHEMES)}, got {coding_scheme!r}"
            )
        check_split_options(split_fraction, split_part)
        self._transformer_model = transformer_model
        # The same tokenizer as the one the indexer splits words with.
        self._tokenizer = PretrainedTransformerTokenizer(transformer_model)
        self._token_indexers = {
            "tokens": PretrainedTransformerMismatchedIndexer(
                model_name=transformer_model, max_length=None
            )
        }
        special = self._tokenizer.num_special_tokens_for_sequence()
        if max_word_pieces < special + 1:
            raise ConfigurationError(
                f"max_word_pieces must be at least {special + 1} for {transformer_model} "
                f"(its {special} special tokens plus one word piece), got {max_word_pieces}"
            )
        self._max_word_pieces = max_word_pieces
        self._special_tokens = special
        self._budget = max_word_pieces - special  # word pieces available for the words
        self._coding_scheme = coding_scheme
        self._split_fraction = split_fraction
        self._split_part = split_part
        self._split_seed = split_seed

    # The classification readers' split rule (uses _split_fraction, _split_part and _split_seed).
    _in_split = TransformerClassificationReader._in_split

    def _read_sentences(self, file_path: str) -> Iterable[Sentence]:
        """Yields the sentences of the file in order."""
        raise NotImplementedError

    def _read(self, file_path) -> Iterator[Instance]:
        file_path = str(file_path)
        numbered = enumerate(self._read_sentences(file_path))
        sentences = (sentence for i, sentence in numbered if self._in_split(i))
        for sentence in self.shard_iterable(sentences):
            yield from self._sentence_instances(sentence, file_path)

    def _sentence_instances(self, sentence: Sentence, file_path: str) -> Iterator[Instance]:
        try:
            chunks = self.word_chunks(sentence.words)
        except WordTooLongError as error:
            raise DatasetFormatError(file_path, sentence.lines[error.position], error.detail) from None
        source = f"{file_path}:{sentence.lines[0]}"
        for index, (start, end) in enumerate(chunks):
            tags = None if sentence.tags is None else sentence.tags[start:end]
            chunk = index if len(chunks) > 1 else None
            yield self._make_instance(sentence.words[start:end], tags, source, chunk)

    def word_chunks(self, words: List[str]) -> List[Tuple[int, int]]:
        """
        How a sentence is split: the `(start, end)` ranges of consecutive whole words, in order, each
        as long as fits into `max_word_pieces` (special tokens included); one range `(0, len(words))`
        when the sentence fits. The reader splits the sentences of a file this way, and the
        `sledgehammer_tagger` predictor its inputs.

        # Raises

        `WordTooLongError` (a `ValueError`) naming the first word that does not fit even alone, and its
        position.
        """
        counts = self._word_piece_counts(words)
        for position, count in enumerate(counts):
            if count > self._budget:
                raise WordTooLongError(
                    position,
                    f"expected a word of at most {self._budget} word pieces (max_word_pieces="
                    f"{self._max_word_pieces} minus {self._special_tokens} special "
                    f"tokens), found {words[position]!r} with {count}",
                )
        return list(self._chunk(counts))

    def _word_piece_counts(self, words: List[str]) -> List[int]:
        _, offsets = self._tokenizer.intra_word_tokenize(words)
        return [0 if offset is None else offset[1] - offset[0] + 1 for offset in offsets]

    def _chunk(self, counts: List[int]) -> Iterator[Tuple[int, int]]:
        """(start, end) of consecutive word ranges, each as long as fits into the budget, in order."""
        start, used = 0, 0
        for i, count in enumerate(counts):
            if i > start and used + count > self._budget:
                yield start, i
                start, used = i, 0
            used += count
        yield start, len(counts)

    def text_to_instance(  # type: ignore
        self, words: List[str], tags: Optional[List[str]] = None
    ) -> Instance:
        """
        # Parameters

        words : `List[str]`
            The words of one sentence.
        tags : `List[str]`, optional (default = `None`)
            One gold tag per word, if known; span tags are re-coded like the tags read from a file.

        # Returns

        An `Instance` with the fields `tokens` (token indexers already applied), `metadata` (with
        `"source"` `None`) and, when tags are given, `tags`. Raises a `ValueError` when the words need
        more than `max_word_pieces` word pieces (this method does not split).
        """
        words = list(words)
        if not words:
            raise ValueError("expected at least one word, found none")
        for i, word in enumerate(words):
            if not isinstance(word, str) or not word.strip():
                raise ValueError(f"expected non-empty words, found {word!r} at position {i}")
        if tags is not None:
            tags = [str(tag) for tag in tags]
            if len(tags) != len(words):
                raise ValueError(
                    f"expected one tag per word, found {len(tags)} tags for {len(words)} words"
                )
            if self._coding_scheme is not None:
                for i, tag in enumerate(tags):
                    if tag != "O" and not _SPAN_TAG.match(tag):
                        raise ValueError(
                            f"expected tags that are O or B-<type> or I-<type>, found {tag!r} "
                            f"at position {i}"
                        )
        needed = sum(self._word_piece_counts(words)) + self._special_tokens
        if needed > self._max_word_pieces:
            raise ValueError(
                f"the {len(words)} words need {needed} word pieces (special tokens included), "
                f"more than max_word_pieces={self._max_word_pieces}; split the sentence into "
                f"shorter parts"
            )
        instance = self._make_instance(words, tags, None, None)
        self.apply_token_indexers(instance)
        return instance

    def _make_instance(
        self, words: List[str], tags: Optional[List[str]], source: Optional[str], chunk: Optional[int]
    ) -> Instance:
        # Without token indexers, so that instances sent between processes stay small.
        tokens = TextField([Token(word) for word in words])
        metadata: Dict[str, object] = {"words": words, "source": source}
        fields: Dict[str, Field] = {"tokens": tokens}
        if tags is not None:
            if self._coding_scheme is not None:
                tags = convert_span_tags(tags, self._coding_scheme)
            fields["tags"] = SequenceLabelField(tags, tokens, label_namespace="labels")
            metadata["tags"] = tags
        if chunk is not None:
            metadata["chunk"] = chunk
        fields["metadata"] = MetadataField(metadata)
        return Instance(fields)

    def apply_token_indexers(self, instance: Instance) -> None:
        instance["tokens"].token_indexers = self._token_indexers  # type: ignore
