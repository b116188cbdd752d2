import math

import pytest
import torch

from sledgehammer.calibration import (
    calibrate_exits,
    expected_calibration_error,
    fit_temperature,
    negative_log_likelihood,
    plot_reliability,
    reliability_bins,
)


def sample_overconfident_logits(num_rows=4000, num_labels=3, scale=3.0, seed=0):
    """Labels drawn from softmax(true logits), returned with the true logits multiplied by `scale`."""
    generator = torch.Generator().manual_seed(seed)
    true_logits = 2.0 * torch.randn(num_rows, num_labels, generator=generator)
    labels = torch.multinomial(torch.softmax(true_logits, dim=-1), 1, generator=generator).squeeze(1)
    return true_logits * scale, labels


@pytest.mark.parametrize("scale", [3.0, 0.5])
def test_fit_temperature_recovers_the_scale_of_the_logits(scale):
    logits, labels = sample_overconfident_logits(scale=scale)
    temperature = fit_temperature(logits, labels)
    assert temperature == pytest.approx(scale, rel=0.10)


def test_fitted_temperature_does_not_increase_the_negative_log_likelihood():
    logits, labels = sample_overconfident_logits(num_rows=500, scale=3.0, seed=1)
    temperature = fit_temperature(logits, labels)
    before = negative_log_likelihood(logits, labels)
    after = negative_log_likelihood(logits, labels, temperature)
    assert after <= before
    assert after < before - 0.05  # clearly overconfident logits improve a lot
    # The optimum: nearby temperatures are no better.
    for nearby in (temperature * 0.9, temperature * 1.1):
        assert negative_log_likelihood(logits, labels, nearby) >= after


def test_fit_temperature_degenerate_inputs_give_positive_finite_temperatures():
    uninformative = fit_temperature(torch.zeros(10, 2), torch.zeros(10, dtype=torch.long))
    assert uninformative == 1.0  # every temperature gives the same likelihood: stay at the start
    separable = fit_temperature(torch.tensor([[5.0, -5.0], [-5.0, 5.0]]), torch.tensor([0, 1]))
    assert 0 < separable < 1 and math.isfinite(separable)
    with pytest.raises(ValueError):
        fit_temperature(torch.zeros(0, 2), torch.zeros(0, dtype=torch.long))


def test_negative_log_likelihood_matches_a_hand_computed_value():
    logits = torch.tensor([[2.0, 0.0], [0.0, 2.0]])
    labels = torch.tensor([0, 0])
    p = 1 / (1 + math.exp(-2.0))  # probability of the larger logit
    expected = -(math.log(p) + math.log(1 - p)) / 2
    assert negative_log_likelihood(logits, labels) == pytest.approx(expected)
    p2 = 1 / (1 + math.exp(-1.0))
    assert negative_log_likelihood(logits, labels, temperature=2.0) == pytest.approx(
        -(math.log(p2) + math.log(1 - p2)) / 2
    )


def test_expected_calibration_error_matches_a_hand_computed_example():
    probs = torch.tensor(
        [
            [0.95, 0.05],  # confidence 0.95 -> bin 14, correct
            [0.10, 0.90],  # confidence 0.90 -> bin 13 ((13/15, 14/15]), wrong
            [0.60, 0.40],  # confidence 0.60 -> bin 8 ((8/15, 9/15]), correct
            [0.45, 0.55],  # confidence 0.55 -> bin 8, correct
            [0.50, 0.50],  # confidence 0.50 -> bin 7 ((7/15, 8/15]), argmax 0, wrong
        ]
    )
    labels = torch.tensor([0, 0, 0, 1, 1])
    bins = reliability_bins(probs, labels)
    assert bins.num_bins == 15
    assert bins.count == [0] * 7 + [1, 2, 0, 0, 0, 0, 1, 1]
    assert bins.accuracy[8] == pytest.approx(1.0) and bins.confidence[8] == pytest.approx(0.575)
    assert bins.accuracy[13] == 0.0 and bins.confidence[13] == pytest.approx(0.90)
    expected = (1 * 0.5 + 2 * abs(1.0 - 0.575) + 1 * 0.90 + 1 * abs(1.0 - 0.95)) / 5
    assert expected_calibration_error(probs, labels) == pytest.approx(expected)


def test_bin_edges_are_closed_on_the_right_and_zero_goes_to_the_first_bin():
    num_bins = 4
    probs = torch.tensor([[0.25, 0.75], [0.5, 0.5], [1.0, 0.0], [0.0, 0.0]])
    bins = reliability_bins(probs, torch.tensor([1, 0, 0, 0]), num_bins=num_bins)
    # 0.75 -> (0.5, 0.75] = bin 2; 0.5 -> (0.25, 0.5] = bin 1; 1.0 -> bin 3; 0.0 -> bin 0.
    assert bins.count == [1, 1, 1, 1]
    assert bins.confidence == pytest.approx([0.0, 0.5, 0.75, 1.0])


def test_perfectly_calibrated_predictions_have_zero_error():
    probs = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0]])
    assert expected_calibration_error(probs, torch.tensor([0, 1, 0])) == pytest.approx(0.0)


def test_calibrate_exits_reports_every_exit_and_plots(tmp_path):
    first, labels = sample_overconfident_logits(num_rows=600, num_labels=2, scale=3.0, seed=2)
    second = first / 6.0  # underconfident: T ~ 0.5
    exit_logits = torch.stack([first, second], dim=1)
    results = calibrate_exits(exit_logits, labels, exit_layers=[1, 3])
    assert [r["exit_layer"] for r in results] == [1, 3]
    assert results[0]["temperature"] == pytest.approx(3.0, rel=0.2)
    assert results[1]["temperature"] == pytest.approx(0.5, rel=0.2)
    for result in results:
        assert result["nll_after"] <= result["nll_before"]
        assert result["ece_after"] < result["ece_before"]
        assert sum(result["reliability_after"]["count"]) == 600
    assert results[0]["accuracy"] == results[1]["accuracy"]  # temperatures do not change predictions
    path = tmp_path / "reliability.png"
    plot_reliability(results, path)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_calibrate_exits_refuses_nan_logits():
    exit_logits = torch.full((4, 1, 2), math.nan)
    with pytest.raises(ValueError, match="NaN"):
        calibrate_exits(exit_logits, torch.zeros(4, dtype=torch.long), exit_layers=[0])
