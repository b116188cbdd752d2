"""Every exit policy decides alike in the model's batched layer loop and in the offline analysis."""
import pytest
import torch

from sledgehammer.evaluation import collect_exit_outputs
from sledgehammer.modules.exit_policies import (
    AgreementPolicy,
    ConfidencePolicy,
    EntropyPolicy,
    PatiencePolicy,
    agreement_features,
    calibrated_probs,
)
from tests.models.test_early_exit import MORE_SENTENCES, run
from tests.models.test_early_exit_classifier import make_batch, make_model

SENTENCES = MORE_SENTENCES + [sentence + " again" for sentence in MORE_SENTENCES[:4]]  # 16 rows


def random_agreement_predictors(probs, num_exits, seed=0):
    generator = torch.Generator().manual_seed(seed)
    predictors = []
    for k in range(num_exits - 1):
        width = agreement_features(probs[:, : k + 1], num_exits).shape[1]
        predictors.append({"mean": [0.0] * width, "scale": [1.0] * width,
                           "weights": (torch.randn(width, generator=generator) * 3).tolist(), "bias": 0.0})
    return predictors


def splitting_thresholds(scores):
    """
    Thresholds in the gaps between the lower exits' scores, widest gap first, each gap wider than 1e-5, so
    that float noise between batch shapes (~1e-7) cannot flip a decision.
    """
    values = scores[:, :-1].flatten().unique().sort().values
    gaps = values[1:] - values[:-1]
    order = gaps.argsort(descending=True)
    return [float((values[i] + values[i + 1]) / 2) for i in order.tolist() if gaps[i] > 1e-5]


def spread_model_and_probs(tiny_bert):
    """
    A tiny model, its 16 instances and their calibrated probabilities of every exit. The tiny random model gives
    every row nearly the same logits: each head's logits are centred over the rows and enlarged, so that rows
    differ in label and confidence.
    """
    model = make_model(tiny_bert, temperatures=[1.0, 1.5, 0.7, 1.0])
    instances = make_batch(tiny_bert, SENTENCES)
    logits = collect_exit_outputs(model, instances, batch_size=16).exit_logits
    with torch.no_grad():
        for k, head in enumerate(model._exit_classifiers):
            head.bias.sub_(logits[:, k].mean(dim=0))
            head.weight.mul_(30.0)
            head.bias.mul_(30.0)
    outputs = collect_exit_outputs(model, instances, batch_size=16)
    return model, instances, calibrated_probs(outputs.exit_logits, torch.tensor(model.temperatures))


@pytest.mark.parametrize("policy_class", [ConfidencePolicy, EntropyPolicy, PatiencePolicy, AgreementPolicy])
def test_batched_loop_batch_one_and_offline_analysis_choose_the_same_exits(tiny_bert, one_torch_thread, policy_class):
    model, instances, probs = spread_model_and_probs(tiny_bert)
    policy = policy_class()
    if policy_class is AgreementPolicy:
        policy.predictors = random_agreement_predictors(probs, model.num_exits)
    scores = policy.exit_scores(probs)
    candidates = [1 / 3, 2 / 3] if policy_class is PatiencePolicy else splitting_thresholds(scores)
    for policy.threshold in candidates:
        offline = policy.first_exits(probs)
        if len(set(offline.tolist())) > 1:
            break
    assert len(set(offline.tolist())) > 1, "the threshold should send rows out at different exits"

    model.exit_policy = policy
    batched = run(model, instances)
    assert batched["exit_index"].tolist() == offline.tolist()
    for i, instance in enumerate(instances):
        assert run(model, [instance])["exit_index"].item() == offline[i].item()


def test_threshold_one_without_labels_runs_only_the_last_head(tiny_bert):
    model = make_model(tiny_bert, threshold=1.0)
    instances = make_batch(tiny_bert, SENTENCES, labels=False)
    calls = []
    hooks = [head.register_forward_hook(lambda *args, k=k: calls.append(k))
             for k, head in enumerate(model._exit_classifiers)]
    output = run(model, instances)
    assert calls == [model.num_exits - 1]
    assert torch.isnan(output["exit_logits"][:, :-1]).all() and not torch.isnan(output["exit_logits"][:, -1]).any()
    # Labels (evaluate's per-exit accuracies) or offline analysis still run every head.
    calls.clear()
    run(model, make_batch(tiny_bert, SENTENCES))
    assert calls == list(range(model.num_exits))
    calls.clear()
    collect_exit_outputs(model, instances, batch_size=16)
    assert calls == list(range(model.num_exits))
    assert model.run_all_exit_heads is False
    for hook in hooks:
        hook.remove()
