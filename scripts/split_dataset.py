#!/usr/bin/env python
"""
Splits a one-record-per-line data file (TSV, CSV without multi-line fields, JSONL) into train/dev/test files,
deterministically: the data lines are shuffled with `random.Random(seed)` and cut by the given fractions.
A header line, if any, is copied to every part. Files are written atomically with sledgehammer's helper
(`sledgehammer.common.atomic_files`: a `.partial-*.tmp` file renamed into place), which also removes the
stale leftovers of interrupted runs.

Usage:
    python scripts/split_dataset.py FILE --output-dir DIR [--dev 0.1] [--test 0.1] [--seed 13] [--header]

Writes DIR/train.EXT, DIR/dev.EXT, DIR/test.EXT (EXT = FILE's extension) and prints the counts.
"""
import argparse
import os
import random
import sys
from typing import List

from sledgehammer.common.atomic_files import write_bytes_atomically


def split_lines(lines: List[str], dev: float, test: float, seed: int) -> dict:
    """Shuffles `lines` with `seed` and cuts them into {"train", "dev", "test"} by the fractions."""
    shuffled = list(lines)
    random.Random(seed).shuffle(shuffled)
    num_test = round(len(shuffled) * test)
    num_dev = round(len(shuffled) * dev)
    return {
        "test": shuffled[:num_test],
        "dev": shuffled[num_test : num_test + num_dev],
        "train": shuffled[num_test + num_dev :],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("file")
    parser.add_argument("--output-dir", required=True)
    parser.add_argument("--dev", type=float, default=0.1)
    parser.add_argument("--test", type=float, default=0.1)
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--header", action="store_true", help="the first line is a header")
    args = parser.parse_args()
    if not (0 <= args.dev < 1 and 0 <= args.test < 1 and args.dev + args.test < 1):
        print("error: --dev and --test must be fractions in [0, 1) that sum to less than 1", file=sys.stderr)
        return 2
    try:
        with open(args.file, encoding="utf-8") as f:
            lines = [line if line.endswith("\n") else line + "\n" for line in f if line.strip()]
    except OSError as error:
        print(f"error: cannot read {args.file}: {error}", file=sys.stderr)
        return 1
    header = [lines.pop(0)] if args.header and lines else []
    if not lines:
        print(f"error: {args.file} has no data lines", file=sys.stderr)
        return 1
    os.makedirs(args.output_dir, exist_ok=True)
    extension = os.path.splitext(args.file)[1]
    for part, part_lines in split_lines(lines, args.dev, args.test, args.seed).items():
        path = os.path.join(args.output_dir, part + extension)
        write_bytes_atomically(path, "".join(header + part_lines).encode("utf-8"))
        print(f"{part}: {len(part_lines)} lines -> {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
