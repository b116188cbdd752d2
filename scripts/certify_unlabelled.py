#!/usr/bin/env python
"""
Measures what unlabelled selection text buys `allennlp calibrate --target-agreement`: the model runs ONCE over the
labelled DEV_DATA (temperatures), the unlabelled POOL_DATA (agreement predictors and the Learn-then-Test selection,
labels ignored: `sledgehammer.commands.selection_inputs`) and the labelled EVAL_DATA (where the certified setting is
measured), recording every exit's outputs; everything else replays those outputs with the code `calibrate` runs
(`sledgehammer.calibration.calibrate_exit_outputs`).

For each selection size (`--sizes`, e.g. 500, 2000 and all pool rows; the first rows of one seeded shuffle of the
pool) and each family (one threshold; per-exit thresholds) it reports the certified setting, its FLOP saving
against the full model on EVAL_DATA, the consistency oracle's saving there (each row at the earliest exit agreeing
with the last exit) and their ratio. Over `--draws` random draws of `--draw-rows` pool rows it counts how often the
certified setting's agreement with the full model on EVAL_DATA met the target.

Usage:
    python scripts/certify_unlabelled.py ARCHIVE DEV_DATA POOL_DATA EVAL_DATA --output F.json [--policy agreement]
        [--target-agreement 0.99] [--delta 0.1] [--sizes 500,2000,all] [--draws 20] [--draw-rows 2000]
        [--seed 13] [--batch-size 32]
"""
import argparse
import json
import os
import sys
import time
from typing import Any, Dict, List, Optional

import torch
from allennlp.models.archival import load_archive

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import sledgehammer  # noqa: E402,F401  (registers the model and readers)
from sledgehammer.calibration import TooFewRowsError, calibrate_exit_outputs  # noqa: E402
from sledgehammer.commands.archive_inputs import read_labelled_instances  # noqa: E402
from sledgehammer.commands.selection_inputs import read_selection_instances  # noqa: E402
from sledgehammer.common.atomic_files import write_bytes_atomically  # noqa: E402
from sledgehammer.evaluation import ORACLE_CONSISTENCY, collect_exit_outputs, compute_tradeoff  # noqa: E402
from sledgehammer.evaluation.exit_outputs import ExitOutputs  # noqa: E402
from sledgehammer.evaluation.tradeoff_rows import setting_row  # noqa: E402
from sledgehammer.modules.exit_policies import ExitPolicy  # noqa: E402

FAMILIES = ("single", "per_exit")


def parse_sizes(text: str) -> List[Optional[int]]:
    """`500,2000,all` -> [500, 2000, None] (None: every pool row)."""
    sizes: List[Optional[int]] = []
    for part in text.split(","):
        part = part.strip()
        if part == "all":
            sizes.append(None)
        elif part.isdigit() and int(part) > 0:
            sizes.append(int(part))
        else:
            raise argparse.ArgumentTypeError(f"--sizes takes positive row counts or 'all', got {part!r}")
    return sizes


def certify(model, dev: ExitOutputs, pool: ExitOutputs, rows: torch.Tensor, evaluation: ExitOutputs,
            policy: ExitPolicy, family: str, args: argparse.Namespace, seed: int) -> Dict[str, Any]:
    """Calibrates on DEV_DATA and the given pool rows as `calibrate --selection-data` does; measures on EVAL_DATA."""
    try:
        calibrated = calibrate_exit_outputs(
            dev.exit_logits, dev.labels, model.exit_layers, policy, args.target_agreement, args.delta, seed=seed,
            selection_logits=pool.exit_logits[rows], per_exit=family == "per_exit", cost=model.cost,
            lengths=dev.lengths, selection_lengths=pool.lengths[rows],
        )
    except TooFewRowsError as error:
        return {"pool_rows": len(rows), "error": str(error)}
    certified = calibrated["policy"]
    row = setting_row(evaluation, certified, calibrated["temperatures"], model.exit_layers, model.cost,
                      "certified", family, full_layers=model.num_encoder_layers)
    selection = calibrated["selection"]
    return {
        "pool_rows": len(rows),
        "selection_rows": selection["selection_rows"],
        "threshold": selection["threshold"],
        "exit_thresholds": selection["exit_thresholds"],
        "p_value": selection["p_value"],
        "selection_disagreements": selection["disagreements"],
        "family_size": selection["family_size"],
        "selection_saving": selection["saving"],
        "outlook": selection["outlook"],
        "most_saving": selection["most_saving"],
        "eval_agreement": row["agreement_with_last_exit"],
        "eval_accuracy": row["accuracy"],
        "eval_saving": 1.0 - row["relative_flops"],
        "eval_exit_fractions": row["exit_fractions"],
        "met": row["agreement_with_last_exit"] >= args.target_agreement,
    }


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("archive")
    parser.add_argument("dev_data", help="labelled rows for the temperatures")
    parser.add_argument("pool_data", help="unlabelled selection text (labels ignored), new to the model")
    parser.add_argument("eval_data", help="labelled rows the certified settings are measured on")
    parser.add_argument("--output", required=True, help="JSON file for the results (written atomically)")
    parser.add_argument("--policy", default="agreement", choices=ExitPolicy.list_available())
    parser.add_argument("--target-agreement", type=float, default=0.99)
    parser.add_argument("--delta", type=float, default=0.1)
    parser.add_argument("--sizes", type=parse_sizes, default=parse_sizes("500,2000,all"))
    parser.add_argument("--draws", type=int, default=20)
    parser.add_argument("--draw-rows", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--batch-size", type=int, default=32)
    args = parser.parse_args(argv)

    started = time.time()
    archive = load_archive(args.archive)
    model = archive.model
    dev = collect_exit_outputs(model, read_labelled_instances(archive, args.dev_data, "DEV_DATA", "temperatures",
                                                              ValueError), batch_size=args.batch_size)
    pool = collect_exit_outputs(model, read_selection_instances(archive, args.pool_data, "POOL_DATA", ValueError),
                                batch_size=args.batch_size)
    evaluation = collect_exit_outputs(model, read_labelled_instances(archive, args.eval_data, "EVAL_DATA", "accuracy",
                                                                     ValueError), batch_size=args.batch_size)
    policy = ExitPolicy.by_name(args.policy)()
    reference = compute_tradeoff(evaluation, [1.0], model.temperatures, model.exit_layers, model.cost,
                                 full_layers=model.num_encoder_layers)
    oracle = next(row for row in reference if row["kind"] == ORACLE_CONSISTENCY)
    full = next(row for row in reference if row["kind"] == "full")
    oracle_saving = 1.0 - oracle["relative_flops"]

    order = torch.randperm(pool.num_rows, generator=torch.Generator().manual_seed(args.seed))
    by_size = []
    for size in args.sizes:
        rows = order[: pool.num_rows if size is None else min(size, pool.num_rows)].sort().values
        for family in FAMILIES:
            result = certify(model, dev, pool, rows, evaluation, policy, family, args, args.seed)
            result.update(size="all" if size is None else size, family=family)
            if "eval_saving" in result:
                result["share_of_oracle_saving"] = result["eval_saving"] / oracle_saving if oracle_saving > 0 else None
            by_size.append(result)
            print(json.dumps({key: result.get(key) for key in ("size", "family", "pool_rows", "threshold",
                                                               "exit_thresholds", "eval_saving", "eval_agreement",
                                                               "share_of_oracle_saving", "error")}))
    draws: Dict[str, List[Dict[str, Any]]] = {family: [] for family in FAMILIES}
    draw_rows = min(args.draw_rows, pool.num_rows)
    for draw in range(args.draws):
        rows = torch.randperm(pool.num_rows, generator=torch.Generator().manual_seed(args.seed + 1000 + draw))
        rows = rows[:draw_rows].sort().values
        for family in FAMILIES:
            result = certify(model, dev, pool, rows, evaluation, policy, family, args, args.seed + draw)
            draws[family].append({key: result.get(key) for key in (
                "threshold", "exit_thresholds", "eval_agreement", "eval_saving", "met", "error")})
    summary = {
        "archive": os.path.abspath(args.archive),
        "dev_data": args.dev_data, "pool_data": args.pool_data, "eval_data": args.eval_data,
        "policy": args.policy, "target_agreement": args.target_agreement, "delta": args.delta, "seed": args.seed,
        "dev_rows": dev.num_rows, "pool_rows": pool.num_rows, "eval_rows": evaluation.num_rows,
        "exit_layers": model.exit_layers,
        "full_model_eval_accuracy": full["accuracy"],
        "oracle_eval_saving": oracle_saving,
        "sizes": by_size,
        "draws": {
            family: {
                "draws": len(results), "draw_rows": draw_rows,
                "met": sum(bool(result["met"]) for result in results),
                "share_met": sum(bool(result["met"]) for result in results) / max(len(results), 1),
                "mean_eval_saving": _mean([result["eval_saving"] for result in results]),
                "results": results,
            }
            for family, results in draws.items()
        },
        "seconds": time.time() - started,
    }
    write_bytes_atomically(args.output, (json.dumps(summary, indent=2) + "\n").encode("utf-8"), make_folder=True)
    for family, found in summary["draws"].items():
        print(f"{family}: target {100 * args.target_agreement:g}% met in {found['met']} of {found['draws']} draws "
              f"of {draw_rows} pool rows ({evaluation.num_rows} evaluation rows)")
    print(f"Wrote {args.output}")
    return 0


def _mean(values: List[Optional[float]]) -> Optional[float]:
    values = [value for value in values if value is not None]
    return sum(values) / len(values) if values else None


if __name__ == "__main__":
    sys.exit(main())
