"""
The rows of a classifier's trade-off table: which exit answers each row, turned into accuracy, layers, relative
FLOPs (the model's cost model, `InferenceCost.answering_flops`), exit fractions and agreement with the last exit;
and the row of a policy at its own setting (one threshold or per-exit thresholds), e.g. an archive's certified one.
"""
import math
from typing import List, Optional, Sequence

import torch

from sledgehammer.evaluation.exit_outputs import ExitOutputs
from sledgehammer.evaluation.records import TradeoffRow
from sledgehammer.modules.exit_policies import ExitPolicy, calibrated_probs
from sledgehammer.modules.inference_cost import InferenceCost


def setting_row(
    outputs: ExitOutputs,
    policy: ExitPolicy,
    temperatures: Sequence[float],
    exit_layers: Sequence[int],
    cost: InferenceCost,
    kind: str,
    name: str,
    full_layers: Optional[int] = None,
) -> TradeoffRow:
    """
    The row of `policy` at its own setting (its threshold, or its per-exit thresholds) on `outputs`, with the keys
    of `compute_tradeoff`'s rows (`threshold` is `None` for per-exit thresholds) and the given `kind` and `name`:
    e.g. the certified setting an archive holds (`sledgehammer.evaluation.certified_point`).
    """
    exit_layers = [int(layer) for layer in exit_layers]
    full_layers = exit_layers[-1] + 1 if full_layers is None else int(full_layers)
    exit_probs = calibrated_probs(outputs.exit_logits, torch.tensor(list(temperatures), dtype=torch.float))
    setting = policy.setting
    return RowMaker(outputs, exit_layers, cost, full_layers).row(
        kind, name, policy.first_exits(exit_probs), early_exit=policy.exits_early(outputs.num_exits),
        threshold=setting if isinstance(setting, float) else None, policy=policy.name,
    )


class RowMaker:
    """Turns "which exit answers each row" into a row of the trade-off table."""

    def __init__(
        self, outputs: ExitOutputs, exit_layers: List[int], cost: InferenceCost, full_layers: int
    ) -> None:
        self.outputs = outputs
        self.cost = cost
        self.full_layers = full_layers
        self.exit_layers = exit_layers
        self.layers = torch.tensor(exit_layers, dtype=torch.long) + 1  # layers run to reach each exit
        self.predictions = outputs.exit_logits.argmax(dim=-1)  # (rows, exits); temperatures keep the argmax
        self.full_flops = float(cost.flops(outputs.lengths, full_layers, 1).sum())

    def row(
        self,
        kind: str,
        name: str,
        exit_index: torch.Tensor,
        early_exit: bool,
        threshold: Optional[float] = None,
        policy: Optional[str] = None,
    ) -> TradeoffRow:
        num_rows, num_exits = self.predictions.shape
        rows = torch.arange(num_rows)
        answers = self.predictions[rows, exit_index]
        layers_run = self.layers[exit_index]
        flops = float(self.cost.answering_flops(self.outputs.lengths, exit_index, self.exit_layers, early_exit).sum())
        labels = self.outputs.labels
        accuracy = None if labels is None else mean_of(answers == labels)
        counts = torch.bincount(exit_index, minlength=num_exits)
        mean_layers = mean_of(layers_run)
        return {
            "kind": kind,
            "name": name,
            "policy": policy,
            "threshold": threshold,
            "accuracy": accuracy,
            "mean_layers": mean_layers,
            "relative_layers": mean_layers / self.full_layers,
            "relative_flops": flops / self.full_flops if self.full_flops > 0 else math.nan,
            "exit_fractions": [count / num_rows for count in counts.tolist()],
            "agreement_with_last_exit": mean_of(answers == self.predictions[:, -1]),
        }


def mean_of(values: torch.Tensor) -> float:
    return float(values.double().mean())
