from typing import Iterable, List, Optional

from allennlp.common.checks import ConfigurationError
from allennlp.data.dataset_readers.dataset_reader import DatasetReader

from sledgehammer.dataset_readers.transformer_classification_reader import (
    DatasetFormatError,
    Example,
    TransformerClassificationReader,
    read_jsonl,
    require_field,
    require_label,
    require_text,
)

NLI_LABELS = ("entailment", "neutral", "contradiction")
NO_CONSENSUS = "-"


@DatasetReader.register("sledgehammer_nli_jsonl")
class NliJsonlReader(TransformerClassificationReader):
    """
    Reads SNLI (`snli_1.0_{train,dev,test}.jsonl`) and MultiNLI
    (`multinli_1.0_{train,dev_matched,dev_mismatched}.jsonl`) in their official JSON Lines format: one
    object per line with `sentence1` (premise), `sentence2` (hypothesis) and `gold_label`. Rows whose
    gold label is `"-"` (no annotator consensus) are skipped. Premise and hypothesis form one sequence
    pair for the transformer.

    Registered as a `DatasetReader` with name "sledgehammer_nli_jsonl".

    # Parameters

    transformer_model : `str`
        Name or path of the pretrained transformer whose tokenizer is used.
    premise_field : `str`, optional (default = `"sentence1"`)
        JSON key of the premise.
    hypothesis_field : `str`, optional (default = `"sentence2"`)
        JSON key of the hypothesis.
    label_field : `str`, optional (default = `"gold_label"`)
        JSON key of the label; `None` reads unlabeled data.
    labels : `List[str]`, optional (default = `["entailment", "neutral", "contradiction"]`)
        The valid gold labels; any other label (except `"-"`) is an error.
    **kwargs
        Passed to `TransformerClassificationReader` (`max_length`, `split_fraction`, `split_part`,
        `split_seed`) and `DatasetReader` (`max_instances`).
    """

    def __init__(
        self,
        transformer_model: str,
        premise_field: str = "sentence1",
        hypothesis_field: str = "sentence2",
        label_field: Optional[str] = "gold_label",
        labels: Optional[List[str]] = None,
        **kwargs,
    ) -> None:
        super().__init__(transformer_model, **kwargs)
        self._premise_field = premise_field
        self._hypothesis_field = hypothesis_field
        self._label_field = label_field
        self._labels = list(NLI_LABELS if labels is None else labels)
        if not self._labels or NO_CONSENSUS in self._labels:
            raise ConfigurationError(
                f"labels must be a non-empty list without {NO_CONSENSUS!r}, got {labels!r}"
            )

    def _read_examples(self, file_path: str) -> Iterable[Optional[Example]]:
        for line, record in read_jsonl(file_path):
            label = None
            if self._label_field is not None:
                what = f"field {self._label_field!r}"
                value = require_field(record, self._label_field, file_path, line, what)
                label = require_label(value, file_path, line, what)
                if label == NO_CONSENSUS:
                    yield None
                    continue
                if label not in self._labels:
                    raise DatasetFormatError(
                        file_path,
                        line,
                        f"expected {what} to be one of {', '.join(self._labels)} "
                        f"(or {NO_CONSENSUS!r}, skipped), found {label!r}",
                    )
            texts = []
            for field in (self._premise_field, self._hypothesis_field):
                what = f"field {field!r}"
                value = require_field(record, field, file_path, line, what)
                texts.append(require_text(value, file_path, line, what))
            yield Example(texts[0], texts[1], label)
