#!/usr/bin/env python
"""
Prints `allennlp predict` output of a sledgehammer_classifier next to its input, one line per sentence:
label, confidence, the exit layer that answered and the layers run.

Usage: python scripts/show_predictions.py INPUT.jsonl PREDICTIONS.jsonl
"""
import json
import sys


def main() -> int:
    if len(sys.argv) != 3:
        print(__doc__.strip().splitlines()[-1], file=sys.stderr)
        return 2
    with open(sys.argv[1], encoding="utf-8") as inputs, open(sys.argv[2], encoding="utf-8") as outputs:
        records = [json.loads(line) for line in inputs if line.strip()]
        predictions = [json.loads(line) for line in outputs if line.strip()]
    if len(records) != len(predictions):
        print(f"error: {len(records)} inputs but {len(predictions)} predictions", file=sys.stderr)
        return 1
    print("| label | confidence | exit layer | layers run | sentence |")
    print("|---|---:|---:|---:|---|")
    for record, prediction in zip(records, predictions):
        text = record.get("sentence") or record.get("text") or f"{record.get('premise')} / {record.get('hypothesis')}"
        print(
            f"| {prediction['label']} | {prediction['confidence']:.3f} | {prediction['exit_layer']} "
            f"| {prediction['layers_run']} | {text} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
