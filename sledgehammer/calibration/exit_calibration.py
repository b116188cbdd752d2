"""
Everything `allennlp calibrate` fits from one pass of a classifier over labelled development data: the exits'
temperatures, the agreement predictors of an `agreement` policy, and (optionally) a threshold with a
guarantee. The command and the guarantee benchmark (`scripts/check_threshold_guarantee.py`) both call
`calibrate_exit_outputs`, so the benchmark checks exactly what users get.
"""
import copy
from typing import Any, Dict, Optional, Sequence

import torch

from sledgehammer.calibration.agreement_predictor import fit_agreement_predictors
from sledgehammer.calibration.temperature_scaling import DEFAULT_NUM_BINS, calibrate_exits
from sledgehammer.calibration.threshold_selection import select_threshold
from sledgehammer.modules.exit_policies import AgreementPolicy, ExitPolicy, calibrated_probs

# With a target agreement, the rows are split: this share fits temperatures and predictors, the rest picks
# the threshold, so that the threshold's test sees rows its scores were not fitted on.
SELECTION_SHARE = 0.5


def calibrate_exit_outputs(
    exit_logits: torch.Tensor,
    labels: torch.Tensor,
    exit_layers: Sequence[int],
    policy: ExitPolicy,
    target_agreement: Optional[float] = None,
    delta: float = 0.1,
    seed: int = 13,
    num_bins: int = DEFAULT_NUM_BINS,
) -> Dict[str, Any]:
    """
    Calibrates the exits and the exit policy on raw exit logits `(rows, exits, labels)` and gold `labels`.

    Without `target_agreement`, every row fits the temperatures (and an `agreement` policy's predictors) and
    the policy keeps its threshold. With it, a seeded random `1 - SELECTION_SHARE` of the rows fits them and
    the other rows pick the threshold by Learn-then-Test (`select_threshold`).

    # Parameters

    exit_logits : `torch.Tensor`, labels : `torch.Tensor`, exit_layers : `Sequence[int]`
    policy : `ExitPolicy`
        The policy to calibrate; not changed (a calibrated copy is returned).
    target_agreement : `float`, optional (default = `None`)
        Agreement with the last exit to guarantee on new data, e.g. 0.99.
    delta : `float`, optional (default = `0.1`)
        Allowed probability that the guarantee fails.
    seed : `int`, optional (default = `13`)
        Seed of the fit/selection split.
    num_bins : `int`, optional (default = `15`)

    # Returns

    `{"exits": per-exit temperature results (see `calibrate_exits`), "temperatures", "policy": the calibrated
    copy, "fit_rows", "selection": None or `select_threshold`'s result without `exit_index`, with
    `"selection_rows"`}`.
    """
    num_rows = exit_logits.shape[0]
    fit_rows = torch.arange(num_rows)
    selection_rows = None
    if target_agreement is not None:
        order = torch.randperm(num_rows, generator=torch.Generator().manual_seed(seed))
        cut = num_rows - int(round(SELECTION_SHARE * num_rows))
        fit_rows, selection_rows = order[:cut].sort().values, order[cut:].sort().values
    exits = calibrate_exits(exit_logits[fit_rows], labels[fit_rows], exit_layers, num_bins=num_bins)
    temperatures = [result["temperature"] for result in exits]
    probs = calibrated_probs(exit_logits, torch.tensor(temperatures, dtype=torch.float))
    policy = copy.deepcopy(policy)
    if isinstance(policy, AgreementPolicy):
        policy.predictors = fit_agreement_predictors(probs[fit_rows])
    selection = None
    if selection_rows is not None:
        selected = probs[selection_rows]
        predictions = selected.argmax(dim=-1)
        result = select_threshold(
            policy.exit_scores(selected),
            predictions != predictions[:, -1:],
            policy.candidate_thresholds(selected.shape[1]),
            target_agreement,
            delta,
        )
        result.pop("exit_index")
        policy.threshold = result["threshold"]
        selection = {**result, "selection_rows": len(selection_rows), "target_agreement": target_agreement}
    return {
        "exits": exits,
        "temperatures": temperatures,
        "policy": policy,
        "fit_rows": len(fit_rows),
        "selection": selection,
    }
