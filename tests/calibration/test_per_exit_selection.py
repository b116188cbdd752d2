"""Per-exit settings: the fixed-sequence test over them, the family chosen on fitting rows, and rows needed."""
import pytest
import torch
from scipy.stats import binom

from sledgehammer.calibration import calibrate_exit_outputs, rows_for_rate, rows_for_observed_rates, select_setting
from sledgehammer.calibration.certification_outlook import SettingSavings, certification_outlook
from sledgehammer.calibration.per_exit_family import per_exit_family
from sledgehammer.modules.exit_policies import ConfidencePolicy, first_exits_from_scores
from sledgehammer.modules.inference_cost import InferenceCost
from tests.calibration.test_threshold_selection import synthetic_exit_logits


def three_exit_rows():
    """
    400 rows. Exit 0 scores 0.9 on rows 0-99 (all agree) and 0.3 on rows 100-109 (all disagree), else 0.1;
    exit 1 scores 0.9 on rows 100-199 (row 150 disagrees) and 0.3 on rows 200-202 (all disagree), else 0.1.
    """
    scores = torch.full((400, 3), 0.1)
    scores[:, 2] = 1.0
    disagrees = torch.zeros(400, 3, dtype=torch.bool)
    scores[:100, 0] = 0.9
    scores[100:110, 0] = 0.3
    disagrees[100:110, 0] = True
    scores[100:200, 1] = 0.9
    disagrees[150, 1] = True
    scores[200:203, 1] = 0.3
    disagrees[200:203, 1] = True
    return scores, disagrees


def test_the_fixed_sequence_over_per_exit_settings_stops_at_the_first_that_fails():
    scores, disagrees = three_exit_rows()
    settings = [(1.0, 1.0, 1.0), (0.5, 1.0, 1.0), (0.5, 0.5, 1.0), (0.5, 0.2, 1.0), (0.2, 0.2, 1.0)]
    result = select_setting(scores, disagrees, settings, target_agreement=0.99, delta=0.1)
    # (0.5, 1, 1): rows 0-99 leave at exit 0, none disagrees: p = 0.99 ** 400 = 0.018.
    # (0.5, 0.5, 1): rows 100-199 also leave at exit 1, row 150 disagrees: p = P(Bin(400, 0.01) <= 1) = 0.0905.
    # (0.5, 0.2, 1): rows 200-202 too, 4 disagreements: p = 0.43 > 0.1, the walk stops there.
    assert [entry["disagreements"] for entry in result["tested"]] == [0, 0, 1, 4]
    assert result["tested"][1]["p_value"] == pytest.approx(0.99 ** 400)
    assert result["tested"][2]["p_value"] == pytest.approx(binom.cdf(1, 400, 0.01))
    assert [entry["passed"] for entry in result["tested"]] == [True, True, True, False]
    assert result["setting"] == (0.5, 0.5, 1.0)
    assert result["disagreements"] == 1 and result["candidates_tested"] == 4
    assert result["exit_index"].tolist() == first_exits_from_scores(scores, (0.5, 0.5, 1.0)).tolist()
    # The walk never reaches a setting after the first failure.
    assert result["tested"][-1]["setting"] == (0.5, 0.2, 1.0)


def test_rows_needed_for_an_observed_rate_is_the_first_n_whose_binomial_tail_passes():
    assert rows_for_rate(0.0, 0.01, 0.1) == 230
    assert rows_for_rate(0.002, 0.01, 0.1) == 230  # floor(0.002 n) = 0 below 500 rows
    # At 0.5 %: one disagreement from 200 rows on; P(Bin(n, 0.01) <= 1) first drops to 0.1 at n = 388.
    assert rows_for_rate(0.005, 0.01, 0.1) == 388
    assert binom.cdf(1, 388, 0.01) <= 0.1 < binom.cdf(1, 387, 0.01)
    assert rows_for_rate(0.01, 0.01, 0.1) is None and rows_for_rate(0.02, 0.01, 0.1) is None
    # Along a sequence: the rows to reach a setting are the most any setting up to it needs; none past a rate >= eps.
    tested = [{"disagreements": 0, "early": False}, {"disagreements": 0}, {"disagreements": 5}, {"disagreements": 0},
              {"disagreements": 20}, {"disagreements": 0}]
    assert rows_for_observed_rates(tested, 1000, 0.01, 0.1) == [0, 230, 388, 388, None, None]


def test_the_family_takes_free_savings_first_and_ends_before_the_fitting_rows_exceed_epsilon():
    scores = torch.full((100, 3), 0.1)
    scores[:, 2] = 1.0
    disagrees = torch.zeros(100, 3, dtype=torch.bool)
    scores[:60, 0] = 0.95
    disagrees[:10, 0] = True  # exit 0 would disagree on 10 % of the rows
    scores[:, 1] = 0.95  # exit 1 agrees everywhere
    family = per_exit_family(scores, disagrees, [1.0, 0.9, 0.5, 0.0], lambda exits: float((exits + 1).sum()), 0.05)
    # Lowering exit 1 to 0.9 is free; lowering exit 0 would add 10 disagreements (> 5): the family ends there.
    assert family == [(1.0, 1.0, 1.0), (1.0, 0.9, 1.0)]
    looser = per_exit_family(scores, disagrees, [1.0, 0.9, 0.5, 0.0], lambda exits: float((exits + 1).sum()), 0.2)
    assert looser[:3] == [(1.0, 1.0, 1.0), (1.0, 0.9, 1.0), (0.9, 0.9, 1.0)]


def test_the_outlook_reports_the_certified_saving_and_what_more_rows_reach():
    scores, disagrees = three_exit_rows()
    settings = [(1.0, 1.0, 1.0), (0.5, 1.0, 1.0), (0.5, 0.5, 1.0), (0.5, 0.2, 1.0)]
    savings = SettingSavings(InferenceCost(8, 16, 2, has_pooler=False), [0, 1, 2], torch.full((400,), 5))
    outlook = certification_outlook(scores, disagrees, settings, (0.5, 0.5, 1.0), savings.saving_of(torch.arange(400)),
                                    0.99, 0.1, multiples=(2,))
    saving_of = savings.saving_of(torch.arange(400))
    assert outlook["saving"] == pytest.approx(saving_of(first_exits_from_scores(scores, (0.5, 0.5, 1.0)), True))
    # With 800 rows at the observed 1 % rate (4 in 400) the last setting still cannot pass: the best stays.
    assert outlook["outlook"] == [{"rows": 800, "setting": [0.5, 0.5, 1.0], "saving": outlook["saving"]}]
    assert outlook["most_saving"]["setting"] == [0.5, 0.5, 1.0] and outlook["most_saving"]["rows"] == 230


def test_unlabelled_selection_rows_fit_the_predictors_and_pick_the_setting():
    logits, labels = synthetic_exit_logits(num_rows=300)
    unlabelled, _ = synthetic_exit_logits(num_rows=1200, seed=1)
    cost = InferenceCost(8, 16, 2, has_pooler=False)
    lengths, unlabelled_lengths = torch.full((300,), 6), torch.full((1200,), 6)
    for per_exit in (False, True):
        result = calibrate_exit_outputs(
            logits, labels, [0, 1, 2], ConfidencePolicy(), target_agreement=0.95, delta=0.1,
            selection_logits=unlabelled, per_exit=per_exit, cost=cost, lengths=lengths,
            selection_lengths=unlabelled_lengths,
        )
        assert result["fit_rows"] == 300  # every labelled row fits the temperatures
        assert result["agreement_rows"] == 600 and result["selection"]["selection_rows"] == 600
        selection = result["selection"]
        assert selection["p_value"] <= 0.1 and selection["saving"] > 0
        if per_exit:
            assert selection["threshold"] is None and len(selection["exit_thresholds"]) == 3
            assert result["policy"].exit_thresholds == tuple(selection["exit_thresholds"])
        else:
            assert selection["exit_thresholds"] is None and result["policy"].threshold == selection["threshold"]
