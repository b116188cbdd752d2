"""
Calibrating an early-exit model's exits (classifier or tagger): temperature scaling and its measures (ECE,
reliability diagram), the agreement predictors of the `agreement` policy, and the Learn-then-Test threshold selection.
"""
from sledgehammer.calibration.temperature_scaling import (
    DEFAULT_NUM_BINS,
    ReliabilityBins,
    calibrate_exits,
    expected_calibration_error,
    fit_temperature,
    negative_log_likelihood,
    reliability_bins,
)
from sledgehammer.calibration.reliability_diagram import plot_reliability
from sledgehammer.calibration.agreement_predictor import fit_agreement_predictors
from sledgehammer.calibration.threshold_selection import (
    TooFewRowsError,
    rows_for_observed_rates,
    rows_for_rate,
    rows_needed,
    select_setting,
    select_threshold,
)
from sledgehammer.calibration.exit_calibration import calibrate_exit_outputs
