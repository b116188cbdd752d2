"""
A `Predictor` base (registered as nothing) that writes only the output keys its subclass names, and gives each
input its own threshold when its JSON holds one.
"""
from typing import List, Optional, Tuple

import torch
from allennlp.common.util import JsonDict
from allennlp.data import Instance
from allennlp.data.fields import TensorField
from allennlp.predictors.predictor import Predictor

from sledgehammer.modules.exit_policies import check_threshold

# The input key of a per-row threshold, and the instance field (and `forward` argument) it becomes.
ROW_THRESHOLD = "threshold"


def row_threshold(record: JsonDict) -> Optional[float]:
    """
    The threshold an input's JSON asks for (`{"sentence": "...", "threshold": 0.8}`), or `None` without one;
    a `ThresholdError` (a `ConfigurationError`) naming the field unless it is a number in [0, 1].
    """
    if ROW_THRESHOLD not in record:
        return None
    return check_threshold(record[ROW_THRESHOLD], f"the field {ROW_THRESHOLD!r}")


class SelectedOutputsPredictor(Predictor):
    """
    Keeps only `output_keys` (those present) of the model's human-readable output, for single instances and
    batches alike, so that the JSON lines a user reads hold the documented keys and nothing internal.

    An input whose JSON holds `"threshold"` (a number in [0, 1]) is predicted at that threshold instead of the
    model's; inputs with different thresholds still share one batch (the instances carry a `threshold` field,
    and the early-exit models compare each row's exit score with its own threshold). In a batch where some inputs
    give a threshold, the others get the model's.
    """

    output_keys: Tuple[str, ...] = ()

    def predict_instance(self, instance: Instance) -> JsonDict:
        return self._select(super().predict_instance(instance))

    def predict_batch_instance(self, instances: List[Instance]) -> List[JsonDict]:
        return [self._select(output) for output in super().predict_batch_instance(instances)]

    def predict_json(self, inputs: JsonDict) -> JsonDict:
        return self.predict_instance(self._batch_json_to_instances([inputs])[0])

    def _batch_json_to_instances(self, json_dicts: List[JsonDict]) -> List[Instance]:
        thresholds = [row_threshold(record) for record in json_dicts]
        instances = [self._json_to_instance(record) for record in json_dicts]
        self._add_row_thresholds(instances, thresholds)
        return instances

    def _add_row_thresholds(self, instances: List[Instance], thresholds: List[Optional[float]]) -> None:
        """Gives every instance a `threshold` field when some input asked for one (the model's for the others)."""
        if any(threshold is not None for threshold in thresholds):
            default = float(self._model.threshold)  # type: ignore[attr-defined]
            for instance, threshold in zip(instances, thresholds):
                value = default if threshold is None else threshold
                instance.add_field(ROW_THRESHOLD, TensorField(torch.tensor(value, dtype=torch.float)))

    def _select(self, output: JsonDict) -> JsonDict:
        return {key: output[key] for key in self.output_keys if key in output}
