"""Sentence- and token-level early exit of the tagger: decisions, batching, and what is (not) computed."""
import pytest
import torch

from sledgehammer.modules.exit_policies import ConfidencePolicy, EntropyPolicy, PatiencePolicy
from sledgehammer.modules.token_halting import piece_owners
from tests.models.test_early_exit_tagger import (
    SENTENCES,
    make_instances,
    make_tagger,
    run,
    spread_heads,
    tensors,
    word_scores,
)

MARGIN = 1e-4  # far above the float noise between batch shapes (~1e-6)


def candidate_thresholds(values):
    """Midpoints of the gaps between `values` (a 1-d tensor), widest gap first."""
    values = values[~torch.isnan(values)].unique().sort().values
    gaps = values[1:] - values[:-1]
    return [float((values[i] + values[i + 1]) / 2) for i in gaps.argsort(descending=True).tolist()]


def safe_threshold(model, instances, exit_mode, window=1):
    """
    A threshold at which the batched run sends words out at more than one exit while no score the run computed
    lies within `MARGIN` of it, so that the float noise of other batch shapes cannot flip a decision.
    """
    model.exit_mode, model.window = exit_mode, window
    model.threshold, model.run_all_exit_heads = 1.0, True
    reference = word_scores(model, run(model, instances))[:, :, :-1]
    model.run_all_exit_heads = False
    for threshold in candidate_thresholds(reference.flatten())[:20]:
        model.threshold = threshold
        output = run(model, instances)
        scores = word_scores(model, output)[:, :, :-1][output["mask"]]
        reached = ~torch.isnan(scores)
        exits = set(output["exit_index"][output["mask"]].tolist())
        if len(exits) > 1 and ((scores[reached] - threshold).abs() > MARGIN).all():
            return output
    pytest.fail("no threshold splits the words at a safe distance from every score")


CASES = [
    (policy, exit_mode, window)
    for policy in (ConfidencePolicy, EntropyPolicy)
    for exit_mode, window in (("sentence", 1), ("token", 1), ("token", 3))
] + [(PatiencePolicy, "token", 1), (PatiencePolicy, "token", 3)]  # random heads rarely agree on whole sentences


@pytest.mark.parametrize("policy_class, exit_mode, window", CASES)
def test_batched_early_exit_equals_batch_size_one(tiny_bert, one_torch_thread, policy_class, exit_mode, window):
    model = make_tagger(tiny_bert, temperatures=[1.0, 1.5, 0.7, 1.0], exit_policy=policy_class())
    instances = make_instances(tiny_bert, with_tags=False)
    spread_heads(model, instances)
    if policy_class is PatiencePolicy:  # discrete scores: a threshold between them is safe
        model.exit_mode, model.window = exit_mode, window
        for model.threshold in (1 / 3, 2 / 3, 0.0 + 1e-6):  # patience 1, then 2, then "answer at once"
            batched = run(model, instances)
            if len(set(batched["exit_index"][batched["mask"]].tolist())) > 1:
                break
        assert len(set(batched["exit_index"][batched["mask"]].tolist())) > 1
    else:
        batched = safe_threshold(model, instances, exit_mode, window)
    if exit_mode == "token":  # words of one sentence answer at different exits
        assert any(len(set(row[mask].tolist())) > 1 for row, mask in zip(batched["exit_index"], batched["mask"]))
    for i, instance in enumerate(instances):
        alone = run(model, [instance])
        words = len(SENTENCES[i].split())
        assert alone["exit_index"][0].tolist() == batched["exit_index"][i, :words].tolist()
        assert torch.allclose(alone["probs"][0], batched["probs"][i, :words], atol=1e-4)
        if exit_mode == "sentence":
            assert len(set(alone["exit_index"][0].tolist())) == 1


def record_layers(model):
    """Records `(layer, hidden after it, running or None)` for each layer the encoder runs."""
    encoder, seen = model._encoder, []
    full, partial = encoder.run_layer, encoder.run_layer_for_tokens

    def run_layer(index, state):
        after = full(index, state)
        seen.append((index, after.hidden.clone(), None))
        return after

    def run_layer_for_tokens(index, state, running):
        after = partial(index, state, running)
        seen.append((index, after.hidden.clone(), running.clone()))
        return after

    encoder.run_layer, encoder.run_layer_for_tokens = run_layer, run_layer_for_tokens
    return seen


def test_halted_words_keep_their_states_and_get_no_queries_or_feed_forward(tiny_bert, one_torch_thread):
    model = make_tagger(tiny_bert)
    sentence = ["the director and the actors are very good but the plot is dull and the acting is bad"]
    instances = make_instances(tiny_bert, sentence, with_tags=False)
    spread_heads(model, instances + make_instances(tiny_bert, with_tags=False))
    safe_threshold(model, instances, "token", window=3)
    seen = record_layers(model)
    rows = []
    hooks = [module.register_forward_hook(lambda m, args, out: rows.append(args[0].shape[:-1].numel()))
             for layer in model._encoder.layers for module in (layer.attention.self.query, layer.intermediate)]
    output = run(model, instances)
    for hook in hooks:
        hook.remove()
    inputs = tensors(model, instances)["tokens"]["tokens"]
    owners = piece_owners(inputs["offsets"], inputs["mask"].bool(), inputs["token_ids"].shape[1])[0]
    exit_layer = output["exit_layer"][0]
    assert len(set(exit_layer.tolist())) > 1
    expected_rows = []
    for layer, hidden, running in seen:
        # A word runs layer l iff it answered at an exit on layer l or above; [CLS] and [SEP] always run.
        runs = torch.tensor([o < 0 or exit_layer[o] >= layer for o in owners.tolist()])
        if running is None:
            assert runs.all()
            expected_rows += [runs.numel()] * 2
        else:
            assert running[0].tolist() == runs.tolist()
            expected_rows += [int(runs.sum())] * 2
        for word, halted_at in enumerate(exit_layer.tolist()):
            if halted_at < layer:  # the word's pieces kept the state they had after layer `halted_at`
                pieces = owners == word
                assert torch.equal(hidden[0, pieces], seen[halted_at][1][0, pieces])
    assert rows == expected_rows
    assert any(running is not None for _, _, running in seen)
    assert sum(rows) < 2 * len(seen) * owners.numel()


def test_upper_uncertainty_factor_lets_the_upper_exits_answer_earlier(tiny_bert):
    model = make_tagger(tiny_bert, exit_policy=EntropyPolicy())
    instances = make_instances(tiny_bert, with_tags=False)
    spread_heads(model, instances)
    model.threshold = 0.999
    strict = run(model, instances)
    model.upper_uncertainty_factor = 1000.0  # exits on layers 2 and 3 answer whatever their certainty
    relaxed = run(model, instances)
    mask = relaxed["mask"]
    assert (relaxed["exit_layer"][mask] <= 2).all()
    assert (relaxed["exit_layer"][mask] <= strict["exit_layer"][mask]).all()


def test_reference_runs_match_the_every_exit_pass(tiny_bert, one_torch_thread):
    """The full-model baseline, a static exit and a plan that halts nobody early give the every-exit pass's logits."""
    model = make_tagger(tiny_bert)
    instances = make_instances(tiny_bert)
    spread_heads(model, instances)
    batch = tensors(model, instances)
    model.eval()
    model.run_all_exit_heads = True
    with torch.no_grad():
        every = model(tokens=batch["tokens"])
        mask = every["mask"]
        plain = model.plain_forward_logits(batch["tokens"])
        assert torch.allclose(plain[mask], every["exit_logits"][:, :, -1][mask], atol=1e-4)
        for k in range(model.num_exits):
            static = model.static_exit_logits(batch["tokens"], k)
            assert torch.allclose(static[mask], every["exit_logits"][:, :, k][mask], atol=1e-5)
        model.get_metrics(reset=True)
        last = torch.full_like(mask, model.num_exits - 1, dtype=torch.long)
        planned = model.forward_with_exit_plan(batch["tokens"], last, tags=batch["tags"])
        assert torch.equal(planned["tags"][mask], every["tags"][mask])
        # Every layer for every word, plus the heads of the exits each word passed (the full model pays the last one).
        assert 1.0 < model.get_metrics(reset=True)["relative_flops"] < 1.05


def test_an_exit_plan_runs_like_token_level_exit(tiny_bert, one_torch_thread):
    """Halting each word where token-level exit halted it gives token-level exit's answers and cost."""
    model = make_tagger(tiny_bert, exit_mode="token", window=3, threshold=0.5)
    instances = make_instances(tiny_bert)
    spread_heads(model, instances)
    batch = tensors(model, instances)
    model.eval()
    with torch.no_grad():
        model.get_metrics(reset=True)
        online = model(tokens=batch["tokens"], tags=batch["tags"])
        online_metrics = model.get_metrics(reset=True)
        assert 0 < online_metrics["relative_flops"] < 1
        planned = model.forward_with_exit_plan(batch["tokens"], online["exit_index"], tags=batch["tags"])
        planned_metrics = model.get_metrics(reset=True)
    mask = online["mask"]
    assert torch.equal(planned["tags"][mask], online["tags"][mask])
    assert torch.allclose(planned["confidence"][mask], online["confidence"][mask], atol=1e-5)
    assert planned_metrics["relative_flops"] == pytest.approx(online_metrics["relative_flops"])
    assert planned_metrics["f1-measure-overall"] == pytest.approx(online_metrics["f1-measure-overall"])
