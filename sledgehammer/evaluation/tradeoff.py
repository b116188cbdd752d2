"""
The speed/accuracy trade-off of an early-exit classifier, computed offline from one pass that ran every
exit (`ExitOutputs`): what each exit policy at each threshold, each exit used alone, the full model and two
oracles would have answered, and what that would have cost.

Threshold decisions use the exit policies' own `first_exits` on `calibrated_probs`, the code the model
itself runs layer by layer, so a threshold's row here matches what the model does online with the same
temperatures and policy.

Costs follow the convention of the model's own metrics (`ExitStatistics`):

* with early exit (threshold < 1) a row runs every layer up to its answering exit and the head of every
  exit it passed, the answering one included;
* the full model (and threshold 1.0, which never exits early) runs every kept layer and the last head;
* a "static" row (exit `k` used alone, as a truncated "partial" model would be) runs the layers up to
  exit `k` and one head;
* the oracles pay like an early-exit rule: layers up to, and heads up to, the exit they answer at;
* a separately trained model (`separate_model_row`, e.g. a truncated model trained alone) runs all its
  layers and its last head, with its own cost model, relative to the early-exit model's full cost.

Relative FLOPs are total FLOPs over the full model's total FLOPs on the same rows (`InferenceCost`
estimates); relative layers are mean layers run over the full model's layers.
"""
import math
from typing import List, Optional, Sequence

import torch

from sledgehammer.evaluation.exit_outputs import ExitOutputs
from sledgehammer.evaluation.records import OracleShare, TradeoffRow
from sledgehammer.evaluation.tradeoff_rows import RowMaker, mean_of
from sledgehammer.modules.exit_policies import (
    ConfidencePolicy,
    ExitPolicy,
    calibrated_probs,
    check_thresholds,
    first_exits_from_scores,
)
from sledgehammer.modules.inference_cost import InferenceCost

THRESHOLD = "threshold"
STATIC = "static"
FULL = "full"
ORACLE_CONSISTENCY = "oracle_consistency"
ORACLE_ACCURACY = "oracle_accuracy"
SEPARATE = "separate_model"
CERTIFIED = "certified"
KINDS = (THRESHOLD, STATIC, FULL, ORACLE_CONSISTENCY, ORACLE_ACCURACY, SEPARATE, CERTIFIED)

FULL_NAME = "full"

# Accuracy comparisons tolerate float rounding.
_EPSILON = 1e-9


DEFAULT_POLICY = "confidence"


def threshold_name(threshold: float, policy: str = DEFAULT_POLICY) -> str:
    """
    The name of a policy's threshold row (and timing key): `"threshold=0.9"` for the default `confidence`
    policy, `"entropy:threshold=0.9"` for the others.
    """
    prefix = "" if policy == DEFAULT_POLICY else f"{policy}:"
    return f"{prefix}threshold={float(threshold)!r}"


def policy_thresholds(policy: ExitPolicy, thresholds: Sequence[float], num_exits: int) -> List[float]:
    """
    The thresholds a trade-off curve of `policy` is drawn at: `thresholds`, except for policies whose scores
    take few values (`patience`), which use each of their distinct settings (ascending).
    """
    if policy.discrete:
        return sorted(policy.candidate_thresholds(num_exits))
    return [float(threshold) for threshold in thresholds]


def static_name(exit_layer: int) -> str:
    """The name of the row of the exit on (0-based) encoder layer `exit_layer` used alone."""
    return f"exit_layer={exit_layer}"


def compute_tradeoff(
    outputs: ExitOutputs,
    thresholds: Sequence[float],
    temperatures: Sequence[float],
    exit_layers: Sequence[int],
    cost: InferenceCost,
    full_layers: Optional[int] = None,
    policies: Optional[Sequence[ExitPolicy]] = None,
) -> List[TradeoffRow]:
    """
    One row per policy and threshold (in the given order), per exit used alone (in exit order), for the full
    model and for the two oracles (the accuracy oracle only with labels).

    # Parameters

    outputs : `ExitOutputs`
        Every exit's raw logits for every row (no NaN: run with threshold 1.0).
    thresholds : `Sequence[float]`
        Confidence thresholds in [0, 1].
    temperatures : `Sequence[float]`
        One positive temperature per exit, dividing its logits before the softmax.
    exit_layers : `Sequence[int]`
        The 0-based encoder layer of each exit, ascending.
    cost : `InferenceCost`
        The model's cost model.
    full_layers : `int`, optional (default = `None`)
        Layers the full model runs; by default the last exit layer + 1.
    policies : `Sequence[ExitPolicy]`, optional (default = `None`)
        The exit policies to draw curves for (their own thresholds are ignored); `None` is the
        `confidence` policy alone. Each gets rows at `policy_thresholds(policy, thresholds, exits)`.

    # Returns

    A list of dictionaries with the keys `kind` (one of `KINDS`), `name`, `policy` and `threshold` (`None`
    except for threshold rows), `accuracy` (fraction in [0, 1]; `None` without labels), `mean_layers`,
    `relative_layers`, `relative_flops`, `exit_fractions` (share of rows answered at each exit, in exit
    order) and `agreement_with_last_exit` (share of rows whose answer equals the last exit's).

    * `threshold`: each row answers where the policy says at that threshold (`ExitPolicy.first_exits`;
      for `confidence`, the first exit whose largest calibrated probability reaches the threshold).
    * `static`: every row answers at one exit (one row per exit, the last one included).
    * `full`: every row answers at the last exit.
    * `oracle_consistency`: each row answers at the earliest exit whose prediction equals the last exit's
      (so its accuracy is the full model's).
    * `oracle_accuracy`: each row answers at the earliest exit that is right; rows no exit gets right
      answer (wrongly) at the last exit.
    """
    exit_logits = outputs.exit_logits
    num_rows, num_exits, _ = exit_logits.shape
    exit_layers = [int(layer) for layer in exit_layers]
    if num_rows == 0:
        raise ValueError("no rows to compute a trade-off on")
    if len(exit_layers) != num_exits or sorted(set(exit_layers)) != exit_layers:
        raise ValueError(f"expected {num_exits} ascending exit layers, got {exit_layers}")
    if len(temperatures) != num_exits:
        raise ValueError(f"expected {num_exits} temperatures, got {len(temperatures)}")
    if torch.isnan(exit_logits).any():
        raise ValueError("exit_logits contain NaN: collect them with threshold 1.0 so every exit runs")
    check_thresholds(thresholds)
    policies = [ConfidencePolicy()] if policies is None else list(policies)
    full_layers = exit_layers[-1] + 1 if full_layers is None else int(full_layers)

    table = RowMaker(outputs, exit_layers, cost, full_layers)
    exit_probs = calibrated_probs(exit_logits, torch.tensor(temperatures, dtype=torch.float))
    last = torch.full((num_rows,), num_exits - 1, dtype=torch.long)

    rows = []
    for policy in policies:
        scores = policy.exit_scores(exit_probs)
        for threshold in policy_thresholds(policy, thresholds, num_exits):
            exit_index = first_exits_from_scores(scores, threshold)
            rows.append(
                table.row(THRESHOLD, threshold_name(threshold, policy.name), exit_index,
                          early_exit=threshold < 1.0, threshold=threshold, policy=policy.name)
            )
    for k, layer in enumerate(exit_layers):
        rows.append(table.row(STATIC, static_name(layer), torch.full_like(last, k), early_exit=False))
    rows.append(table.row(FULL, FULL_NAME, last, early_exit=False))
    agrees = table.predictions == table.predictions[:, -1:]
    rows.append(table.row(ORACLE_CONSISTENCY, ORACLE_CONSISTENCY, _first_true(agrees), early_exit=True))
    if outputs.labels is not None:
        correct = table.predictions == outputs.labels[:, None]
        rows.append(table.row(ORACLE_ACCURACY, ORACLE_ACCURACY, _first_true(correct), early_exit=True))
    return rows


def pick_threshold(
    rows: List[TradeoffRow], max_accuracy_drop_points: float, by: str = "auto", policy: str = DEFAULT_POLICY
) -> Optional[TradeoffRow]:
    """
    The cheapest threshold row whose accuracy is at most `max_accuracy_drop_points` percentage points
    below the full model's, or `None` if there is none.

    # Parameters

    rows : `List[TradeoffRow]`
        Rows of `compute_tradeoff` (with labels), including the `full` row.
    max_accuracy_drop_points : `float`
        Allowed accuracy loss in percentage points (1.0 allows 91.0% for a full model at 92.0%).
    by : `str`, optional (default = `"auto"`)
        The cost: `"relative_flops"` (lowest wins), or a measured speedup key such as `"speedup_b1"` or
        `"speedup_bN"` (highest wins). `"auto"` uses `"speedup_b1"` when every threshold row has it,
        else `"relative_flops"`. Ties go to the more accurate row.
    policy : `str`, optional (default = `"confidence"`)
        Whose threshold rows to pick from.
    """
    if not max_accuracy_drop_points >= 0:
        raise ValueError(f"the allowed accuracy drop must be >= 0 points, got {max_accuracy_drop_points}")
    full = [row for row in rows if row["kind"] == FULL]
    if not full:
        raise ValueError("the rows have no full-model row to compare with")
    full_accuracy = full[0]["accuracy"]
    if full_accuracy is None:
        raise ValueError("accuracy is unknown (no labels), so no threshold can be picked")
    candidates = [row for row in rows if row["kind"] == THRESHOLD and row.get("policy") == policy]
    if by == "auto":
        timed = candidates and all(row.get("speedup_b1") is not None for row in candidates)
        by = "speedup_b1" if timed else "relative_flops"
    floor = full_accuracy - max_accuracy_drop_points / 100.0 - _EPSILON
    candidates = [row for row in candidates if row["accuracy"] >= floor and row.get(by) is not None]
    if not candidates:
        return None
    sign = 1.0 if by == "relative_flops" else -1.0
    return min(candidates, key=lambda row: (sign * row[by], -row["accuracy"]))


def separate_model_row(
    name: str,
    outputs: ExitOutputs,
    cost: InferenceCost,
    layers: int,
    reference_outputs: ExitOutputs,
    reference_cost: InferenceCost,
    reference_layers: int,
) -> TradeoffRow:
    """
    The row of another model run over the same labelled rows as the early-exit model of the table, e.g. a
    truncated model trained alone with `exit_layers: [k]` (the "static" baseline of Schwartz et al.,
    2020). The model answers at its last exit and pays all its `layers` and one exit head.

    # Parameters

    name : `str`
        The row's name.
    outputs : `ExitOutputs`
        The other model's exit logits (its last exit answers) and labels, row by row as in
        `reference_outputs`.
    cost : `InferenceCost`
        The other model's cost model.
    layers : `int`
        The encoder layers the other model runs.
    reference_outputs : `ExitOutputs`, `reference_cost` : `InferenceCost`, `reference_layers` : `int`
        The same for the early-exit model of the table, whose full cost is the unit of `relative_flops`
        and whose layers are the unit of `relative_layers`.

    # Returns

    A row with the keys of `compute_tradeoff`'s rows; `kind` is `"separate_model"`, `threshold` and
    `agreement_with_last_exit` are `None` and `exit_fractions` is empty.
    """
    if outputs.num_rows != reference_outputs.num_rows:
        raise ValueError(
            f"{name} was run on {outputs.num_rows} rows, the early-exit model on {reference_outputs.num_rows}"
        )
    flops = float(cost.flops(outputs.lengths, layers, 1).sum())
    reference_flops = float(reference_cost.flops(reference_outputs.lengths, reference_layers, 1).sum())
    answers = outputs.exit_logits[:, -1].argmax(dim=-1)
    return {
        "kind": SEPARATE,
        "name": name,
        "policy": None,
        "threshold": None,
        "accuracy": None if outputs.labels is None else mean_of(answers == outputs.labels),
        "mean_layers": float(layers),
        "relative_layers": layers / reference_layers,
        "relative_flops": flops / reference_flops if reference_flops > 0 else math.nan,
        "exit_fractions": [],
        "agreement_with_last_exit": None,
    }


def oracle_savings_share(
    rows: List[TradeoffRow], min_agreement: float = 0.99, policy: str = DEFAULT_POLICY
) -> Optional[OracleShare]:
    """
    How much of what the consistency oracle saves the exit policy `policy` saves while it still agrees with
    the last exit on at least `min_agreement` of the rows: the cheapest (by relative FLOPs) such
    threshold row, its savings `1 - relative_flops`, the oracle's, and their ratio. `None` when the rows
    have no consistency oracle or no threshold row of the policy agrees enough.
    """
    oracle = [row for row in rows if row["kind"] == ORACLE_CONSISTENCY]
    agreeing = [row for row in rows
                if row["kind"] == THRESHOLD and row.get("policy") == policy
                and row["agreement_with_last_exit"] >= min_agreement - _EPSILON]
    if not oracle or not agreeing:
        return None
    best = min(agreeing, key=lambda row: row["relative_flops"])
    saved, oracle_saved = 1.0 - best["relative_flops"], 1.0 - oracle[0]["relative_flops"]
    return {
        "policy": policy,
        "min_agreement": min_agreement,
        "threshold": best["threshold"],
        "agreement_with_last_exit": best["agreement_with_last_exit"],
        "saved_flops": saved,
        "oracle_saved_flops": oracle_saved,
        "share_of_oracle_savings": saved / oracle_saved if oracle_saved > 0 else None,
    }


def _first_true(matrix: torch.Tensor) -> torch.Tensor:
    """Per row of a `(rows, exits)` bool matrix, the first True column, or the last column if none."""
    num_exits = matrix.shape[1]
    columns = torch.arange(num_exits).expand_as(matrix)
    return torch.where(matrix, columns, torch.full_like(columns, num_exits - 1)).min(dim=1).values
