import pytest
import torch
from scipy.stats import binom

from sledgehammer.calibration import TooFewRowsError, calibrate_exit_outputs, rows_needed, select_threshold
from sledgehammer.modules.exit_policies import AgreementPolicy, ConfidencePolicy, PatiencePolicy

CANDIDATES = [1.0, 0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1, 0.0]


def two_exit_rows(num_rows=300, disagree_below=0.5):
    """Row i scores (i + 0.5) / num_rows at exit 0 and disagrees with the last exit there iff below the cut."""
    first = (torch.arange(num_rows, dtype=torch.float) + 0.5) / num_rows
    scores = torch.stack([first, torch.ones(num_rows)], dim=1)
    disagrees = torch.stack([first < disagree_below, torch.zeros(num_rows, dtype=torch.bool)], dim=1)
    return scores, disagrees


def test_rows_needed_is_the_first_n_with_one_minus_epsilon_to_the_n_below_delta():
    assert rows_needed(0.01, 0.1) == 230  # 0.99 ** 229 = 0.1003, 0.99 ** 230 = 0.0993
    assert rows_needed(0.05, 0.1) == 45


def test_the_walk_keeps_the_last_threshold_whose_disagreements_pass_the_binomial_test():
    scores, disagrees = two_exit_rows()
    result = select_threshold(scores, disagrees, CANDIDATES, target_agreement=0.99, delta=0.1)
    # Down to 0.5 no row that leaves early disagrees: p = 0.99 ** 300 = 0.049 <= 0.1. At 0.4, 30 rows disagree.
    assert result["threshold"] == 0.5
    assert result["disagreements"] == 0 and result["agreement"] == 1.0
    assert result["p_value"] == pytest.approx(0.99 ** 300)
    assert result["candidates_tested"] == 7  # 1.0 … 0.5 passed, 0.4 failed and stopped the walk
    assert result["exit_index"].tolist() == [1] * 150 + [0] * 150


def test_one_disagreement_fails_where_the_binomial_tail_exceeds_delta():
    scores, disagrees = two_exit_rows()
    disagrees[299, 0] = True  # the most confident row now disagrees
    result = select_threshold(scores, disagrees, CANDIDATES, target_agreement=0.99, delta=0.1)
    assert binom.cdf(1, 300, 0.01) == pytest.approx(0.197, abs=1e-3)
    assert result["threshold"] == 1.0 and result["candidates_tested"] == 2
    # A looser target accepts a few disagreements: 5 % allows the one at 0.9 and stops at 0.4.
    looser = select_threshold(scores, disagrees, CANDIDATES, target_agreement=0.95, delta=0.1)
    assert looser["threshold"] == 0.5 and looser["disagreements"] == 1


def test_too_few_rows_is_an_error_saying_how_many_are_needed():
    scores, disagrees = two_exit_rows(num_rows=229)
    with pytest.raises(TooFewRowsError, match="229 calibration rows .* at least 230 rows are needed"):
        select_threshold(scores, disagrees, CANDIDATES, target_agreement=0.99, delta=0.1)


def synthetic_exit_logits(num_rows=600, num_exits=3, seed=0):
    generator = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, 2, (num_rows,), generator=generator)
    signal = torch.nn.functional.one_hot(labels, 2).float() * 2 - 1
    strength = torch.linspace(0.5, 3.0, num_exits)[None, :, None]
    noise = torch.randn(num_rows, num_exits, 2, generator=generator) * 1.5
    return signal[:, None, :] * strength + noise, labels


@pytest.mark.parametrize("policy", [ConfidencePolicy(), PatiencePolicy(), AgreementPolicy()])
def test_calibration_with_a_target_splits_the_rows_and_stores_the_certified_threshold(policy):
    logits, labels = synthetic_exit_logits()
    result = calibrate_exit_outputs(logits, labels, [0, 1, 2], policy, target_agreement=0.95, delta=0.1)
    assert result["fit_rows"] == 300 and result["selection"]["selection_rows"] == 300
    selection = result["selection"]
    assert result["policy"].threshold == selection["threshold"]
    assert selection["p_value"] <= 0.1
    assert selection["agreement"] >= 0.95 - 0.05  # certified on the population, not needed on the sample
    assert policy.threshold == 1.0  # the given policy is left alone
    if isinstance(policy, AgreementPolicy):
        assert len(result["policy"].predictors) == 2


def test_calibration_without_a_target_fits_on_every_row_and_keeps_the_threshold():
    logits, labels = synthetic_exit_logits()
    result = calibrate_exit_outputs(logits, labels, [0, 1, 2], ConfidencePolicy(0.8))
    assert result["fit_rows"] == 600 and result["selection"] is None
    assert result["policy"].threshold == 0.8
