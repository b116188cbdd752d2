#!/usr/bin/env python
"""
Benchmarks early-exit inference of a calibrated sledgehammer_classifier against the plain full model, on CPU,
and checks the targets of the early-exit issue:

- batch size 1: best wall-clock speedup at <= 1 accuracy point below the full model (target >= 3x);
- batch size N (default 32): the same for batched early exit (target >= 2x);
- threshold 1.0 (layer-by-layer, no early exit) against one plain forward call: overhead (target <= 3 %);
- batched early exit answers like batch size 1: identical exit layers for >= 99.5 % of rows, and for 100 %
  of the rows whose confidence at no exit lies within 1e-4 of the threshold.

Every variant runs on the same instances in one process, interleaved batch by batch after warm-up
(`allennlp tradeoff --time` does the measuring), with the thread count fixed and reported.

Usage:
    python scripts/benchmark_early_exit.py ARCHIVE DATA --output-dir DIR [--batch-size 32] [--num-threads 2]
        [--thresholds 0.5,0.6,0.7,0.8,0.9,0.95,0.99,1.0] [--time-instances N]

Writes DIR/tradeoff.{json,csv,png} (the full trade-off) and DIR/benchmark.json (the targets), and prints both.
"""
import argparse
import json
import os
import sys
from typing import Any, Dict, List, Optional

import torch
from allennlp.data import Batch
from allennlp.models.archival import load_archive

import sledgehammer  # noqa: F401  (registers the model and readers)
from sledgehammer.commands.archive_inputs import read_labelled_instances
from sledgehammer.commands.tradeoff import TradeoffError, parse_thresholds, run_tradeoff

MAX_ACCURACY_DROP = 1.0  # accuracy points
TARGETS = {"speedup_b1": 3.0, "speedup_bN": 2.0, "overhead_at_threshold_1": 0.03}


def best_within_drop(rows: List[Dict[str, Any]], speedup_key: str) -> Optional[Dict[str, Any]]:
    """The threshold row with the largest `speedup_key` whose accuracy is within 1 point of the full model."""
    full = next(row for row in rows if row["kind"] == "full")
    eligible = [
        row
        for row in rows
        if row["kind"] == "threshold" and 100 * (full["accuracy"] - row["accuracy"]) <= MAX_ACCURACY_DROP + 1e-9
    ]
    return max(eligible, key=lambda row: row[speedup_key], default=None)


def exits_by_batch_size(model, instances, threshold: float, batch_size: int) -> Dict[str, torch.Tensor]:
    """Exit index of every row at `threshold` when run in batches of `batch_size`, and its exit confidences."""
    model.eval()
    model.threshold = threshold
    exit_index, confidences = [], []
    with torch.no_grad():
        for start in range(0, len(instances), batch_size):
            batch = Batch(instances[start : start + batch_size])
            batch.index_instances(model.vocab)
            output = model(tokens=batch.as_tensor_dict()["tokens"])
            exit_index.append(output["exit_index"])
            confidences.append(output["exit_probs"].max(dim=-1).values)  # NaN where not reached
    return {"exit_index": torch.cat(exit_index), "confidences": torch.cat(confidences)}


def batch_consistency(archive_file: str, data: str, thresholds: List[float], batch_size: int) -> Dict[str, Any]:
    """Compares exit layers at batch size 1 and `batch_size`, at every threshold."""
    archive = load_archive(archive_file)
    instances = read_labelled_instances(archive, data, "DATA")
    results = {}
    for threshold in thresholds:
        one = exits_by_batch_size(archive.model, instances, threshold, 1)
        many = exits_by_batch_size(archive.model, instances, threshold, batch_size)
        same = one["exit_index"] == many["exit_index"]
        near = ((one["confidences"] - threshold).abs() < 1e-4).any(dim=1)
        results[str(threshold)] = {
            "identical_exits": float(same.float().mean()),
            "identical_exits_away_from_threshold": float(same[~near].float().mean()) if (~near).any() else 1.0,
            "rows_near_threshold": int(near.sum()),
        }
    worst = min(r["identical_exits"] for r in results.values())
    worst_away = min(r["identical_exits_away_from_threshold"] for r in results.values())
    return {
        "batch_size": batch_size,
        "per_threshold": results,
        "met": worst >= 0.995 and worst_away == 1.0,
        "worst_identical_exits": worst,
        "worst_identical_exits_away_from_threshold": worst_away,
    }


def summarise(report: Dict[str, Any]) -> Dict[str, Any]:
    rows = report["rows"]
    full = next(row for row in rows if row["kind"] == "full")
    at_one = next(row for row in rows if row["kind"] == "threshold" and row["threshold"] == 1.0)
    summary: Dict[str, Any] = {"full_accuracy": full["accuracy"], "max_accuracy_drop_points": MAX_ACCURACY_DROP}
    for key in ("speedup_b1", "speedup_bN"):
        best = best_within_drop(rows, key)
        summary[key] = {
            "threshold": best["threshold"],
            "accuracy": best["accuracy"],
            "speedup": best[key],
            "relative_flops": best["relative_flops"],
            "target": TARGETS[key],
            "met": best[key] >= TARGETS[key],
        }
    for suffix in ("b1", "bN"):
        overhead = at_one[f"seconds_per_instance_{suffix}"] / full[f"seconds_per_instance_{suffix}"] - 1.0
        summary[f"overhead_at_threshold_1_{suffix}"] = {
            "overhead": overhead,
            "target": TARGETS["overhead_at_threshold_1"],
            "met": overhead <= TARGETS["overhead_at_threshold_1"],
        }
    return summary


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("archive")
    parser.add_argument("data")
    parser.add_argument("--output-dir", required=True)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--num-threads", type=int, default=2)
    parser.add_argument("--thresholds", type=parse_thresholds, default=None)
    parser.add_argument("--time-instances", type=int, default=None)
    args = parser.parse_args()
    try:
        report = run_tradeoff(
            args.archive,
            args.data,
            args.output_dir,
            thresholds=args.thresholds,
            policies="confidence",
            batch_size=args.batch_size,
            time_speed=True,
            time_instances=args.time_instances,
            num_threads=args.num_threads,
            max_accuracy_drop=MAX_ACCURACY_DROP,
        )
    except TradeoffError as error:
        print(f"benchmark: error: {error}", file=sys.stderr)
        return 2
    summary = summarise(report)
    summary["batch_consistency"] = batch_consistency(
        args.archive, args.data, report["meta"]["thresholds"], args.batch_size
    )
    summary["meta"] = report["meta"]
    with open(os.path.join(args.output_dir, "benchmark.json"), "w", encoding="utf-8") as f:
        json.dump(summary, f, indent=2)
    batch = report["meta"]["batch_size"]
    print(f"\nTargets (full-model accuracy {100 * summary['full_accuracy']:.2f} %, "
          f"threads {report['meta']['num_threads']}):")
    for key, label in (("speedup_b1", "batch 1"), ("speedup_bN", f"batch {batch}")):
        item = summary[key]
        print(f"- {label}: {item['speedup']:.2f}x at threshold {item['threshold']} "
              f"(accuracy {100 * item['accuracy']:.2f} %); target >= {item['target']}x: "
              f"{'met' if item['met'] else 'NOT met'}")
    for suffix, label in (("b1", "batch 1"), ("bN", f"batch {batch}")):
        item = summary[f"overhead_at_threshold_1_{suffix}"]
        print(f"- threshold 1.0 vs plain forward, {label}: overhead {100 * item['overhead']:+.1f} %; "
              f"target <= {100 * item['target']:.0f} %: {'met' if item['met'] else 'NOT met'}")
    consistency = summary["batch_consistency"]
    print(f"- exits at batch {batch} vs batch 1: worst {100 * consistency['worst_identical_exits']:.2f} % identical "
          f"({100 * consistency['worst_identical_exits_away_from_threshold']:.2f} % away from the threshold); "
          f"target >= 99.5 % (100 %): {'met' if consistency['met'] else 'NOT met'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
