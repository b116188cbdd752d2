"""Per-exit thresholds (`exit_thresholds`): one per exit, decided alike online and offline, stored and restored."""
import pytest
import torch

from sledgehammer.modules.exit_policies import (
    ConfidencePolicy,
    ExitPolicy,
    ThresholdError,
    first_exits_from_scores,
)
from tests.models.test_early_exit import run
from tests.models.test_early_exit_classifier import make_model
from tests.models.test_exit_policies_online import spread_model_and_probs, splitting_thresholds


def test_per_exit_thresholds_pick_the_first_exit_reaching_its_own_threshold():
    scores = torch.tensor([[0.6, 0.9, 0.2, 1.0], [0.4, 0.7, 0.95, 1.0], [0.1, 0.1, 0.1, 1.0]])
    assert first_exits_from_scores(scores, (0.5, 0.8, 0.9, 1.0)).tolist() == [0, 2, 3]
    assert first_exits_from_scores(scores, (1.0, 0.8, 0.9, 1.0)).tolist() == [1, 2, 3]
    # The same thresholds everywhere decide as the one threshold does.
    assert first_exits_from_scores(scores, (0.65,) * 4).tolist() == first_exits_from_scores(scores, 0.65).tolist()
    with pytest.raises(ThresholdError, match="one threshold per exit \\(4\\), got 3"):
        first_exits_from_scores(scores, (0.5, 0.5, 0.5))


def test_policy_configuration_round_trips_and_a_threshold_clears_the_per_exit_ones():
    policy = ConfidencePolicy(threshold=0.9, exit_thresholds=[0.7, 0.8, 0.9, 1.0])
    assert policy.setting == (0.7, 0.8, 0.9, 1.0)
    configuration = policy.configuration()
    assert configuration == {"type": "confidence", "threshold": 0.9, "exit_thresholds": [0.7, 0.8, 0.9, 1.0]}
    from allennlp.common import Params

    again = ExitPolicy.from_params(Params(dict(configuration)))
    assert again.setting == policy.setting
    policy.threshold = 0.8
    assert policy.exit_thresholds is None and policy.setting == 0.8
    assert "exit_thresholds" not in policy.configuration()
    with pytest.raises(ThresholdError):
        ConfidencePolicy(exit_thresholds=[0.5, 1.5])


def test_model_settings_restore_per_exit_thresholds(tiny_bert):
    model = make_model(tiny_bert)
    model.exit_thresholds = [0.6, 0.7, 0.8, 1.0]
    with model.settings(threshold=0.9):
        assert model.exit_thresholds is None and model.threshold == 0.9
    assert model.exit_thresholds == (0.6, 0.7, 0.8, 1.0)
    with model.settings(exit_thresholds=[0.1, 0.2, 0.3, 1.0]):
        assert model.exit_policy.setting == (0.1, 0.2, 0.3, 1.0)
    assert model.exit_thresholds == (0.6, 0.7, 0.8, 1.0)
    with pytest.raises(ThresholdError, match="one threshold per exit"):
        model.exit_thresholds = [0.5, 0.5]


def test_per_exit_thresholds_decide_alike_online_and_offline(tiny_bert, one_torch_thread):
    model, instances, probs = spread_model_and_probs(tiny_bert)
    policy = ConfidencePolicy()
    scores = policy.exit_scores(probs)
    # Each exit's own threshold in a gap of its own scores: a setting no single threshold gives.
    per_exit = [splitting_thresholds(scores[:, [k, -1]]) for k in range(model.num_exits - 1)]
    for choice in range(max(len(gaps) for gaps in per_exit)):
        setting = tuple(gaps[min(choice, len(gaps) - 1)] for gaps in per_exit) + (1.0,)
        policy.exit_thresholds = list(setting)
        offline = policy.first_exits(probs)
        if len(set(offline.tolist())) > 2:
            break
    assert offline.tolist() == first_exits_from_scores(scores, setting).tolist()
    assert len(set(offline.tolist())) > 2, "the setting should send rows out at different exits"
    assert len(set(setting[:-1])) > 1

    model.exit_policy = policy
    batched = run(model, instances)
    assert batched["exit_index"].tolist() == offline.tolist()
    for i, instance in enumerate(instances):
        assert run(model, [instance])["exit_index"].item() == offline[i].item()
