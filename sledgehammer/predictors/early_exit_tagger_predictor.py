import json
from typing import List, Optional, Tuple

from allennlp.common.checks import ConfigurationError
from allennlp.common.util import JsonDict
from allennlp.data import DatasetReader, Instance
from allennlp.models import Model
from allennlp.predictors.predictor import Predictor

from sledgehammer.dataset_readers.sequence_tagging_reader import SequenceTaggingReader
from sledgehammer.predictors.selected_outputs import SelectedOutputsPredictor, row_threshold

# What each output line carries, in this order.
OUTPUT_KEYS = ("words", "tags", "confidences", "exit_layers")
EXAMPLE = '{"tokens": ["EU", "rejects", "German", "call"]} or {"sentence": "EU rejects German call"}'


@Predictor.register("sledgehammer_tagger")
class EarlyExitTaggerPredictor(SelectedOutputsPredictor):
    """
    Tags sentences with an early-exit tagger, one JSON object per input line.

    Input lines are `{"tokens": ["EU", "rejects", ...]}` (the words as a list) or `{"sentence": "EU rejects
    German call"}` (split on whitespace). Each output line holds, one entry per input word, `words`, `tags`,
    `confidences` (the largest calibrated probability at the word's answering exit) and `exit_layers` (the
    encoder layer, 0-based, that answered for the word). An input with more word pieces than the reader's
    `max_word_pieces` is split into consecutive chunks of whole words exactly as the reader splits a sentence
    of a data file (`SequenceTaggingReader.word_chunks`); the chunks are tagged on their own and their outputs
    joined back in order, so the output still has one entry per input word. A single word with more word
    pieces than fit is an input error naming its position. An input may carry its own `"threshold"` (a number
    in [0, 1]); inputs with different thresholds share a batch. With `--use-dataset-reader`, gold tags unknown
    to the model are an error naming the tag.

    Registered as a `Predictor` with name "sledgehammer_tagger".

    # Parameters

    model : `Model`
        A `sledgehammer_tagger`.
    dataset_reader : `DatasetReader`
        The archive's dataset reader; its `text_to_instance(words)` builds the inputs.
    frozen : `bool`, optional (default = `True`)
    threshold : `float`, optional (default = `None`)
        Exit threshold in [0, 1] (`--predictor-args '{"threshold": 0.9}'`); `None` keeps the model's.
    window : `int`, optional (default = `None`)
        Odd window of token-level exit; `None` keeps the model's.
    exit_mode : `str`, optional (default = `None`)
        `"sentence"` or `"token"`; `None` keeps the model's.
    """

    output_keys = OUTPUT_KEYS

    def __init__(
        self,
        model: Model,
        dataset_reader: DatasetReader,
        frozen: bool = True,
        threshold: Optional[float] = None,
        window: Optional[int] = None,
        exit_mode: Optional[str] = None,
    ) -> None:
        super().__init__(model, dataset_reader, frozen)
        if not hasattr(model, "exit_mode"):
            raise ConfigurationError(
                f"the sledgehammer_tagger predictor needs a sledgehammer_tagger model, got {type(model).__name__}"
            )
        for name, value in (("threshold", threshold), ("window", window), ("exit_mode", exit_mode)):
            if value is not None:
                setattr(model, name, value)

    def load_line(self, line: str) -> JsonDict:
        """Parses and checks one input line; `allennlp predict` adds the file name and line number to errors."""
        try:
            record = json.loads(line)
        except json.JSONDecodeError as error:
            raise ConfigurationError(
                f"expected a JSON object such as {EXAMPLE}, found invalid JSON ({error.msg} at column {error.colno})"
            ) from None
        if not isinstance(record, dict):
            raise ConfigurationError(f"expected a JSON object such as {EXAMPLE}, found a JSON {type(record).__name__}")
        self._chunks(self._words(record))  # a word that does not fit even alone is an error about this line
        row_threshold(record)
        return record

    def predict(self, sentence: str) -> JsonDict:
        """Tags one sentence given as a string (split on whitespace)."""
        return self.predict_json({"sentence": sentence})

    def predict_tokens(self, tokens: List[str]) -> JsonDict:
        """Tags one sentence given as a list of words."""
        return self.predict_json({"tokens": tokens})

    def predict_json(self, inputs: JsonDict) -> JsonDict:
        return self.predict_batch_json([inputs])[0]

    def predict_batch_json(self, inputs: List[JsonDict]) -> List[JsonDict]:
        """
        Tags every input, splitting long ones into chunks (see the class docstring). The chunks of all inputs
        run in batches of `len(inputs)` instances (`allennlp predict --batch-size`), in input order.
        """
        chunks = []  # (input index, the words of one chunk)
        for index, record in enumerate(inputs):
            words = self._words(record)
            chunks.extend((index, words[start:end]) for start, end in self._chunks(words))
        instances = [self._dataset_reader.text_to_instance(words) for _, words in chunks]
        self._add_row_thresholds(instances, [row_threshold(inputs[index]) for index, _ in chunks])
        size = max(1, len(inputs))
        outputs: List[JsonDict] = []
        for start in range(0, len(instances), size):
            outputs.extend(self.predict_batch_instance(instances[start:start + size]))
        joined: List[JsonDict] = [{} for _ in inputs]
        for (index, _), output in zip(chunks, outputs):
            for key, values in output.items():
                joined[index].setdefault(key, []).extend(values)
        return joined

    def _json_to_instance(self, json_dict: JsonDict) -> Instance:
        return self._dataset_reader.text_to_instance(self._words(json_dict))

    def _chunks(self, words: List[str]) -> List[Tuple[int, int]]:
        if isinstance(self._dataset_reader, SequenceTaggingReader):
            return self._dataset_reader.word_chunks(words)
        return [(0, len(words))]  # another reader: its text_to_instance decides

    @staticmethod
    def _words(record: JsonDict) -> List[str]:
        if "tokens" in record:
            words = record["tokens"]
            if not isinstance(words, list) or not words or not all(isinstance(w, str) and w.strip() for w in words):
                raise ConfigurationError(
                    f"expected a non-empty list of non-empty strings in the field 'tokens', found {words!r}"
                )
            return words
        if "sentence" in record:
            sentence = record["sentence"]
            if not isinstance(sentence, str) or not sentence.strip():
                raise ConfigurationError(
                    f"expected a non-empty string in the field 'sentence', found {sentence!r}"
                )
            return sentence.split()
        raise ConfigurationError(f"expected a field 'tokens' or 'sentence' ({EXAMPLE}), found {sorted(record)}")
