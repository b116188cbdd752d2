from typing import Iterable, List

from allennlp.common.checks import ConfigurationError
from allennlp.data.dataset_readers.dataset_reader import DatasetReader

from sledgehammer.dataset_readers.sequence_tagging_reader import Sentence, SequenceTaggingReader, read_line_blocks
from sledgehammer.dataset_readers.transformer_classification_reader import DatasetFormatError

CONLLU_COLUMNS = ("ID", "FORM", "LEMMA", "UPOS", "XPOS", "FEATS", "HEAD", "DEPREL", "DEPS", "MISC")
_TAG_COLUMNS = {"upos": 3, "xpos": 4}


@DatasetReader.register("sledgehammer_conllu")
class ConlluReader(SequenceTaggingReader):
    """
    Reads part-of-speech tags from CoNLL-U files (Universal Dependencies, e.g. `en_ewt-ud-train.conllu`):
    one word per line with 10 tab-separated columns `ID FORM LEMMA UPOS XPOS FEATS HEAD DEPREL DEPS
    MISC`, a blank line after each sentence. Lines starting with `#` (sentence comments such as
    `# text = ...`) are skipped, and so are multiword-token lines (ID a range such as `3-4`, whose
    words follow on their own lines) and empty nodes (ID such as `8.1`): the words are the syntactic
    words with integer IDs, which must run 1, 2, 3, ... within a sentence. The word is the FORM column
    as it is (`_` is a literal underscore there); a tag of `_` (not annotated) is an error.

    The file is read by this class itself rather than with the `conllu` package, so that every error
    names the line it is on.

    Instances have the fields `tokens`, `tags` and `metadata` described in `SequenceTaggingReader`
    (`"source"` gives the line of the sentence's first word, after its comments); sentences with more
    word pieces than `max_word_pieces` are split into several instances (never truncated), and a single
    word that does not fit is an error naming the file and line. Malformed lines are a
    `DatasetFormatError` naming the file, the 1-based line number (blank and comment lines counted) and
    what was expected.

    Registered as a `DatasetReader` with name "sledgehammer_conllu".

    # Parameters

    transformer_model : `str`
        Name or path of the pretrained transformer whose tokenizer is used.
    tag_column : `str`, optional (default = `"upos"`)
        The tags to read: `"upos"` (universal part of speech, column 4) or `"xpos"` (the treebank's own
        tags, column 5, e.g. Penn Treebank tags in English EWT).
    max_word_pieces : `int`, optional (default = `512`)
        Maximum number of word pieces of an instance, special tokens included.
    **kwargs
        Passed to `SequenceTaggingReader` (`split_fraction`, `split_part`, `split_seed`) and
        `DatasetReader` (`max_instances`).
    """

    def __init__(
        self,
        transformer_model: str,
        tag_column: str = "upos",
        max_word_pieces: int = 512,
        **kwargs,
    ) -> None:
        if tag_column not in _TAG_COLUMNS:
            raise ConfigurationError(
                f"tag_column must be one of {', '.join(_TAG_COLUMNS)}, got {tag_column!r}"
            )
        super().__init__(transformer_model, max_word_pieces=max_word_pieces, **kwargs)
        self._tag_column = tag_column
        self._tag_index = _TAG_COLUMNS[tag_column]

    def _read_sentences(self, file_path: str) -> Iterable[Sentence]:
        for block in read_line_blocks(file_path):  # blank lines end sentences
            words: List[str] = []
            tags: List[str] = []
            lines: List[int] = []
            for number, line in block:
                if line.startswith("#"):
                    continue
                columns = line.split("\t")
                if len(columns) != len(CONLLU_COLUMNS):
                    raise DatasetFormatError(
                        file_path,
                        number,
                        f"expected {len(CONLLU_COLUMNS)} tab-separated columns "
                        f"({' '.join(CONLLU_COLUMNS)}), found {len(columns)}",
                    )
                word_id = columns[0].strip()
                if word_id.isdigit():
                    if int(word_id) != len(words) + 1:
                        raise DatasetFormatError(
                            file_path,
                            number,
                            f"expected word ID {len(words) + 1} in column 1 (IDs run 1, 2, ... within a "
                            f"sentence; is a blank line missing before this one?), found {word_id!r}",
                        )
                elif _is_range_or_empty_node(word_id):
                    continue
                else:
                    raise DatasetFormatError(
                        file_path,
                        number,
                        f"expected a word ID (1, 2, ...), a multiword token range (3-4) or an empty node "
                        f"(8.1) in column 1, found {word_id!r}",
                    )
                word = columns[1].strip()
                if not word:
                    raise DatasetFormatError(
                        file_path, number, "expected a non-empty FORM in column 2, found it empty"
                    )
                tag = columns[self._tag_index].strip()
                if not tag or tag == "_":
                    name = CONLLU_COLUMNS[self._tag_index]
                    raise DatasetFormatError(
                        file_path,
                        number,
                        f"expected a {name} tag in column {self._tag_index + 1}, found "
                        f"{'it empty' if not tag else 'an unannotated _'}",
                    )
                words.append(word)
                tags.append(tag)
                lines.append(number)
            if words:
                yield Sentence(words, tags, lines)


def _is_range_or_empty_node(word_id: str) -> bool:
    for separator in "-.":
        parts = word_id.split(separator)
        if len(parts) == 2 and all(part.isdigit() for part in parts):
            return True
    return False
