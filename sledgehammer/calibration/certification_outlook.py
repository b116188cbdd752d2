"""
What a certification bought and what more selection rows would buy: the FLOP saving of the certified setting,
and, if each setting's observed disagreement rate held, the saving the fixed-sequence test would reach with a
few times as many selection rows and the most it could reach (with the rows that needs).

Savings use the model's cost model (`InferenceCost.answering_flops`), as the trade-off does.
"""
from typing import Any, Callable, Dict, List, Optional, Sequence

import torch

from sledgehammer.calibration.threshold_selection import (
    exits_early,
    observed_disagreements,
    rows_for_observed_rates,
)
from sledgehammer.modules.exit_policies import ExitPolicy, ThresholdSetting, calibrated_probs
from sledgehammer.modules.inference_cost import InferenceCost

# The multiples of the selection rows the outlook reports.
ROW_MULTIPLES = (2, 4, 10)


class SettingSavings:
    """
    FLOPs and savings of rows answering at given exits, for the rows of one pass.

    # Parameters

    cost : `InferenceCost`
        The model's cost model.
    exit_layers : `Sequence[int]`
        The 0-based encoder layer of each exit (the last one is the full model's last layer).
    lengths : `torch.Tensor`
        Word pieces of every row of the pass, `(rows,)`.
    """

    def __init__(self, cost: InferenceCost, exit_layers: Sequence[int], lengths: torch.Tensor) -> None:
        self.cost = cost
        self.exit_layers = [int(layer) for layer in exit_layers]
        self.lengths = lengths

    def flops_of(self, rows: torch.Tensor) -> Callable[[torch.Tensor], float]:
        """Total FLOPs of `rows` (indices into the pass) answering, with early exit, at the given exits."""
        lengths = self.lengths[rows]
        return lambda exit_index: float(self.cost.answering_flops(lengths, exit_index, self.exit_layers).sum())

    def saving_of(self, rows: torch.Tensor) -> Callable[[torch.Tensor, bool], float]:
        """`1 - FLOPs / full model's FLOPs` of `rows` answering at the given exits (with early exit or not)."""
        lengths = self.lengths[rows]
        full = float(self.cost.flops(lengths, self.exit_layers[-1] + 1, 1).sum())

        def saving(exit_index: torch.Tensor, early_exit: bool) -> float:
            flops = float(self.cost.answering_flops(lengths, exit_index, self.exit_layers, early_exit).sum())
            return 1.0 - flops / full if full > 0 else 0.0

        return saving


def policy_saving(
    policy: ExitPolicy, exit_logits: torch.Tensor, temperatures: Sequence[float], savings: SettingSavings
) -> float:
    """The saving of `policy` at its own setting on every row of a pass (`exit_logits` of `savings`' rows)."""
    probs = calibrated_probs(exit_logits, torch.tensor(list(temperatures), dtype=torch.float))
    rows = torch.arange(exit_logits.shape[0])
    return savings.saving_of(rows)(policy.first_exits(probs), policy.exits_early(exit_logits.shape[1]))


def certification_outlook(
    scores: torch.Tensor,
    disagrees: torch.Tensor,
    settings: Sequence[ThresholdSetting],
    certified: ThresholdSetting,
    saving: Callable[[torch.Tensor, bool], float],
    target_agreement: float,
    delta: float,
    multiples: Sequence[int] = ROW_MULTIPLES,
    observed: Optional[List[Dict[str, Any]]] = None,
) -> Dict[str, Any]:
    """
    The saving of the `certified` setting on the selection rows, and what more rows would reach.

    # Parameters

    scores : `torch.Tensor`, disagrees : `torch.Tensor`
        The selection rows' scores and disagreements `(rows, exits)`, as `select_setting` tested them.
    settings : `Sequence[ThresholdSetting]`
        The fixed sequence that was tested.
    certified : `ThresholdSetting`
        The setting the test certified.
    saving : `Callable[[torch.Tensor, bool], float]`
        The saving of the selection rows answering at given exits (`SettingSavings.saving_of`).
    target_agreement : `float`, delta : `float`
    multiples : `Sequence[int]`, optional (default = `(2, 4, 10)`)
        The multiples of the selection rows to report.
    observed : `List[Dict[str, Any]]`, optional (default = `None`)
        `observed_disagreements` of these rows and settings, when the caller has it already.

    # Returns

    `{"saving": the certified setting's saving, "outlook": [{"rows", "setting", "saving"}] per multiple of the
    selection rows (the last setting the walk would reach there, as the rows needed grow along the sequence),
    "most_saving": {"rows", "setting", "saving"}
    or None}` (settings as a number or a list).
    """
    num_rows, num_exits = scores.shape
    epsilon = 1.0 - target_agreement
    if observed is None:
        observed = observed_disagreements(scores, disagrees, settings)
    needed = rows_for_observed_rates(observed, num_rows, epsilon, delta)
    savings = [saving(entry["exit_index"], entry["early"]) for entry in observed]
    certified_early = exits_early(certified, num_exits)
    certified_index = position_of(observed, certified)
    certified_saving = savings[certified_index] if certified_index is not None else saving(
        torch.full((num_rows,), num_exits - 1, dtype=torch.long), certified_early
    )
    reachable = [i for i, rows in enumerate(needed) if rows is not None]
    outlook: List[Dict[str, Any]] = []
    for multiple in multiples:
        budget = multiple * num_rows
        within = [i for i in reachable if needed[i] <= budget]
        if within:
            best = within[-1]  # the walk passes every setting up to the last one within the budget
            outlook.append({"rows": budget, "setting": _plain(settings[best]), "saving": savings[best]})
    most: Optional[Dict[str, Any]] = None
    if reachable:
        best = max(reachable, key=lambda i: (savings[i], -needed[i]))
        most = {"rows": needed[best], "setting": _plain(settings[best]), "saving": savings[best]}
    return {"saving": certified_saving, "outlook": outlook, "most_saving": most}


def position_of(observed: Sequence[Dict[str, Any]], setting: ThresholdSetting) -> Optional[int]:
    """The position of `setting` among the observed settings, else `None`."""
    for i, entry in enumerate(observed):
        if _plain(entry["setting"]) == _plain(setting):
            return i
    return None


def _plain(setting: ThresholdSetting):
    return float(setting) if isinstance(setting, (int, float)) else [float(value) for value in setting]
