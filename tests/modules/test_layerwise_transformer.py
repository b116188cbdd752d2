import pytest
import torch
import transformers
from allennlp.common.checks import ConfigurationError

from sledgehammer.modules.layerwise_transformer import LayerwiseTransformer
from tests.tiny_encoders import KINDS


def _batch(encoder_dir):
    tokenizer = transformers.AutoTokenizer.from_pretrained(encoder_dir)
    batch = tokenizer(
        ["the film is good", "a dog runs in the park with a cat", "bad"],
        ["the movie was fun", "dogs", "the plot is dull and the acting is bad and the story is very very boring too"],
        padding=True,
        return_tensors="pt",
    )
    return batch


@pytest.mark.parametrize("kind", KINDS)
def test_layer_by_layer_equals_the_plain_forward(tiny_encoder_factory, kind):
    directory = tiny_encoder_factory(kind)
    reference = transformers.AutoModel.from_pretrained(directory).eval()
    runner = LayerwiseTransformer(directory).eval()
    batch = _batch(directory)
    with torch.no_grad():
        expected = reference(**batch).last_hidden_state
        state = runner.embed(batch["input_ids"], batch["attention_mask"], batch.get("token_type_ids"))
        for layer in range(runner.num_layers):
            state = runner.run_layer(layer, state)
    mask = batch["attention_mask"].bool()
    assert torch.allclose(state.hidden[mask], expected[mask], atol=1e-5)


@pytest.mark.parametrize("kind", KINDS)
def test_dropping_rows_and_padding_keeps_the_remaining_rows_exact(tiny_encoder_factory, kind):
    directory = tiny_encoder_factory(kind)
    runner = LayerwiseTransformer(directory).eval()
    batch = _batch(directory)
    with torch.no_grad():
        full = runner.embed(batch["input_ids"], batch["attention_mask"], batch.get("token_type_ids"))
        part = runner.run_layer(0, full)
        full = runner.run_layer(0, full)
        # Keep the two shortest rows, so their padding shrinks.
        lengths = batch["attention_mask"].sum(1)
        kept = lengths.argsort()[:2].sort().values
        part = runner.keep_rows(part, kept)
        assert part.hidden.shape[1] == int(lengths[kept].max()) < full.hidden.shape[1]
        for layer in range(1, runner.num_layers):
            part = runner.run_layer(layer, part)
            full = runner.run_layer(layer, full)
    for position, row in enumerate(kept.tolist()):
        length = int(lengths[row])
        assert torch.allclose(part.hidden[position, :length], full.hidden[row, :length], atol=1e-5)


def test_truncation_drops_upper_layers_from_the_state_dict(tiny_bert):
    runner = LayerwiseTransformer(tiny_bert, num_layers=2)
    assert runner.num_layers == 2 and runner.total_layers == 4
    assert not any(".layer.2." in key or ".layer.3." in key for key in runner.state_dict())


def test_pooler_is_used_when_the_encoder_has_one(tiny_encoder_factory):
    assert LayerwiseTransformer(tiny_encoder_factory("bert")).has_pooler
    no_pooler = LayerwiseTransformer(tiny_encoder_factory("distilbert"))
    assert not no_pooler.has_pooler
    vector = torch.randn(2, no_pooler.hidden_size)
    assert torch.equal(no_pooler.pool(vector), vector)


def test_bad_layer_counts_are_configuration_errors(tiny_bert):
    with pytest.raises(ConfigurationError, match="has 4"):
        LayerwiseTransformer(tiny_bert, num_layers=5)
