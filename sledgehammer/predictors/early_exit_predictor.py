import json
from typing import List, Optional, Tuple

from allennlp.common.checks import ConfigurationError
from allennlp.common.util import JsonDict
from allennlp.data import DatasetReader, Instance
from allennlp.models import Model
from allennlp.predictors.predictor import Predictor

from sledgehammer.predictors.selected_outputs import SelectedOutputsPredictor, row_threshold

# Accepted input field names, single texts and pairs; a reader's own configured names are tried first.
TEXT_FIELDS = ("sentence", "text")
PAIR_FIELDS = (("premise", "hypothesis"), ("sentence1", "sentence2"))

# What each output line carries, in this order.
OUTPUT_KEYS = ("label", "probs", "confidence", "exit_layer", "exit_index", "layers_run", "exit_probs")


@Predictor.register("sledgehammer_classifier")
class EarlyExitPredictor(SelectedOutputsPredictor):
    """
    Predicts labels with an early-exit classifier, one JSON object per input line.

    Input lines are `{"sentence": "..."}` (or `"text"`) for single texts and
    `{"premise": "...", "hypothesis": "..."}` (or `sentence1`/`sentence2`) for pairs, or use the field names the
    archive's dataset reader was configured with. Each output line holds `label`, `probs` (calibrated, of the
    answering exit), `confidence`, `exit_layer` (encoder layer, 0-based), `exit_index` (0-based among exits),
    `layers_run` and `exit_probs` (calibrated probabilities of every exit the input reached). An input may carry
    its own `"threshold"` (a number in [0, 1]); inputs with different thresholds share a batch.

    Registered as a `Predictor` with name "sledgehammer_classifier".

    # Parameters

    model : `Model`
        A `sledgehammer_classifier`.
    dataset_reader : `DatasetReader`
        The archive's dataset reader; its `text_to_instance(text, text_pair)` builds the inputs.
    frozen : `bool`, optional (default = `True`)
    threshold : `float`, optional (default = `None`)
        Exit threshold in [0, 1] for this predictor (`--predictor-args '{"threshold": 0.9}'`); `None` keeps
        the model's.
    """

    output_keys = OUTPUT_KEYS

    def __init__(
        self,
        model: Model,
        dataset_reader: DatasetReader,
        frozen: bool = True,
        threshold: Optional[float] = None,
    ) -> None:
        super().__init__(model, dataset_reader, frozen)
        if not hasattr(model, "threshold"):
            raise ConfigurationError(
                f"the sledgehammer_classifier predictor needs a sledgehammer_classifier model, "
                f"got {type(model).__name__}"
            )
        if threshold is not None:
            model.threshold = threshold

    def load_line(self, line: str) -> JsonDict:
        """
        Parses one input line into a record with the fields `predict_json` needs. The messages say what
        was expected; `allennlp predict` (see `sledgehammer.commands.predict_input`) adds the file name
        and the line number.
        """
        try:
            record = json.loads(line)
        except json.JSONDecodeError as error:
            raise ConfigurationError(
                f'expected a JSON object such as {{"sentence": "..."}}, found invalid JSON '
                f"({error.msg} at column {error.colno})"
            ) from None
        if not isinstance(record, dict):
            raise ConfigurationError(
                f'expected a JSON object such as {{"sentence": "..."}}, found a JSON {type(record).__name__}'
            )
        self._fields(record, where=None)
        row_threshold(record)
        return record

    def predict(self, sentence: str, text_pair: Optional[str] = None) -> JsonDict:
        """Predicts one text, or one pair when `text_pair` is given."""
        record = {"sentence": sentence} if text_pair is None else {"premise": sentence, "hypothesis": text_pair}
        return self.predict_json(record)

    def _json_to_instance(self, json_dict: JsonDict) -> Instance:
        text, text_pair = self._fields(json_dict, where="input")
        return self._dataset_reader.text_to_instance(text=text, text_pair=text_pair)

    def _fields(self, record: JsonDict, where: Optional[str]) -> Tuple[str, Optional[str]]:
        reader_text = getattr(self._dataset_reader, "text_field", None)
        reader_pair = getattr(self._dataset_reader, "text_pair_field", None)
        pairs: List[Tuple[str, str]] = list(PAIR_FIELDS)
        if reader_text and reader_pair:
            pairs.insert(0, (reader_text, reader_pair))
        for first, second in pairs:
            if first in record and second in record:
                return self._text(record, first, where), self._text(record, second, where)
        singles = ([reader_text] if reader_text and not reader_pair else []) + list(TEXT_FIELDS)
        for name in singles:
            if name in record:
                return self._text(record, name, where), None
        raise ConfigurationError(
            _located(
                where,
                f"expected a field {' or '.join(repr(n) for n in singles)} (single text) or a pair "
                f"{' or '.join(f'{a!r}/{b!r}' for a, b in pairs)}, found {sorted(record)}",
            )
        )

    @staticmethod
    def _text(record: JsonDict, name: str, where: Optional[str]) -> str:
        value = record[name]
        if not isinstance(value, str) or not value.strip():
            raise ConfigurationError(
                _located(where, f"expected a non-empty string in the field {name!r}, found {value!r}")
            )
        return value



def _located(where: Optional[str], detail: str) -> str:
    return detail if where is None else f"{where}: {detail}"
