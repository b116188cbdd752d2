"""`LayerwiseTransformer.run_layer_for_tokens`: queries, attention and feed-forward for running tokens only."""
import pytest
import torch
import transformers
from allennlp.common.checks import ConfigurationError

from sledgehammer.modules.layerwise_transformer import LayerwiseTransformer


def _state(runner, directory):
    tokenizer = transformers.AutoTokenizer.from_pretrained(directory)
    batch = tokenizer(
        ["the film is good", "a dog runs in the park with a cat", "bad"], padding=True, return_tensors="pt"
    )
    return runner.embed(batch["input_ids"], batch["attention_mask"], batch.get("token_type_ids"))


@pytest.mark.parametrize("kind", ["bert", "roberta", "electra"])
def test_with_every_token_running_the_partial_layer_equals_the_full_layer(tiny_encoder_factory, kind):
    directory = tiny_encoder_factory(kind)
    runner = LayerwiseTransformer(directory).eval()
    with torch.no_grad():
        state = _state(runner, directory)
        for layer in range(runner.num_layers):
            full = runner.run_layer(layer, state)
            everything = runner.run_layer_for_tokens(layer, state, torch.ones_like(state.mask))
            real_only = runner.run_layer_for_tokens(layer, state, state.mask)
            assert torch.allclose(everything.hidden, full.hidden, atol=1e-5)
            assert torch.allclose(real_only.hidden[state.mask], full.hidden[state.mask], atol=1e-5)
            # Padding does not run: its state is untouched.
            assert torch.equal(real_only.hidden[~state.mask], state.hidden[~state.mask])
            state = full


def test_halted_tokens_keep_their_state_and_are_not_computed(tiny_bert):
    runner = LayerwiseTransformer(tiny_bert).eval()
    layer = runner.layers[1]
    rows_seen = {}
    hooks = [
        module.register_forward_hook(lambda m, args, out, name=name: rows_seen.update({name: args[0].shape}) or None)
        for name, module in [
            ("query", layer.attention.self.query),
            ("key", layer.attention.self.key),
            ("attention_output", layer.attention.output.dense),
            ("intermediate", layer.intermediate),
            ("output", layer.output.dense),
        ]
    ]
    with torch.no_grad():
        state = runner.run_layer(0, _state(runner, tiny_bert))
        running = state.mask.clone()
        running[0, 2:4] = False  # two halted words in the first row
        running[1, 1::2] = False  # every other token of the second
        after = runner.run_layer_for_tokens(1, state, running)
        for hook in hooks:
            hook.remove()
        full = runner.run_layer(1, state)
    halted = state.mask & ~running
    assert torch.equal(after.hidden[halted], state.hidden[halted])
    assert not torch.allclose(after.hidden[running], state.hidden[running])
    count = int(running.sum())
    for name in ("query", "attention_output", "intermediate", "output"):
        assert rows_seen[name][0] == count, name  # packed: one row per running token
    assert rows_seen["key"][:2] == state.hidden.shape[:2]  # keys from every position
    # The third row (nothing halted, but attending to nothing halted either) equals the full layer.
    assert torch.allclose(after.hidden[2][state.mask[2]], full.hidden[2][state.mask[2]], atol=1e-5)


def test_nothing_running_leaves_the_state_alone(tiny_bert):
    runner = LayerwiseTransformer(tiny_bert).eval()
    state = _state(runner, tiny_bert)
    after = runner.run_layer_for_tokens(0, state, torch.zeros_like(state.mask))
    assert torch.equal(after.hidden, state.hidden)


@pytest.mark.parametrize("kind", ["distilbert", "mpnet"])
def test_other_families_are_refused(tiny_encoder_factory, kind):
    runner = LayerwiseTransformer(tiny_encoder_factory(kind))
    assert not runner.supports_token_halting()
    with pytest.raises(ConfigurationError, match="BERT-layout"):
        runner.run_layer_for_tokens(0, _state(runner, tiny_encoder_factory(kind)), torch.tensor([[True]]))
