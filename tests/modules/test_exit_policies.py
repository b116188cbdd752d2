import math

import pytest
import torch
from allennlp.common import Params
from allennlp.common.checks import ConfigurationError

from sledgehammer import ExitPolicy
from sledgehammer.modules.exit_policies import (
    AgreementPolicy,
    ConfidencePolicy,
    EntropyPolicy,
    PatiencePolicy,
    agreement_features,
    first_exits_from_scores,
)

# Three rows, three exits, two labels: calibrated probabilities by hand.
PROBS = torch.tensor(
    [
        [[0.95, 0.05], [0.90, 0.10], [0.99, 0.01]],  # confident and stable
        [[0.40, 0.60], [0.70, 0.30], [0.80, 0.20]],  # flips after exit 0
        [[0.55, 0.45], [0.45, 0.55], [0.52, 0.48]],  # unsure throughout
    ]
)


def test_every_policy_is_registered_and_confidence_is_the_default():
    assert ExitPolicy.list_available()[0] == "confidence"
    for name, cls in [("confidence", ConfidencePolicy), ("entropy", EntropyPolicy), ("patience", PatiencePolicy),
                      ("agreement", AgreementPolicy)]:
        policy = ExitPolicy.from_params(Params({"type": name, "threshold": 0.5}))
        assert type(policy) is cls and policy.name == name and policy.threshold == 0.5
    assert type(ExitPolicy.from_params(Params({}))) is ConfidencePolicy


def test_confidence_scores_the_largest_probability_of_the_current_exit():
    policy = ConfidencePolicy(0.9)
    assert policy.score(PROBS[:, :1], 3).tolist() == pytest.approx([0.95, 0.60, 0.55])
    assert policy.should_exit(PROBS[:, :2], 3).tolist() == [True, False, False]
    assert policy.first_exits(PROBS).tolist() == [0, 2, 2]


def test_entropy_scores_one_minus_normalised_entropy():
    policy = EntropyPolicy(0.5)
    expected = [1 + (p * math.log(p) + (1 - p) * math.log(1 - p)) / math.log(2) for p in (0.95, 0.60, 0.55)]
    assert policy.score(PROBS[:, :1], 3).tolist() == pytest.approx(expected, abs=1e-6)
    # 0.95 -> 0.714; 0.9 -> 0.531; 0.7 -> 0.119; 0.55 / 0.45 -> 0.007.
    assert policy.first_exits(PROBS).tolist() == [0, 2, 2]
    assert EntropyPolicy(0.1).first_exits(PROBS).tolist() == [0, 1, 2]


def test_patience_counts_the_agreeing_run_just_below_the_exit():
    policy = PatiencePolicy(0.5)  # 3 exits: patience ceil(0.5 * 2) = 1
    assert policy.score(PROBS[:, :1], 3).tolist() == [0.0, 0.0, 0.0]
    assert policy.score(PROBS[:, :2], 3).tolist() == [0.5, 0.0, 0.0]
    assert policy.first_exits(PROBS).tolist() == [1, 2, 2]
    assert PatiencePolicy(0.0).first_exits(PROBS).tolist() == [0, 0, 0]
    assert PatiencePolicy(1.0).first_exits(PROBS).tolist() == [2, 2, 2]
    assert PatiencePolicy().candidate_thresholds(3) == [1.0, 0.5, 0.0]


def test_a_longer_run_reaches_a_higher_patience():
    labels = torch.tensor([0, 0, 0, 1, 1, 1])  # one row, six exits
    probs = torch.nn.functional.one_hot(labels, 2).float()[None] * 0.8 + 0.1
    policy = PatiencePolicy()
    assert [policy.score(probs[:, : k + 1], 6).item() for k in range(5)] == pytest.approx([0, 0.2, 0.4, 0, 0.2])
    assert PatiencePolicy(0.4).first_exits(probs).tolist() == [2]  # patience 2
    assert PatiencePolicy(0.6).first_exits(probs).tolist() == [5]  # patience 3: never before the last


def test_threshold_one_never_exits_early_even_at_a_score_of_one():
    certain = torch.tensor([[[1.0, 0.0], [1.0, 0.0]]])
    for policy in (ConfidencePolicy(1.0), EntropyPolicy(1.0), PatiencePolicy(1.0)):
        assert policy.should_exit(certain[:, :1], 2).tolist() == [False]
        assert policy.first_exits(certain).tolist() == [1]


def test_first_exits_from_scores_takes_the_first_passing_exit():
    scores = torch.tensor([[0.2, 0.9, 0.1, 1.0], [0.95, 0.1, 0.1, 1.0], [0.1, 0.1, 0.1, 0.0]])
    assert first_exits_from_scores(scores, 0.9).tolist() == [1, 0, 3]
    assert first_exits_from_scores(scores, 1.0).tolist() == [3, 3, 3]


@pytest.mark.parametrize("threshold", [-0.1, 1.5, "0.5", True])
def test_a_bad_threshold_is_a_configuration_error(threshold):
    with pytest.raises(ConfigurationError, match="threshold must be a number in \\[0, 1\\]"):
        ConfidencePolicy(threshold)


def test_agreement_features_read_the_history_of_the_predicted_label():
    features = agreement_features(PROBS[:, :3], 3)
    # confidence, margin, entropy, one-hot(2), history at exits 0 and 1, mean, min, previous agrees, run.
    assert features.shape == (3, 3 + 2 + 2 + 2 + 2)
    row = features[1].tolist()  # exit 2 predicts label 0 at 0.8; label 0 had 0.4 then 0.7
    assert row[0] == pytest.approx(0.8) and row[1] == pytest.approx(0.6)
    assert row[3:5] == [1.0, 0.0]
    assert row[5:7] == pytest.approx([0.4, 0.7])
    assert row[7] == pytest.approx(0.55) and row[8] == pytest.approx(0.4)
    assert row[9] == 1.0 and row[10] == pytest.approx(0.5)
    assert agreement_features(PROBS[:, :1], 3).shape == (3, 3 + 2 + 0 + 2 + 2)


def test_agreement_scores_with_its_stored_logistic_predictors():
    width = [agreement_features(PROBS[:, : k + 1], 3).shape[1] for k in range(2)]
    # Exit 0 trusts confidence alone; exit 1 trusts agreement with the previous exit alone.
    predictors = []
    for k, size in enumerate(width):
        weights = [0.0] * size
        weights[0 if k == 0 else size - 2] = 10.0
        predictors.append({"mean": [0.0] * size, "scale": [1.0] * size, "weights": weights, "bias": -9.0 if k == 0 else -5.0})
    policy = AgreementPolicy(0.5, predictors=predictors)
    assert policy.score(PROBS[:, :1], 3).tolist() == pytest.approx(
        torch.sigmoid(torch.tensor([0.95, 0.60, 0.55]) * 10 - 9).tolist())
    assert policy.first_exits(PROBS).tolist() == [0, 2, 2]
    assert policy.configuration()["predictors"] == predictors
    rebuilt = ExitPolicy.from_params(Params(policy.configuration()))
    assert rebuilt.first_exits(PROBS).tolist() == [0, 2, 2]


def test_an_unfitted_or_malformed_agreement_policy_says_what_to_do():
    with pytest.raises(ConfigurationError, match="allennlp calibrate .*--exit-policy agreement"):
        AgreementPolicy(0.5).first_exits(PROBS)
    with pytest.raises(ConfigurationError, match="agreement predictor 0 must be"):
        AgreementPolicy(0.5, predictors=[{"mean": [0.0]}])
    with pytest.raises(ConfigurationError, match="1 predictors, the model 2 exits below the last"):
        AgreementPolicy(0.5, predictors=[{"mean": [0.0], "scale": [1.0], "weights": [0.0], "bias": 0.0}]).first_exits(PROBS)
