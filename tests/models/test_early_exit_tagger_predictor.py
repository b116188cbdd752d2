import pytest
from allennlp.common.checks import ConfigurationError

from sledgehammer.dataset_readers import Conll2003Reader
from sledgehammer.predictors import EarlyExitTaggerPredictor
from tests.models.test_early_exit_tagger import NER_TAGS, make_tagger


@pytest.fixture
def predictor(tiny_bert):
    return EarlyExitTaggerPredictor(make_tagger(tiny_bert), Conll2003Reader(tiny_bert), threshold=0.0)


def test_tokens_and_sentences_give_one_entry_per_word(predictor):
    by_tokens = predictor.predict_tokens(["the", "film", "is", "good"])
    by_sentence = predictor.predict("the  film is\tgood")
    assert by_tokens == by_sentence
    assert by_tokens["words"] == ["the", "film", "is", "good"]
    assert set(by_tokens["tags"]) <= set(NER_TAGS) and by_tokens["exit_layers"] == [0, 0, 0, 0]
    batch = predictor.predict_batch_json([{"sentence": "bad"}, {"tokens": ["a", "dog", "runs"]}])
    assert [len(output["tags"]) for output in batch] == [1, 3]


def test_predictor_arguments_set_the_runtime_knobs(tiny_bert):
    model = make_tagger(tiny_bert)
    EarlyExitTaggerPredictor(model, Conll2003Reader(tiny_bert), threshold=0.5, window=3, exit_mode="token")
    assert (model.threshold, model.window, model.exit_mode) == (0.5, 3, "token")
    with pytest.raises(ConfigurationError, match="window"):
        EarlyExitTaggerPredictor(model, Conll2003Reader(tiny_bert), window=4)


@pytest.mark.parametrize(
    "line, message",
    [
        ("not json", "invalid JSON"),
        ("[1, 2]", "found a JSON list"),
        ('{"text": "a b"}', "expected a field 'tokens' or 'sentence'"),
        ('{"tokens": []}', "non-empty list"),
        ('{"tokens": ["a", ""]}', "non-empty list"),
        ('{"tokens": "a b"}', "non-empty list"),
        ('{"sentence": "  "}', "non-empty string"),
    ],
)
def test_bad_input_lines(predictor, line, message):
    with pytest.raises(ConfigurationError, match=message):
        predictor.load_line(line)
