"""
The report `allennlp tradeoff` makes for an early-exit tagger: every setting's row (`tagger_tradeoff`), their
measured speed at batch size 1 and batched, whether batched token-level exit gives the tags of batch size 1, each
curve's quality at 2x, 3x and 4x fewer FLOPs, and the cheapest setting of each curve within a quality budget.
"""
import logging
from functools import partial
from typing import Any, Dict, List, Optional, Sequence, Tuple

import torch
from allennlp.data import Instance

from sledgehammer.evaluation.tagger_tradeoff import (
    FULL,
    ORACLE_CONSISTENCY,
    STATIC,
    TOKEN,
    TaggerSetting,
    evaluate_tagger_settings,
    run_every_exit,
    settings_restored,
    tagger_settings,
)
from sledgehammer.evaluation.timing import NUM_THREADS_KEY, TimedVariant, build_batches, time_interleaved
from sledgehammer.models import EarlyExitTagger

logger = logging.getLogger(__name__)

REDUCTIONS = (2.0, 3.0, 4.0)
ANY_WINDOW = "token:any window"
# Quality and cost comparisons tolerate float rounding.
_EPSILON = 1e-9


def build_tagger_tradeoff_report(
    model: EarlyExitTagger,
    instances: List[Instance],
    thresholds: Sequence[float],
    windows: Sequence[int],
    batch_size: int = 32,
    time_speed: bool = False,
    time_instances: Optional[int] = None,
    max_quality_drop: Optional[float] = None,
    cuda_device: int = -1,
    meta: Optional[Dict[str, Any]] = None,
) -> Dict[str, Any]:
    """
    The trade-off report of `model` on labelled `instances` (the content of `tradeoff.json`): `rows` (see
    `evaluate_tagger_settings`; with `time_speed` also `seconds_per_instance_b1`, `speedup_b1`,
    `seconds_per_instance_bN`, `speedup_bN` and, for rows that run an exit rule, `same_tags_b1_bN`: the share of
    timed sentences whose tags at `batch_size` equal those at batch size 1) and `meta`: the inputs, the model's
    exit policy and settings, `quality_at_reductions` (see `quality_at_reductions`) and, with
    `max_quality_drop` (points), `picks` (see `pick_within_drop`).
    """
    settings = tagger_settings(thresholds, windows, model.num_exits)
    batches = build_batches(model, instances, batch_size, cuda_device, fields=("tokens", "tags"))
    rows = evaluate_tagger_settings(model, batches, settings)
    meta = dict(meta or {})
    meta.update(
        model_type="sledgehammer_tagger",
        metric=model.main_metric,
        num_instances=len(instances),
        num_words=sum(len(instance["tags"].labels) for instance in instances),  # type: ignore[attr-defined]
        exit_layers=list(model.exit_layers),
        exit_policy=model.exit_policy.name,
        upper_uncertainty_factor=model.upper_uncertainty_factor,
        thresholds=sorted(set(thresholds)),
        windows=list(windows),
        batch_size=batch_size,
        timed=time_speed,
    )
    if time_speed:
        timed = instances if time_instances is None else instances[:time_instances]
        add_tagger_timing(model, timed, settings, rows, batch_size, cuda_device)
        meta.update(timed_instances=len(timed), num_threads=int(torch.get_num_threads()))
    meta["quality_at_reductions"] = quality_at_reductions(rows)
    if max_quality_drop is not None:
        meta["max_quality_drop"] = max_quality_drop
        meta["picks"] = pick_within_drop(rows, max_quality_drop)
    return {"meta": meta, "rows": rows}


def add_tagger_timing(
    model: EarlyExitTagger,
    instances: List[Instance],
    settings: Sequence[TaggerSetting],
    rows: List[Dict[str, Any]],
    batch_size: int,
    cuda_device: int = -1,
) -> None:
    """Adds measured seconds per sentence and speedups at batch size 1 and `batch_size` to `rows` (in place)."""
    seconds_b1, tags_b1 = time_tagger_settings(model, instances, settings, 1, cuda_device)
    seconds_bn, tags_bn = time_tagger_settings(model, instances, settings, batch_size, cuda_device)
    for row in rows:
        name = row["name"]
        row["seconds_per_instance_b1"] = seconds_b1[name]
        row["speedup_b1"] = seconds_b1[FULL] / seconds_b1[name]
        row["seconds_per_instance_bN"] = seconds_bn[name]
        row["speedup_bN"] = seconds_bn[FULL] / seconds_bn[name]
        if name in tags_b1:
            same = sum(one == many for one, many in zip(tags_b1[name], tags_bn[name]))
            row["same_tags_b1_bN"] = same / len(instances)


def time_tagger_settings(
    model: EarlyExitTagger,
    instances: List[Instance],
    settings: Sequence[TaggerSetting],
    batch_size: int,
    cuda_device: int = -1,
    warmup_batches: int = 2,
) -> Tuple[Dict[str, float], Dict[str, List[List[int]]]]:
    """
    Seconds per sentence of each setting at `batch_size`, all measured interleaved on the same batches
    (`time_interleaved`): static exits as the layers up to the exit and its head (`static_exit_logits`), the
    full model as one ordinary forward call and the last head (`plain_forward_logits`), sentence- and token-level
    exit as the model's forward pass, the oracle as `forward_with_exit_plan` with its halting exits worked out
    beforehand (untimed). Also returns, for the rows that run an exit rule, each sentence's predicted tags.
    """
    batches = build_batches(model, instances, batch_size, cuda_device, fields=("tokens", "tags"))
    tags: Dict[str, List[List[int]]] = {}

    def record(name: str, number: int, output: Any) -> None:
        if isinstance(output, dict):
            lengths = output["mask"].sum(dim=1).tolist()
            tags.setdefault(name, []).extend(
                row[:length] for row, length in zip(output["tags"].tolist(), lengths)
            )

    with settings_restored(model):
        with torch.no_grad():
            every = run_every_exit(model, batches)
        for number, batch in enumerate(batches):
            batch["plan"] = every.oracle_exits(number)
        variants = {setting.name: _timed_variant(model, setting) for setting in settings}
        seconds = time_interleaved(
            variants, {None: batches}, warmup_batches, cuda_device, f"timing at batch size {batch_size}",
            on_output=record,
        )
    results = {name: total / len(instances) for name, total in seconds.items()}
    results[NUM_THREADS_KEY] = float(torch.get_num_threads())
    return results, tags


def _timed_variant(model: EarlyExitTagger, setting: TaggerSetting) -> TimedVariant:
    settings = partial(setting.settings, model)
    if setting.kind == STATIC:
        return TimedVariant(None, settings, lambda batch: model.static_exit_logits(batch["tokens"], setting.exit_index))
    if setting.kind == FULL:
        return TimedVariant(None, settings, lambda batch: model.plain_forward_logits(batch["tokens"]))
    if setting.kind == ORACLE_CONSISTENCY:
        return TimedVariant(None, settings, lambda batch: model.forward_with_exit_plan(batch["tokens"], batch["plan"]))
    return TimedVariant(None, settings, lambda batch: model(tokens=batch["tokens"]))


def quality_at_reductions(rows: Sequence[Dict[str, Any]], reductions: Sequence[float] = REDUCTIONS) -> Dict[str, Any]:
    """
    For each curve (`family`: static, sentence, each token-level window, any token-level window, the oracle)
    and each FLOPs reduction `r` in `reductions`, the best quality among its rows costing at most `1 / r` of the
    full model's FLOPs: `{family: {"2x": {"name", "quality", "relative_flops", [speedups]} or None, ...}}`.
    """
    families: Dict[str, List[Dict[str, Any]]] = {}
    for row in rows:
        if row["kind"] == FULL:
            continue
        families.setdefault(row["family"], []).append(row)
        if row["kind"] == TOKEN:
            families.setdefault(ANY_WINDOW, []).append(row)
    result: Dict[str, Any] = {}
    for family, members in families.items():
        result[family] = {}
        for reduction in reductions:
            best = best_within(members, 1.0 / reduction)
            result[family][f"{reduction:g}x"] = None if best is None else _summary(best)
    return result


def best_within(rows: Sequence[Dict[str, Any]], max_relative_flops: float) -> Optional[Dict[str, Any]]:
    """The row of highest quality among `rows` costing at most `max_relative_flops` of the full model, or `None`."""
    cheap = [row for row in rows if row["relative_flops"] <= max_relative_flops + _EPSILON]
    return max(cheap, key=lambda row: row["quality"], default=None)


def pick_within_drop(rows: Sequence[Dict[str, Any]], max_quality_drop: float) -> Dict[str, Any]:
    """
    For each curve, the cheapest row whose quality is at most `max_quality_drop` points (of 100) below the full
    model's: by measured speedup at batch size 1 when the rows are timed, else by FLOPs. `None` when none is.
    """
    full = next(row for row in rows if row["kind"] == FULL)
    floor = full["quality"] - max_quality_drop / 100.0 - _EPSILON
    timed = "speedup_b1" in full
    picks: Dict[str, Any] = {}
    for row in rows:
        if row["kind"] == FULL:
            continue
        for family in [row["family"]] + ([ANY_WINDOW] if row["kind"] == TOKEN else []):
            picks.setdefault(family, None)
            if row["quality"] < floor:
                continue
            best = picks[family]
            better = best is None or (
                row["speedup_b1"] > best["speedup_b1"] if timed else row["relative_flops"] < best["relative_flops"]
            )
            if better:
                picks[family] = _summary(row)
    return picks


def _summary(row: Dict[str, Any]) -> Dict[str, Any]:
    keys = ("name", "quality", "relative_flops", "speedup_b1", "speedup_bN", "same_tags_b1_bN")
    return {key: row[key] for key in keys if key in row}
