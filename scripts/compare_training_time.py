#!/usr/bin/env python
"""
Measures how much training time the extra exits cost: trains the same configuration with an exit on every
layer and with one exit on the last layer (the ordinary classifier), alternating the two `allennlp train`
runs so that drift in the machine's speed affects both alike, and reports the ratio of their
`training_duration` (AllenNLP's own measurement of the training loop, in `metrics.json`).

Both variants read the first `--instances` rows of the training data, train one epoch without validation
(so only training is timed) and use the same seed and batch size.

Usage:
    python scripts/compare_training_time.py TRAIN_DATA --output-dir DIR [--config training_config/sst.jsonnet]
        [--instances 3200] [--repeats 2] [--num-threads 2]

Writes DIR/training_time.json (every run's duration, the medians and the ratio) and prints a summary.
"""
import argparse
import datetime
import json
import os
import statistics
import subprocess
import sys
import tempfile
from typing import Dict, List

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from sledgehammer.common.atomic_files import write_bytes_atomically  # noqa: E402

VARIANTS = {
    # An exit on every layer (the configs' default) and a single exit on the last layer.
    "every_layer": {},
    "last_layer_only": {"model.exit_layers": [-1]},
}


def parse_duration(text: str) -> float:
    """Seconds in AllenNLP's `training_duration` ("H:MM:SS.ffffff", possibly "N days, H:MM:SS")."""
    days = 0
    if "day" in text:
        day_part, text = text.split(",", 1)
        days = int(day_part.split()[0])
    hours, minutes, seconds = text.strip().split(":")
    return datetime.timedelta(days=days, hours=int(hours), minutes=int(minutes), seconds=float(seconds)).total_seconds()


def train_once(config: str, train_data: str, overrides: Dict, instances: int, num_threads: int,
               serialization_dir: str) -> float:
    """Runs `allennlp train` and returns its `training_duration` in seconds."""
    overrides = dict(overrides)
    overrides.update({
        "dataset_reader.max_instances": instances,
        "validation_data_path": None,
        "trainer.validation_metric": "-loss",
        "trainer.num_epochs": 1,
    })
    environment = dict(os.environ, TRAIN_DATA=train_data, OMP_NUM_THREADS=str(num_threads),
                       MKL_NUM_THREADS=str(num_threads), ALLENNLP_LOG_LEVEL="WARNING")
    command = [os.path.join(os.path.dirname(sys.executable), "allennlp"), "train", config,
               "-s", serialization_dir, "--include-package", "sledgehammer", "--overrides", json.dumps(overrides)]
    completed = subprocess.run(command, env=environment, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if completed.returncode != 0:
        sys.exit(f"allennlp train failed ({' '.join(command)}):\n{completed.stderr[-3000:]}")
    with open(os.path.join(serialization_dir, "metrics.json"), encoding="utf-8") as f:
        return parse_duration(json.load(f)["training_duration"])


def resolve_last_layer(config: str, train_data: str) -> int:
    """The 0-based index of the encoder's last layer, from the config's transformer model."""
    from allennlp.common import Params
    from transformers import AutoConfig

    import sledgehammer  # noqa: F401  (sets the unset config variables to "")

    os.environ["TRAIN_DATA"] = train_data
    params = Params.from_file(config)
    encoder = AutoConfig.from_pretrained(params["model"]["transformer_model"])
    return encoder.num_hidden_layers - 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("train_data")
    parser.add_argument("--output-dir", required=True)
    parser.add_argument("--config", default="training_config/sst.jsonnet")
    parser.add_argument("--instances", type=int, default=3200)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--num-threads", type=int, default=2)
    parser.add_argument("--exit-targets", choices=("gold", "distill", "consistency"), default="gold",
                        help="what the every-layer model's lower exits train toward (model.exit_targets); the "
                        "single-exit model has no lower exits")
    args = parser.parse_args()
    if args.instances < 1 or args.repeats < 1 or args.num_threads < 1:
        parser.error("--instances, --repeats and --num-threads must be at least 1")
    if not os.path.isfile(args.train_data):
        parser.error(f"TRAIN_DATA {args.train_data} is not a file")

    last_layer = resolve_last_layer(args.config, args.train_data)
    variants = {name: {key: ([last_layer] if value == [-1] else value) for key, value in overrides.items()}
                for name, overrides in VARIANTS.items()}
    variants["every_layer"]["model.exit_targets"] = args.exit_targets
    durations: Dict[str, List[float]] = {name: [] for name in variants}
    names = list(variants)
    with tempfile.TemporaryDirectory(prefix="training-time-") as scratch:
        for repeat in range(args.repeats):
            # A B, then B A, ...: each variant runs first as often as the other.
            order = names if repeat % 2 == 0 else names[::-1]
            for name in order:
                seconds = train_once(args.config, args.train_data, variants[name], args.instances,
                                     args.num_threads, os.path.join(scratch, f"{name}-{repeat}"))
                durations[name].append(seconds)
                print(f"repeat {repeat + 1}/{args.repeats} {name}: {seconds:.1f} s", flush=True)

    medians = {name: statistics.median(values) for name, values in durations.items()}
    ratio = medians["every_layer"] / medians["last_layer_only"]
    report = {
        "config": args.config,
        "train_data": args.train_data,
        "instances": args.instances,
        "epochs": 1,
        "num_threads": args.num_threads,
        "exit_layers": {name: overrides.get("model.exit_layers", "every layer") for name, overrides in variants.items()},
        "exit_targets_of_every_layer": args.exit_targets,
        "training_duration_seconds": durations,
        "median_seconds": medians,
        "ratio_every_layer_over_last_layer_only": ratio,
        "within_5_percent": ratio <= 1.05,
    }
    path = os.path.join(args.output_dir, "training_time.json")
    write_bytes_atomically(path, (json.dumps(report, indent=2) + "\n").encode("utf-8"), make_folder=True)
    print(f"median training time: every layer {medians['every_layer']:.1f} s, last layer only "
          f"{medians['last_layer_only']:.1f} s, ratio {ratio:.3f} ({'within' if ratio <= 1.05 else 'over'} 5 %)")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
