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
from sledgehammer.calibration.certification_outlook import SettingSavings, certification_outlook
from sledgehammer.calibration.per_exit_family import per_exit_family
from sledgehammer.calibration.temperature_scaling import DEFAULT_NUM_BINS, calibrate_exits
from sledgehammer.calibration.threshold_selection import observed_disagreements, select_setting
from sledgehammer.modules.exit_policies import AgreementPolicy, ExitPolicy, calibrated_probs
from sledgehammer.modules.inference_cost import InferenceCost

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
    selection_logits: Optional[torch.Tensor] = None,
    per_exit: bool = False,
    cost: Optional[InferenceCost] = None,
    lengths: Optional[torch.Tensor] = None,
    selection_lengths: Optional[torch.Tensor] = None,
) -> Dict[str, Any]:
    """
    Calibrates the exits and the exit policy on raw exit logits `(rows, exits, labels)` and gold `labels`.

    Without `selection_logits`: without `target_agreement`, every row fits the temperatures (and an `agreement`
    policy's predictors) and the policy keeps its threshold; with it, a seeded random `1 - SELECTION_SHARE` of
    the rows fits them and the other rows pick the threshold by Learn-then-Test (`select_setting`).

    With `selection_logits` (unlabelled rows: their target is the last exit's answer, not a gold label), every
    labelled row fits the temperatures, and the unlabelled rows fit the predictors and pick the setting, split
    the same seeded way when there is a target (else all of them fit the predictors).

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
    selection_logits : `torch.Tensor`, optional (default = `None`)
        Raw exit logits of unlabelled rows for the predictors and the selection.
    per_exit : `bool`, optional (default = `False`)
        Certify a family of per-exit settings (`per_exit_family`, chosen on the fitting rows; needs `cost`)
        instead of one threshold for every exit.
    cost : `InferenceCost`, optional (default = `None`)
        The model's cost model, for the savings of the settings (and the per-exit family); with `lengths` (of
        the labelled rows) and `selection_lengths` (of `selection_logits`' rows).

    # Returns

    `{"exits": per-exit temperature results (see `calibrate_exits`), "temperatures", "policy": the calibrated
    copy, "fit_rows", "selection": None or `select_setting`'s result without `exit_index` and `tested`, with
    `"threshold"` (`None` for a per-exit setting), `"exit_thresholds"` (`None` for one threshold),
    `"selection_rows"`, `"family"` (`"single"` or `"per_exit"`), `"family_size"`, and with `cost` the
    `certification_outlook` keys (`"saving"`, `"outlook"`, `"most_saving"`)}`.
    """
    num_rows = exit_logits.shape[0]
    if per_exit and (target_agreement is None or cost is None):
        raise ValueError("per-exit settings need a target agreement and the model's cost model")
    agreement_logits = exit_logits if selection_logits is None else selection_logits
    agreement_lengths = lengths if selection_logits is None else selection_lengths
    fit_rows = torch.arange(num_rows)
    agreement_fit = torch.arange(agreement_logits.shape[0])
    selection_rows = None
    if target_agreement is not None:
        order = torch.randperm(agreement_logits.shape[0], generator=torch.Generator().manual_seed(seed))
        cut = agreement_logits.shape[0] - int(round(SELECTION_SHARE * agreement_logits.shape[0]))
        agreement_fit, selection_rows = order[:cut].sort().values, order[cut:].sort().values
        if selection_logits is None:
            fit_rows = agreement_fit
    exits = calibrate_exits(exit_logits[fit_rows], labels[fit_rows], exit_layers, num_bins=num_bins)
    temperatures = [result["temperature"] for result in exits]
    probs = calibrated_probs(agreement_logits, torch.tensor(temperatures, dtype=torch.float))
    policy = copy.deepcopy(policy)
    if isinstance(policy, AgreementPolicy):
        policy.predictors = fit_agreement_predictors(probs[agreement_fit])
    selection = None
    if selection_rows is not None:
        savings = None
        if cost is not None:
            savings = SettingSavings(cost, exit_layers, agreement_lengths)
        candidates = policy.candidate_thresholds(probs.shape[1])
        if per_exit:
            fitted = probs[agreement_fit]
            fitted_labels = fitted.argmax(dim=-1)
            settings = per_exit_family(
                policy.exit_scores(fitted), fitted_labels != fitted_labels[:, -1:], candidates,
                savings.flops_of(agreement_fit), 1.0 - target_agreement,
            )
        else:
            settings = [float(threshold) for threshold in candidates]
        selected = probs[selection_rows]
        predictions = selected.argmax(dim=-1)
        scores, disagrees = policy.exit_scores(selected), predictions != predictions[:, -1:]
        observed = observed_disagreements(scores, disagrees, settings)
        result = select_setting(scores, disagrees, settings, target_agreement, delta, observed=observed)
        result.pop("exit_index")
        result.pop("tested")
        setting = result.pop("setting")
        if per_exit:
            policy.exit_thresholds = list(setting)
        else:
            policy.threshold = setting
        selection = {
            **result,
            "threshold": None if per_exit else float(setting),
            "exit_thresholds": list(setting) if per_exit else None,
            "selection_rows": len(selection_rows),
            "target_agreement": target_agreement,
            "family": "per_exit" if per_exit else "single",
            "family_size": len(settings),
        }
        if savings is not None:
            selection.update(certification_outlook(
                scores, disagrees, settings, setting, savings.saving_of(selection_rows), target_agreement, delta,
                observed=observed,
            ))
    return {
        "exits": exits,
        "temperatures": temperatures,
        "policy": policy,
        "fit_rows": len(fit_rows),
        "agreement_rows": None if selection_logits is None else len(agreement_fit),
        "selection": selection,
    }
