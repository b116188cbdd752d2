"""Quality metrics of an early-exit tagger: for its answers and for each exit (this module registers nothing)."""
from typing import Dict, List

import torch
from allennlp.data import Vocabulary
from allennlp.training.metrics import CategoricalAccuracy, Metric, SpanBasedF1Measure

SPAN_KEY = "f1-measure-overall"
ACCURACY_KEY = "accuracy"


def has_span_tags(vocab: Vocabulary, namespace: str) -> bool:
    """Whether the tags of `namespace` are span tags (some start with `B-` or `I-`)."""
    return any(tag.startswith(("B-", "I-")) for tag in vocab.get_token_to_index_vocabulary(namespace))


class TaggingMetrics:
    """
    Span F1 (AllenNLP's `SpanBasedF1Measure`, BIO) when the tags are span tags, else per-word accuracy
    (part of speech), for the answers and for each exit.

    `get_metric` returns, for the answers, `precision-overall`, `recall-overall`, `f1-measure-overall` and the
    per-type `f1-measure-<type>` (span tags) or `accuracy`; for each exit that saw data (batches where every exit
    ran: training, threshold 1.0 with tags) the main one as `<main>_exit_<layer>`, and `<main>_last_exit`.

    # Parameters

    vocab : `Vocabulary`
    namespace : `str`
        The tag namespace.
    exit_layers : `List[int]`
        The encoder layer of each exit, for the metric names.
    """

    def __init__(self, vocab: Vocabulary, namespace: str, exit_layers: List[int]) -> None:
        self.spans = has_span_tags(vocab, namespace)
        self.main_key = SPAN_KEY if self.spans else ACCURACY_KEY
        self._exit_layers = list(exit_layers)

        def make() -> Metric:
            if self.spans:
                return SpanBasedF1Measure(vocab, tag_namespace=namespace, label_encoding="BIO")
            return CategoricalAccuracy()

        self._answer = make()
        self._exits = [make() for _ in self._exit_layers]
        self._exit_seen = [False] * len(self._exit_layers)

    def answer(self, logits: torch.Tensor, tags: torch.Tensor, mask: torch.Tensor) -> None:
        """`logits` `(batch, words, labels)` of the answers, gold `tags` `(batch, words)`, word `mask`."""
        self._answer(logits, tags, mask)

    def exit(self, k: int, logits: torch.Tensor, tags: torch.Tensor, mask: torch.Tensor) -> None:
        """Like `answer`, for exit `k`'s logits."""
        self._exits[k](logits, tags, mask)
        self._exit_seen[k] = True

    def get_metric(self, reset: bool = False) -> Dict[str, float]:
        metrics = self._values(self._answer, reset, everything=True)
        for k, (layer, metric) in enumerate(zip(self._exit_layers, self._exits)):
            if self._exit_seen[k]:
                metrics[f"{self.main_key}_exit_{layer}"] = self._values(metric, reset)[self.main_key]
        last = f"{self.main_key}_exit_{self._exit_layers[-1]}"
        if last in metrics:
            metrics[f"{self.main_key}_last_exit"] = metrics[last]
        if reset:
            self._exit_seen = [False] * len(self._exit_layers)
        return metrics

    def _values(self, metric: Metric, reset: bool, everything: bool = False) -> Dict[str, float]:
        if not self.spans:
            return {ACCURACY_KEY: metric.get_metric(reset)}
        values = metric.get_metric(reset)
        if everything:
            return {key: value for key, value in values.items() if key.endswith("-overall") or key.startswith("f1")}
        return {SPAN_KEY: values[SPAN_KEY]}
