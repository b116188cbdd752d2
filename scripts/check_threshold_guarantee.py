#!/usr/bin/env python
"""
Checks the guarantee of `allennlp calibrate --target-agreement`: over repeated random splits of labelled data
into a calibration part and an evaluation part, calibrates on the first exactly as the command does
(`sledgehammer.calibration.calibrate_exit_outputs`: temperatures and agreement predictors on one share, the
Learn-then-Test threshold on the rest) and measures on the second how often the answers agree with the last
exit's on at least the target share of rows. With the guarantee, that fails in at most a share delta of the
splits (up to sampling noise of the evaluation part).

The model runs once over DATA with every exit computed; the splits reuse those outputs.

Usage:
    python scripts/check_threshold_guarantee.py ARCHIVE DATA --output FILE.json [--policy confidence]
        [--target-agreement 0.99] [--delta 0.1] [--splits 20] [--calibration-share 0.67] [--batch-size 32]
"""
import argparse
import json
import os
import sys

import torch
from allennlp.common.tqdm import Tqdm
from allennlp.models.archival import load_archive

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import sledgehammer  # noqa: E402,F401  (registers the model and readers)
from sledgehammer.calibration import TooFewRowsError, calibrate_exit_outputs  # noqa: E402
from sledgehammer.commands.archive_inputs import read_labelled_instances  # noqa: E402
from sledgehammer.common.atomic_files import write_bytes_atomically  # noqa: E402
from sledgehammer.evaluation import collect_exit_outputs, compute_tradeoff, THRESHOLD  # noqa: E402
from sledgehammer.evaluation.exit_outputs import ExitOutputs  # noqa: E402
from sledgehammer.modules.exit_policies import ExitPolicy  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("archive")
    parser.add_argument("data")
    parser.add_argument("--output", required=True, help="JSON file for the per-split results")
    parser.add_argument("--policy", default="confidence", choices=ExitPolicy.list_available())
    parser.add_argument("--target-agreement", type=float, default=0.99)
    parser.add_argument("--delta", type=float, default=0.1)
    parser.add_argument("--splits", type=int, default=20)
    parser.add_argument("--calibration-share", type=float, default=0.67)
    parser.add_argument("--batch-size", type=int, default=32)
    args = parser.parse_args()

    archive = load_archive(args.archive)
    model = archive.model
    instances = read_labelled_instances(archive, args.data, "DATA", "the guarantee check", ValueError)
    outputs = collect_exit_outputs(model, instances, batch_size=args.batch_size)
    num_rows = outputs.num_rows
    cut = int(round(args.calibration_share * num_rows))
    results = []
    for split in Tqdm.tqdm(range(args.splits), desc="splits"):
        order = torch.randperm(num_rows, generator=torch.Generator().manual_seed(1000 + split))
        calibration, evaluation = order[:cut], order[cut:]
        try:
            calibrated = calibrate_exit_outputs(
                outputs.exit_logits[calibration], outputs.labels[calibration], model.exit_layers,
                ExitPolicy.by_name(args.policy)(), args.target_agreement, args.delta, seed=split,
            )
        except TooFewRowsError as error:
            print(f"error: {error}", file=sys.stderr)
            return 2
        policy = calibrated["policy"]
        held_out = ExitOutputs(outputs.exit_logits[evaluation], outputs.labels[evaluation], outputs.lengths[evaluation])
        rows = compute_tradeoff(held_out, [policy.threshold], calibrated["temperatures"], model.exit_layers,
                                model.cost, full_layers=model.num_encoder_layers, policies=[policy])
        row = next(row for row in rows if row["kind"] == THRESHOLD)
        full = next(row for row in rows if row["kind"] == "full")
        results.append({
            "split": split,
            "threshold": policy.threshold,
            "p_value": calibrated["selection"]["p_value"],
            "selection_rows": calibrated["selection"]["selection_rows"],
            "evaluation_rows": len(evaluation),
            "evaluation_agreement": row["agreement_with_last_exit"],
            "met": row["agreement_with_last_exit"] >= args.target_agreement,
            "evaluation_accuracy": row["accuracy"],
            "full_model_accuracy": full["accuracy"],
            "relative_flops": row["relative_flops"],
        })
    met = sum(result["met"] for result in results)
    summary = {
        "archive": os.path.abspath(args.archive),
        "data": args.data,
        "policy": args.policy,
        "target_agreement": args.target_agreement,
        "delta": args.delta,
        "splits": args.splits,
        "calibration_rows": cut,
        "splits_meeting_target": met,
        "share_meeting_target": met / args.splits,
        "guarantee_holds": met / args.splits >= 1 - args.delta,
        "mean_relative_flops": sum(result["relative_flops"] for result in results) / len(results),
        "mean_threshold": sum(result["threshold"] for result in results) / len(results),
        "results": results,
    }
    write_bytes_atomically(args.output, (json.dumps(summary, indent=2) + "\n").encode("utf-8"))
    print(f"{args.policy}: target {100 * args.target_agreement:g}% agreement, delta {args.delta:g}: met in {met} of "
          f"{args.splits} splits ({len(evaluation)} evaluation rows each); mean threshold "
          f"{summary['mean_threshold']:.3f}, mean relative FLOPs {summary['mean_relative_flops']:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
