from allennlp.data.dataset_readers.dataset_reader import DatasetReader

from sledgehammer.dataset_readers.column_file_reader import ColumnFileReader


@DatasetReader.register("sledgehammer_wnut17")
class Wnut17Reader(ColumnFileReader):
    """
    Reads WNUT-17 emerging entity files (`wnut17train.conll`, `emerging.dev.conll`,
    `emerging.test.annotated`): one word per line as `word<TAB>tag`, tags in BIO (`B-location`,
    `I-person`, ...). An empty line or a line holding only whitespace (the training file has lines
    holding just a tab) ends a sentence. Spaces around a column are ignored; the word may contain
    inner spaces. The tags are written out in `coding_scheme` (IOB1 input is read correctly too, see
    `Conll2003Reader`).

    Instances have the fields `tokens`, `tags` and `metadata` described in `SequenceTaggingReader`;
    sentences with more word pieces than `max_word_pieces` are split into several instances (never
    truncated), and a single word that does not fit is an error naming the file and line. Malformed
    lines (not 2 tab-separated columns, an empty word or tag, a tag that is not `O`/`B-X`/`I-X`) are a
    `DatasetFormatError` naming the file, the 1-based line number (blank lines counted) and what was
    expected.

    Registered as a `DatasetReader` with name "sledgehammer_wnut17".

    # Parameters

    transformer_model : `str`
        Name or path of the pretrained transformer whose tokenizer is used.
    coding_scheme : `str`, optional (default = `"BIO"`)
        Output scheme of the tags: `"BIO"` or `"IOB1"`.
    max_word_pieces : `int`, optional (default = `512`)
        Maximum number of word pieces of an instance, special tokens included.
    **kwargs
        Passed to `SequenceTaggingReader` (`split_fraction`, `split_part`, `split_seed`) and
        `DatasetReader` (`max_instances`).
    """

    _COLUMN_NAMES = ("word", "tag")
    _TAG_COLUMNS = {"tag": 1}
    _SPAN_COLUMNS = frozenset({"tag"})
    _SEPARATOR = "\t"

    def __init__(
        self,
        transformer_model: str,
        coding_scheme: str = "BIO",
        max_word_pieces: int = 512,
        **kwargs,
    ) -> None:
        super().__init__(
            transformer_model,
            coding_scheme=coding_scheme,
            max_word_pieces=max_word_pieces,
            **kwargs,
        )
