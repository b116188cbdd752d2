from allennlp.data.dataset_readers.dataset_reader import DatasetReader

from sledgehammer.dataset_readers.column_file_reader import ColumnFileReader


@DatasetReader.register("sledgehammer_conll2003")
class Conll2003Reader(ColumnFileReader):
    """
    Reads CoNLL-2003 named entity recognition files (`eng.train`, `eng.testa`, or `train.txt` /
    `dev.txt` copies): one word per line as `word POS chunk NER`, space-separated, a blank line between
    sentences; `-DOCSTART- -X- -X- O` document lines are skipped (and end a sentence).

    The NER and chunk columns hold span tags in IOB1 (the original release) or BIO/IOB2 (many copies;
    the NER column of some copies is BIO while their chunk column is IOB1). The input scheme needs no
    parameter: `B-X` always starts a span and `I-X` starts one unless it follows a word of type X, which
    reads both schemes correctly, and the tags are written out in `coding_scheme`, so the output is
    consistent whatever the input. Part-of-speech tags are read as they are.

    Instances have the fields `tokens`, `tags` and `metadata` described in `SequenceTaggingReader`;
    sentences with more word pieces than `max_word_pieces` are split into several instances (never
    truncated), and a single word that does not fit is an error naming the file and line. Malformed
    lines (not 4 columns, a tag that is not `O`/`B-X`/`I-X`) are a `DatasetFormatError` naming the file,
    the 1-based line number (blank lines counted) and what was expected.

    Registered as a `DatasetReader` with name "sledgehammer_conll2003".

    # Parameters

    transformer_model : `str`
        Name or path of the pretrained transformer whose tokenizer is used.
    tag_column : `str`, optional (default = `"ner"`)
        The tags to read: `"ner"` (column 4), `"chunk"` (column 3) or `"pos"` (column 2).
    coding_scheme : `str`, optional (default = `"BIO"`)
        Output scheme of the NER and chunk tags: `"BIO"` (IOB2: every span starts with `B-`) or
        `"IOB1"` (`B-` only where a span follows a span of the same type). Not used for `"pos"`.
    max_word_pieces : `int`, optional (default = `512`)
        Maximum number of word pieces of an instance, special tokens included.
    **kwargs
        Passed to `SequenceTaggingReader` (`split_fraction`, `split_part`, `split_seed`) and
        `DatasetReader` (`max_instances`).
    """

    _COLUMN_NAMES = ("word", "POS", "chunk", "NER")
    _TAG_COLUMNS = {"ner": 3, "chunk": 2, "pos": 1}
    _SPAN_COLUMNS = frozenset({"ner", "chunk"})
    _SKIP_DOCSTART = True

    def __init__(
        self,
        transformer_model: str,
        tag_column: str = "ner",
        coding_scheme: str = "BIO",
        max_word_pieces: int = 512,
        **kwargs,
    ) -> None:
        super().__init__(
            transformer_model,
            tag_column=tag_column,
            coding_scheme=coding_scheme,
            max_word_pieces=max_word_pieces,
            **kwargs,
        )
