#!/usr/bin/env python
"""
Prints the per-exit accuracies in a metrics JSON file written by `allennlp evaluate --output-file`
or `allennlp train` (metrics.json), as a table.

Usage: python scripts/show_exit_accuracies.py METRICS.json [--prefix test_]
"""
import argparse
import json
import re
import sys


def exit_accuracies(metrics: dict, prefix: str, metric: str = "accuracy") -> dict:
    """
    {layer: value} for every `<prefix><metric>_exit_<layer>` key, ordered by layer (`metric` is e.g.
    `"f1-measure-overall"` for a tagger's span F1).
    """
    pattern = re.compile(rf"^{re.escape(prefix)}{re.escape(metric)}_exit_(\d+)$")
    found = {int(m.group(1)): value for key, value in metrics.items() if (m := pattern.match(key))}
    return dict(sorted(found.items()))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("metrics_file")
    parser.add_argument("--prefix", default="", help='key prefix, e.g. "test_" or "best_validation_"')
    args = parser.parse_args()
    try:
        with open(args.metrics_file, encoding="utf-8") as f:
            metrics = json.load(f)
    except (OSError, json.JSONDecodeError) as error:
        print(f"error: cannot read metrics from {args.metrics_file}: {error}", file=sys.stderr)
        return 1
    accuracies = exit_accuracies(metrics, args.prefix)
    if not accuracies:
        print(f"error: {args.metrics_file} has no {args.prefix}accuracy_exit_<layer> keys", file=sys.stderr)
        return 1
    print("| exit layer | layers run | accuracy |")
    print("|---:|---:|---:|")
    for layer, accuracy in accuracies.items():
        print(f"| {layer} | {layer + 1} | {100 * accuracy:.2f} % |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
