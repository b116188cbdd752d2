from typing import Dict, Iterable, Optional

from allennlp.common.checks import ConfigurationError
from allennlp.data.dataset_readers.dataset_reader import DatasetReader
from nltk.tree import Tree

from sledgehammer.dataset_readers.transformer_classification_reader import (
    DatasetFormatError,
    Example,
    TransformerClassificationReader,
    read_lines,
)

# Root sentiment (0 = very negative ... 4 = very positive) -> label; `None` drops the tree.
GRANULARITIES: Dict[str, Dict[str, Optional[str]]] = {
    "2-class": {"0": "negative", "1": "negative", "2": None, "3": "positive", "4": "positive"},
    "3-class": {"0": "negative", "1": "negative", "2": "neutral", "3": "positive", "4": "positive"},
    "5-class": {label: label for label in "01234"},
}
# Penn Treebank escapes of brackets in the leaves.
_PTB_ESCAPES = {"-LRB-": "(", "-RRB-": ")", "-LSB-": "[", "-RSB-": "]", "-LCB-": "{", "-RCB-": "}"}


@DatasetReader.register("sledgehammer_sst_trees")
class SstTreesReader(TransformerClassificationReader):
    """
    Reads the Stanford Sentiment Treebank in its PTB tree format (`train.txt`, `dev.txt`, `test.txt`
    of `trainDevTestTrees_PTB`): one tree per line, e.g. `(3 (2 It) (4 (2 's) (4 good)))`. An example
    is a whole sentence: its text is the leaves joined by spaces (with `-LRB-`/`-RRB-` turned back into
    brackets) and its label comes from the root's sentiment, 0 (very negative) to 4 (very positive).

    Registered as a `DatasetReader` with name "sledgehammer_sst_trees".

    # Parameters

    transformer_model : `str`
        Name or path of the pretrained transformer whose tokenizer is used.
    granularity : `str`, optional (default = `"2-class"`)
        `"2-class"`: drop neutral (2) sentences, labels `"negative"` (0, 1) and `"positive"` (3, 4), as
        in binary SST / SST-2. `"3-class"`: `"negative"`, `"neutral"`, `"positive"`. `"5-class"`: the
        root labels themselves, `"0"` to `"4"`.
    **kwargs
        Passed to `TransformerClassificationReader` (`max_length`, `split_fraction`, `split_part`,
        `split_seed`) and `DatasetReader` (`max_instances`).
    """

    def __init__(self, transformer_model: str, granularity: str = "2-class", **kwargs) -> None:
        super().__init__(transformer_model, **kwargs)
        if granularity not in GRANULARITIES:
            raise ConfigurationError(
                f"granularity must be one of {', '.join(GRANULARITIES)}, got {granularity!r}"
            )
        self._labels = GRANULARITIES[granularity]

    def _read_examples(self, file_path: str) -> Iterable[Optional[Example]]:
        for line, text in read_lines(file_path):
            try:
                tree = Tree.fromstring(text)
            except ValueError as error:
                problem = " ".join(part.strip() for part in str(error).splitlines()[:2])
                raise DatasetFormatError(
                    file_path,
                    line,
                    "expected one bracketed PTB tree such as '(3 (2 It) (4 works))', "
                    f"found {problem.replace('Tree.read(): ', '')}",
                ) from None
            root = tree.label()
            if root not in self._labels:
                raise DatasetFormatError(
                    file_path, line, f"expected a root sentiment label 0-4, found {root!r}"
                )
            words = [_PTB_ESCAPES.get(word, word) for word in tree.leaves()]
            if not words:
                raise DatasetFormatError(file_path, line, "expected a tree with words, found none")
            label = self._labels[root]
            yield None if label is None else Example(" ".join(words), None, label)
