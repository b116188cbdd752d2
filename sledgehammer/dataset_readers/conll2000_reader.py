from allennlp.data.dataset_readers.dataset_reader import DatasetReader

from sledgehammer.dataset_readers.column_file_reader import ColumnFileReader


@DatasetReader.register("sledgehammer_conll2000")
class Conll2000Reader(ColumnFileReader):
    """
    Reads CoNLL-2000 chunking files (`train.txt`, `test.txt`): one word per line as `word POS chunk`,
    space-separated, a blank line between sentences. Chunk tags are BIO in the official files; IOB1
    input is read correctly too and the tags are written out in `coding_scheme` (see
    `Conll2003Reader`). `-DOCSTART-` lines, which the official files do not have, are skipped.

    CoNLL-2000 has no development file: `split_fraction` / `split_part` / `split_seed` carve a
    deterministic held-out part out of `train.txt` (by sentence), e.g. `split_fraction: 0.1` with
    `split_part: "rest"` for training and `"held_out"` for validation.

    Instances have the fields `tokens`, `tags` and `metadata` described in `SequenceTaggingReader`;
    sentences with more word pieces than `max_word_pieces` are split into several instances (never
    truncated), and a single word that does not fit is an error naming the file and line. Malformed
    lines (not 3 columns, a chunk tag that is not `O`/`B-X`/`I-X`) are a `DatasetFormatError` naming the
    file, the 1-based line number (blank lines counted) and what was expected.

    Registered as a `DatasetReader` with name "sledgehammer_conll2000".

    # Parameters

    transformer_model : `str`
        Name or path of the pretrained transformer whose tokenizer is used.
    tag_column : `str`, optional (default = `"chunk"`)
        The tags to read: `"chunk"` (column 3) or `"pos"` (column 2).
    coding_scheme : `str`, optional (default = `"BIO"`)
        Output scheme of the chunk tags: `"BIO"` or `"IOB1"`. Not used for `"pos"`.
    max_word_pieces : `int`, optional (default = `512`)
        Maximum number of word pieces of an instance, special tokens included.
    **kwargs
        Passed to `SequenceTaggingReader` (`split_fraction`, `split_part`, `split_seed`) and
        `DatasetReader` (`max_instances`).
    """

    _COLUMN_NAMES = ("word", "POS", "chunk")
    _TAG_COLUMNS = {"chunk": 2, "pos": 1}
    _SPAN_COLUMNS = frozenset({"chunk"})
    _SKIP_DOCSTART = True

    def __init__(
        self,
        transformer_model: str,
        tag_column: str = "chunk",
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
