"""
Self-sampling fine-tuning of the tagger: the cache of stage-1 scores, the replayed halting rule, the planned
training forward and its loss.
"""
from types import SimpleNamespace

import pytest
import torch
from allennlp.common.checks import ConfigurationError

from sledgehammer.models.self_sampling_callback import CACHE_NAME, SelfSamplingCallback, compute_scores
from sledgehammer.models.tagger_self_sampling import SelfSampling, cache_key
from sledgehammer.modules.exit_policies import ConfidencePolicy, EntropyPolicy
from sledgehammer.modules.token_halting import piece_owners
from tests.models.test_early_exit_tagger import make_instances, make_tagger, spread_heads, tensors
from tests.models.test_early_exit_tagger_exits import record_layers, safe_threshold

KEYS = [(f"train.txt:{i}", None, ("word",) * (i % 4 + 1)) for i in range(8)]


class FixedPlan:
    """Stands in for `SelfSampling`: the same halting exits for every batch."""

    def __init__(self, exit_index):
        self.exit_index = torch.tensor(exit_index)

    def exit_plan(self, model, metadata, word_mask):
        return self.exit_index[:, : word_mask.shape[1]].clone()


@pytest.mark.parametrize("policy_class", [EntropyPolicy, ConfidencePolicy])
@pytest.mark.parametrize("window", [1, 3, 5])
def test_the_replay_on_cached_scores_gives_the_exits_of_token_level_inference(
    tiny_bert, one_torch_thread, policy_class, window
):
    model = make_tagger(tiny_bert, exit_policy=policy_class(), temperatures=[1.0, 1.5, 0.7, 1.0])
    instances = make_instances(tiny_bert)
    spread_heads(model, instances)
    inference = safe_threshold(model, instances, "token", window)  # sets the threshold, window and exit mode
    assert len(set(inference["exit_index"][inference["mask"]].tolist())) > 1
    # The callback's cache, in its own batches and order; then the plan with the inference setting.
    scores = compute_scores(model, instances, batch_size=5)
    assert len(scores) == len(instances)
    sampling = SelfSampling(scores, windows=[window], max_uncertainty=1.0 - model.threshold, aggressive_share=1.0,
                            full_share=0.0)
    metadata = [instance["metadata"].metadata for instance in instances]
    assert sampling.settings([cache_key(entry) for entry in metadata]) == [(window, 1.0 - model.threshold)] * 12
    plan = sampling.exit_plan(model, metadata, inference["mask"])
    mask = inference["mask"]
    assert plan[mask].tolist() == inference["exit_index"][mask].tolist()
    assert (plan[~mask] == model.num_exits - 1).all()


def test_the_callback_caches_the_scores_once_and_attaches_the_sampling(tiny_bert, tmp_path, one_torch_thread):
    model = make_tagger(tiny_bert)
    instances = make_instances(tiny_bert)
    model.train()

    def trainer(iter_instances, batches=0):
        return SimpleNamespace(model=model, data_loader=SimpleNamespace(iter_instances=iter_instances),
                               _epochs_completed=2, _total_batches_completed=batches)

    callback = SelfSamplingCallback(str(tmp_path), windows=[3, 5], max_uncertainty=0.2, seed=7)
    callback.on_start(trainer(lambda: iter(instances)))
    sampling = model.self_sampling
    assert (sampling.windows, sampling.max_uncertainty, sampling.seed, sampling.epoch) == ([3, 5], 0.2, 7, 2)
    expected = compute_scores(model, instances, batch_size=32)
    assert set(sampling.scores) == set(expected) and len(expected) == len(instances)
    assert all(torch.equal(sampling.scores[key], expected[key]) for key in expected)
    assert model.training  # back in training mode after caching
    callback.on_epoch(trainer(None), metrics={}, epoch=2)
    assert model.self_sampling.epoch == 3
    callback.on_end(trainer(None))
    assert model.self_sampling is None

    def unreadable():
        raise AssertionError("the cached scores are read, not computed again")

    # A recovered run reads the file; the scores stay the stage-1 ones though the weights changed.
    with torch.no_grad():
        model._exit_classifiers[0].bias.add_(1.0)
    callback.on_start(trainer(unreadable, batches=5))
    assert all(torch.equal(model.self_sampling.scores[key], expected[key]) for key in expected)
    model.temperatures = [2.0, 1.0, 1.0, 1.0]
    with pytest.raises(ConfigurationError, match="were made for"):
        callback.on_start(trainer(unreadable, batches=5))
    (tmp_path / CACHE_NAME).unlink()
    with pytest.raises(ConfigurationError, match="cannot be computed again"):
        callback.on_start(trainer(unreadable, batches=5))


def test_settings_are_deterministic_with_the_shares_of_the_sandwich():
    def make(**changes):
        settings = dict(windows=[3, 7], max_uncertainty=0.2, aggressive_share=0.25, full_share=0.25, seed=1)
        settings.update(changes)
        return SelfSampling({}, **settings)

    first = make().settings(KEYS)
    assert first == make().settings(KEYS)
    assert first.count((3, 0.2)) == 2 and first.count(None) == 2
    sampled = [setting for setting in first if setting not in (None, (3, 0.2))]
    assert len(sampled) == 4
    assert all(window in (3, 7) and 0.0 <= uncertainty <= 0.2 for window, uncertainty in sampled)
    assert make(seed=2).settings(KEYS) != first
    later = make()
    later.epoch = 1
    assert later.settings(KEYS) != first
    # A share that is not a whole number of sentences rounds up or down at random.
    counts = {make(aggressive_share=0.1, seed=seed).settings(KEYS[:5]).count((3, 0.2)) for seed in range(40)}
    assert counts == {0, 1}
    assert make(full_share=1.0, aggressive_share=0.0).settings(KEYS) == [None] * 8


@pytest.mark.parametrize(
    "settings, message",
    [
        (dict(windows=[2]), "window"),
        (dict(windows=[]), "windows"),
        (dict(max_uncertainty=0.0), "max_uncertainty"),
        (dict(aggressive_share=-0.1), "aggressive_share"),
        (dict(aggressive_share=0.6, full_share=0.6), "at most 1"),
    ],
)
def test_bad_settings_are_configuration_errors(settings, message):
    with pytest.raises(ConfigurationError, match=message):
        SelfSampling({}, **settings)


def test_a_sentence_without_cached_scores_is_an_error(tiny_bert):
    model = make_tagger(tiny_bert)
    instances = make_instances(tiny_bert)[:3]
    metadata = [instance["metadata"].metadata for instance in instances]
    word_mask = tensors(model, instances)["tokens"]["tokens"]["mask"].bool()
    scores = {cache_key(metadata[0]): torch.ones(len(metadata[0]["words"]), 4)}
    with pytest.raises(ConfigurationError, match="no cached stage-1 scores"):
        SelfSampling(scores).exit_plan(model, metadata, word_mask)
    with pytest.raises(ConfigurationError, match="metadata"):
        SelfSampling(scores).exit_plan(model, None, word_mask)


SENTENCES = ["the director and the actors are very good", "a dog runs in the park", "the film is good"]
#            8 words                                           6 words                  4 words (padding: last exit)
PLAN = [[0, 3, 1, 2, 0, 0, 1, 1], [0, 0, 0, 0, 0, 0, 3, 3], [2, 2, 1, 2, 3, 3, 3, 3]]


def planned_forward(tiny_bert, plan=PLAN):
    model = make_tagger(tiny_bert, dropout=0.0)
    instances = make_instances(tiny_bert, SENTENCES)
    model.train()
    model.self_sampling = FixedPlan(plan)
    batch = tensors(model, instances)
    torch.manual_seed(1)
    return model, batch, model(**batch)


def test_training_with_a_plan_copies_halted_states_and_runs_only_the_running_words(tiny_bert, one_torch_thread):
    model = make_tagger(tiny_bert)
    model.train()
    model.self_sampling = FixedPlan(PLAN)
    instances = make_instances(tiny_bert, SENTENCES)
    seen = record_layers(model)
    rows = []
    hooks = [module.register_forward_hook(lambda m, args, out: rows.append(args[0].shape[:-1].numel()))
             for layer in model._encoder.layers for module in (layer.attention.self.query, layer.intermediate)]
    batch = tensors(model, instances)
    output = model(**batch)
    for hook in hooks:
        hook.remove()
    inputs = batch["tokens"]["tokens"]
    mask = inputs["mask"].bool()
    owners = piece_owners(inputs["offsets"], mask, inputs["token_ids"].shape[1])
    exit_layer = torch.where(mask, torch.tensor(PLAN), torch.full_like(mask, -1, dtype=torch.long))
    assert output["exit_index"][mask].tolist() == torch.tensor(PLAN)[mask].tolist()
    assert len(seen) == 4 and [layer for layer, _, _ in seen] == [0, 1, 2, 3]
    expected_rows = []
    for layer, hidden, running in seen:
        for row in range(len(SENTENCES)):
            sentence_runs = bool((exit_layer[row] >= layer).any())
            runs = [sentence_runs and (o < 0 or bool(exit_layer[row, o] >= layer)) for o in owners[row].tolist()]
            runs = torch.tensor(runs) & inputs["wordpiece_mask"][row].bool()
            if running is None:
                assert runs.tolist() == inputs["wordpiece_mask"][row].bool().tolist()
            else:
                assert running[row].tolist() == runs.tolist()
            for word, halted_at in enumerate(exit_layer[row].tolist()):
                if 0 <= halted_at < layer:  # the word's pieces kept their state from after layer `halted_at`
                    pieces = owners[row] == word
                    assert torch.equal(hidden[row, pieces], seen[halted_at][1][row, pieces])
        expected_rows += [hidden.shape[0] * hidden.shape[1] if running is None else int(running.sum())] * 2
    assert rows == expected_rows  # queries and feed-forward of running pieces only
    assert seen[0][2] is None  # every word runs layer 0: the plain layer
    assert seen[3][2].sum(dim=1).tolist()[1:] == [0, 0]  # sentences 1 and 2 have halted before layer 3
    # Exit k's head ran for the words still running at exit k, and only for them.
    for k in range(4):
        ran = ~torch.isnan(output["exit_logits"][:, :, k, 0])
        assert ran.tolist() == (mask & (exit_layer >= k)).tolist()


def test_the_loss_of_each_exit_is_over_the_words_still_running_there(tiny_bert, one_torch_thread):
    model, batch, output = planned_forward(tiny_bert)
    logits, tags = output["exit_logits"], batch["tags"]
    mask = output["mask"]
    expected = 0.0
    for k, weight in enumerate([0.1, 0.2, 0.3, 0.4]):  # depth weights (layer + 1) / 10
        losses = [-torch.log_softmax(logits[row, word, k], dim=-1)[tags[row, word]]
                  for row in range(3) for word in range(8) if mask[row, word] and PLAN[row][word] >= k]
        expected = expected + weight * sum(losses) / len(losses)
    # Exit 3 sees one word (word 1 of sentence 0; the other 3s of the plan are padding).
    assert len([1 for row in range(3) for word in range(8) if mask[row, word] and PLAN[row][word] >= 3]) == 1
    assert torch.allclose(output["loss"], expected)
    output["loss"].backward()
    assert all(head.weight.grad.abs().sum() > 0 for head in model._exit_classifiers)


def test_an_exit_no_word_reaches_adds_no_loss(tiny_bert, one_torch_thread):
    plan = [[0, 1, 1, 0, 0, 0, 1, 1], [0, 0, 0, 0, 0, 0, 1, 1], [1, 0, 1, 1, 3, 3, 3, 3]]
    model, batch, output = planned_forward(tiny_bert, plan)
    assert torch.isnan(output["exit_logits"][:, :, 2:]).all()
    output["loss"].backward()
    assert model._exit_classifiers[2].weight.grad is None and model._exit_classifiers[3].weight.grad is None
    assert model._exit_classifiers[1].weight.grad.abs().sum() > 0
    # The answers are each word's planned exit's.
    assert output["exit_layer"][output["mask"]].tolist() == torch.tensor(plan)[output["mask"]].tolist()
