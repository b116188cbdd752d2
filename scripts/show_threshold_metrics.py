#!/usr/bin/env python
"""
Tabulates `allennlp evaluate --output-file` metrics of a sledgehammer_classifier run at several thresholds.

Usage: python scripts/show_threshold_metrics.py THRESHOLD=METRICS.json [THRESHOLD=METRICS.json ...]
"""
import json
import re
import sys


def main() -> int:
    if len(sys.argv) < 2:
        print(__doc__.strip().splitlines()[-1], file=sys.stderr)
        return 2
    rows = []
    for argument in sys.argv[1:]:
        threshold, _, path = argument.partition("=")
        with open(path, encoding="utf-8") as f:
            rows.append((threshold, json.load(f)))
    layers = sorted(
        {int(m.group(1)) for _, metrics in rows for key in metrics if (m := re.match(r"exit_fraction_(\d+)$", key))}
    )
    header = ["threshold", "accuracy", "layers run", "relative FLOPs"] + [f"at exit {layer}" for layer in layers]
    print("| " + " | ".join(header) + " |")
    print("|" + "---:|" * len(header))
    for threshold, metrics in rows:
        cells = [
            threshold,
            f"{100 * metrics['accuracy']:.2f} %",
            f"{metrics['layers_run']:.2f}",
            f"{metrics['relative_flops']:.3f}",
        ] + [f"{100 * metrics[f'exit_fraction_{layer}']:.1f} %" for layer in layers]
        print("| " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
