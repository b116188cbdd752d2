"""A `Predictor` base (registered as nothing) that writes only the output keys its subclass names."""
from typing import List, Tuple

from allennlp.common.util import JsonDict
from allennlp.data import Instance
from allennlp.predictors.predictor import Predictor


class SelectedOutputsPredictor(Predictor):
    """
    Keeps only `output_keys` (those present) of the model's human-readable output, for single instances and
    batches alike, so that the JSON lines a user reads hold the documented keys and nothing internal.
    """

    output_keys: Tuple[str, ...] = ()

    def predict_instance(self, instance: Instance) -> JsonDict:
        return self._select(super().predict_instance(instance))

    def predict_batch_instance(self, instances: List[Instance]) -> List[JsonDict]:
        return [self._select(output) for output in super().predict_batch_instance(instances)]

    def _select(self, output: JsonDict) -> JsonDict:
        return {key: output[key] for key in self.output_keys if key in output}
