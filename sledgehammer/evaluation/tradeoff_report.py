"""
The report of `allennlp tradeoff`, as library code: the trade-off rows of every exit policy, separately
trained models beside them, optional timing, and per policy the cheapest threshold within an accuracy
budget and the share of the consistency oracle's savings.
"""
from typing import Any, Dict, List, Optional, Sequence, Tuple

import torch
from allennlp.data import Instance

from sledgehammer.evaluation.exit_outputs import ExitOutputs
from sledgehammer.evaluation.precision_rows import mark_precision, precision_name, precision_tradeoff, row_precision
from sledgehammer.evaluation.timing import NUM_THREADS_KEY, measure_seconds
from sledgehammer.evaluation.tradeoff import (
    FULL,
    FULL_NAME,
    SEPARATE,
    THRESHOLD,
    compute_tradeoff,
    oracle_savings_share,
    pick_threshold,
    separate_model_row,
)
from sledgehammer.models import EarlyExitClassifier
from sledgehammer.models.precision import FP32
from sledgehammer.modules.exit_policies import ExitPolicy

TIMED_KINDS = (THRESHOLD, "full", SEPARATE)
# The agreement with the last exit at which a policy's savings are set against the oracle's.
MIN_AGREEMENT = 0.99
COST_CONVENTION = (
    "FLOPs are InferenceCost estimates relative to the full model (every kept layer and the last exit "
    "head) on the same rows; with early exit (threshold < 1, oracles) a row pays the layers up to and "
    "the heads of every exit up to its answering exit; an exit used alone pays its layers and one head."
)

# A separately trained model for the report: (model, its reading of the data, its exit outputs).
Compared = Tuple[EarlyExitClassifier, List[Instance], ExitOutputs]
# The model in another precision: (the model loaded so, its exit outputs on the same rows, its policies to compare).
OtherPrecision = Tuple[EarlyExitClassifier, ExitOutputs, Sequence[ExitPolicy]]


def build_tradeoff_report(
    model: EarlyExitClassifier,
    instances: List[Instance],
    outputs: ExitOutputs,
    policies: Sequence[ExitPolicy],
    thresholds: List[float],
    batch_size: int = 32,
    time_speed: bool = False,
    time_instances: Optional[int] = None,
    max_accuracy_drop: Optional[float] = None,
    compared: Optional[Dict[str, Compared]] = None,
    cuda_device: int = -1,
    meta: Optional[Dict[str, Any]] = None,
    precisions: Optional[Dict[str, OtherPrecision]] = None,
) -> Dict[str, Any]:
    """
    The content of `tradeoff.json`: `{"meta", "rows"}`.

    # Parameters

    model : `EarlyExitClassifier`
    instances : `List[Instance]`
        The labelled rows, as `model`'s reader read them (timing runs on them).
    outputs : `ExitOutputs`
        `model`'s every-exit outputs on `instances` (`collect_exit_outputs`).
    policies : `Sequence[ExitPolicy]`
        The exit policies to compare, each drawn at `policy_thresholds(policy, thresholds, exits)`.
    thresholds : `List[float]`
    batch_size : `int`, optional (default = `32`)
    time_speed : `bool`, optional (default = `False`)
        Measure seconds per instance at batch size 1 and `batch_size` (`measure_seconds`), interleaving every
        policy's thresholds, the plain full model and the compared models.
    time_instances : `int`, optional (default = `None`)
        Time the first `time_instances` rows only.
    max_accuracy_drop : `float`, optional (default = `None`)
        Pick, per policy, the cheapest threshold within this many accuracy points of the full model.
    compared : `Dict[str, Compared]`, optional (default = `None`)
        Separately trained models by name, added as `separate_model` rows.
    cuda_device : `int`, optional (default = `-1`)
    meta : `Dict[str, Any]`, optional (default = `None`)
        Facts about the inputs (archive, data) to put first into the report's `meta`.
    precisions : `Dict[str, OtherPrecision]`, optional (default = `None`)
        The model in other precisions (e.g. `{"int8": ...}`): each gets the rows of its own trade-off after the
        fp32 ones (`precision_tradeoff`), named `"int8:..."`, timed in the same loop, every speedup against the
        fp32 full model. Given (even empty), every row names its precision and `meta["precisions"]` tells each
        precision's temperatures and policies; `None` leaves the report as it always was.

    `meta["policies"]` holds per policy (per precision and policy, `"int8:confidence"`, for other precisions)
    `oracle_savings` (`oracle_savings_share` at `MIN_AGREEMENT`, against the consistency oracle of the same
    precision) and, with `max_accuracy_drop`, `pick` (within that many points of the fp32 full model);
    `meta["oracle_savings"]` and `meta["pick"]` repeat the first policy's.
    """
    compared = compared or {}
    rows = compute_tradeoff(
        outputs, thresholds, temperatures=model.temperatures, exit_layers=model.exit_layers, cost=model.cost,
        full_layers=model.num_encoder_layers, policies=policies,
    )
    if precisions is not None:
        mark_precision(rows, FP32)
        for precision, (quantized, quantized_outputs, quantized_policies) in precisions.items():
            rows.extend(precision_tradeoff(precision, quantized, quantized_outputs, thresholds, quantized_policies))
    for name, (other, _, other_outputs) in compared.items():
        rows.append(separate_model_row(name, other_outputs, other.cost, other.num_encoder_layers,
                                       outputs, model.cost, model.num_encoder_layers))
    meta = dict(meta or {})
    meta.update({
        "num_instances": len(instances),
        "exit_layers": list(model.exit_layers),
        "full_layers": model.num_encoder_layers,
        "temperatures": model.temperatures,
        "thresholds": thresholds,
        "policies_compared": [policy.name for policy in policies],
        "batch_size": batch_size,
        "cuda_device": cuda_device,
        "torch_version": torch.__version__,
        "num_threads": torch.get_num_threads(),
        "accuracy_unit": "fraction of rows (0-1)",
        "cost_convention": COST_CONVENTION,
        "timed": time_speed,
    })
    curves = {FP32: (model, policies)}
    if precisions is not None:
        curves.update((precision, (other[0], other[2])) for precision, other in precisions.items())
        meta["precisions"] = {precision: {"temperatures": each.temperatures,
                                          "policies_compared": [policy.name for policy in each_policies]}
                              for precision, (each, each_policies) in curves.items()}
    if time_speed:
        limit = len(instances) if time_instances is None else time_instances
        others = {name: (other, other_instances[:limit]) for name, (other, other_instances, _) in compared.items()}
        quantized = {precision: curve for precision, curve in curves.items() if precision != FP32}
        meta.update(add_timing(rows, model, instances[:limit], thresholds, policies, batch_size, cuda_device, others,
                               quantized))
    fp32_rows = [row for row in rows if row_precision(row) == FP32]
    if compared:
        meta["comparisons"] = compare_with_thresholds(fp32_rows)
    by = "speedup_b1" if time_speed else "relative_flops"
    fp32_full = [row for row in fp32_rows if row["kind"] == FULL]
    summaries = {}
    for precision, (_, curve_policies) in curves.items():
        own = [row for row in rows if row_precision(row) == precision]
        for policy in curve_policies:
            summary: Dict[str, Any] = {"oracle_savings": oracle_savings_share(own, MIN_AGREEMENT, policy.name)}
            if max_accuracy_drop is not None:
                # Every precision's threshold is picked against the fp32 full model's accuracy.
                candidates = own if precision == FP32 else fp32_full + own
                picked = pick_threshold(candidates, max_accuracy_drop, by=by, policy=policy.name)
                summary["pick"] = {"max_accuracy_drop_points": max_accuracy_drop, "by": by,
                                   "threshold": None if picked is None else picked["threshold"],
                                   "row": None if picked is None else picked["name"]}
            summaries[precision_name(precision, policy.name)] = summary
    meta["policies"] = summaries
    first = summaries[policies[0].name]
    meta["oracle_savings"] = first["oracle_savings"]
    if "pick" in first:
        meta["pick"] = first["pick"]
    return {"meta": meta, "rows": rows}


def add_timing(
    rows: List[Dict[str, Any]],
    model: EarlyExitClassifier,
    instances: List[Instance],
    thresholds: List[float],
    policies: Sequence[ExitPolicy],
    batch_size: int,
    cuda_device: int,
    other_models: Dict[str, Tuple[EarlyExitClassifier, List[Instance]]],
    precision_models: Optional[Dict[str, Tuple[EarlyExitClassifier, Sequence[ExitPolicy]]]] = None,
) -> Dict[str, Any]:
    """
    Measures seconds per instance at batch size 1 and `batch_size` (the model in other precisions too, see
    `measure_seconds`) and adds them to the rows.
    """
    per_batch_size = {}
    for suffix, size in (("b1", 1), ("bN", batch_size)):
        if suffix == "bN" and batch_size == 1:
            per_batch_size["bN"] = per_batch_size["b1"]
        else:
            per_batch_size[suffix] = measure_seconds(
                model, instances, thresholds, size, cuda_device=cuda_device, other_models=other_models,
                policies=policies, precision_models=precision_models,
            )
    for row in rows:
        timed = row["kind"] in TIMED_KINDS
        for suffix, seconds in per_batch_size.items():
            variant = seconds.get(row["name"]) if timed else None
            row[f"seconds_per_instance_{suffix}"] = variant
            row[f"speedup_{suffix}"] = None if variant is None or variant <= 0 else seconds[FULL_NAME] / variant
    return {
        "timing": {
            "batch_sizes": {"b1": 1, "bN": batch_size},
            "num_instances": len(instances),
            "num_threads": int(per_batch_size["b1"][NUM_THREADS_KEY]),
            "unit": "seconds per instance",
            "full_model": "plain_forward_logits (one ordinary encoder pass, last exit head)",
        }
    }


def compare_with_thresholds(rows: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
    """
    For each `separate_model` row, the most accurate threshold row (of any policy) that costs no more
    relative FLOPs: a list of `{"name", "accuracy", "relative_flops", "threshold", "threshold_policy",
    "threshold_accuracy", "threshold_relative_flops", "accuracy_difference_points"}` (the threshold keys
    `None` when every threshold costs more).
    """
    thresholds = [row for row in rows if row["kind"] == THRESHOLD and row["accuracy"] is not None]
    comparisons = []
    for row in rows:
        if row["kind"] != SEPARATE or row["accuracy"] is None:
            continue
        cheaper = [other for other in thresholds if other["relative_flops"] <= row["relative_flops"] + 1e-9]
        best = max(cheaper, key=lambda other: (other["accuracy"], -other["relative_flops"]), default=None)
        comparisons.append({
            "name": row["name"],
            "accuracy": row["accuracy"],
            "relative_flops": row["relative_flops"],
            "threshold": None if best is None else best["threshold"],
            "threshold_policy": None if best is None else best["policy"],
            "threshold_accuracy": None if best is None else best["accuracy"],
            "threshold_relative_flops": None if best is None else best["relative_flops"],
            "accuracy_difference_points":
                None if best is None else 100.0 * (best["accuracy"] - row["accuracy"]),
        })
    return comparisons
