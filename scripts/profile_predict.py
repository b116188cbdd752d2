#!/usr/bin/env python
"""
Where the time of `allennlp predict` goes, per row, at each batch size and precision: runs AllenNLP's own prediction
loop (the `_PredictManager` that `allennlp predict ARCHIVE INPUT --batch-size N` runs, with the plugin's input
checks) over a JSONL file, with a clock around each stage of it:

| stage | what runs |
|---|---|
| `read` | `predictor.load_line`: JSON parsing and the input checks of each line |
| `instances` | `_batch_json_to_instances` (tokenising, building each instance) and `apply_token_indexers` |
| `indexing` | `Batch.index_instances` and `Batch.as_tensor_dict` (indexing and padding) |
| `model` | the model's `forward` |
| `human_readable` | the model's `make_output_human_readable` |
| `conversion` | the rest of `forward_on_instances` and `predict_batch_instance`: tensors to per-row lists, kept keys |
| `dump` | `predictor.dump_line` (JSON of each output line) |
| `other` | everything else of the loop: reading the file, echoing each input as JSON, writing the output |

Each clock is exclusive (a stage's time excludes the stages it calls), so the stages add up to the whole loop. The
precisions (fp32 and int8, `quantize`) and batch sizes are run in turn, `--repeats` times, after one warm-up pass
each, all on the same rows with the same threads. `--variants` names precision and threshold pairs instead
(`fp32=1.0,fp32=0.9,int8=0.88`: the full model beside early exit, so end-to-end and model-only speedups come from
one run). Writes JSON (atomically) and prints a table.

Usage:
    python scripts/profile_predict.py ARCHIVE INPUT.jsonl --output profile.json [--threshold 0.9]
        [--batch-sizes 1,32] [--precisions fp32,int8 | --variants fp32=1.0,fp32=0.9,int8=0.9] [--num-threads 2]
        [--max-rows N] [--repeats 3]
"""
import argparse
import contextlib
import json
import os
import sys
import tempfile
import time
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple

import torch
from allennlp.data import Batch
from allennlp.models.archival import load_archive
from allennlp.predictors import Predictor

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import sledgehammer  # noqa: E402,F401  (registers the models and predictors)
from sledgehammer.commands.predict_input import CheckedPredictManager  # noqa: E402
from sledgehammer.common.atomic_files import write_bytes_atomically  # noqa: E402

STAGES = ("read", "instances", "indexing", "model", "human_readable", "conversion", "dump", "other")


class StageClock:
    """Exclusive wall-clock seconds per stage: entering a stage pauses the one it is called from."""

    def __init__(self) -> None:
        self.seconds = {stage: 0.0 for stage in STAGES}
        self._stack: List[str] = []
        self._since = 0.0

    @contextlib.contextmanager
    def stage(self, name: str) -> Iterator[None]:
        now = time.perf_counter()
        if self._stack:
            self.seconds[self._stack[-1]] += now - self._since
        self._stack.append(name)
        self._since = now
        try:
            yield
        finally:
            now = time.perf_counter()
            self.seconds[self._stack.pop()] += now - self._since
            self._since = now

    def timed(self, name: str, function: Callable) -> Callable:
        def run(*args, **kwargs):
            with self.stage(name):
                return function(*args, **kwargs)

        return run


@contextlib.contextmanager
def instrumented(predictor: Predictor, clock: StageClock) -> Iterator[None]:
    """Wraps the stages of `predictor`'s prediction loop with `clock` (instance attributes; `Batch`'s methods)."""
    model, reader = predictor._model, predictor._dataset_reader
    wrapped = [
        (predictor, "load_line", "read"), (predictor, "_batch_json_to_instances", "instances"),
        (reader, "apply_token_indexers", "instances"), (predictor, "predict_batch_instance", "conversion"),
        (predictor, "predict_instance", "conversion"), (predictor, "dump_line", "dump"),
        (model, "forward_on_instances", "conversion"), (model, "forward", "model"),
        (model, "make_output_human_readable", "human_readable"),
    ]
    batch_methods = {name: getattr(Batch, name) for name in ("index_instances", "as_tensor_dict")}
    for owner, attribute, stage in wrapped:
        setattr(owner, attribute, clock.timed(stage, getattr(owner, attribute)))
    for name, method in batch_methods.items():
        setattr(Batch, name, clock.timed("indexing", method))
    try:
        yield
    finally:
        for owner, attribute, _ in wrapped:
            delattr(owner, attribute)
        for name, method in batch_methods.items():
            setattr(Batch, name, method)


def run_predict(predictor: Predictor, input_file: str, output_file: str, batch_size: int,
                clock: StageClock = None) -> None:
    """AllenNLP's prediction loop over `input_file`, as `allennlp predict` runs it; timed by `clock` when given."""
    manager = CheckedPredictManager(predictor, input_file, output_file, batch_size, print_to_console=False,
                                    has_dataset_reader=False)
    if clock is None:
        manager.run()
        return
    with instrumented(predictor, clock), clock.stage("other"):
        manager.run()


def profile(predictors: Dict[Tuple[str, Optional[float]], Predictor], input_file: str, num_rows: int,
            batch_sizes: List[int], repeats: int, folder: str) -> List[Dict[str, Any]]:
    """
    Seconds per row of each stage for each variant (a precision and threshold pair) and batch size (see the module
    docstring).
    """
    clocks = {(variant, size): StageClock() for size in batch_sizes for variant in predictors}
    warmup = os.path.join(folder, "warmup.jsonl")
    with open(input_file, encoding="utf-8-sig") as lines, open(warmup, "w", encoding="utf-8") as out:
        out.writelines(line for _, line in zip(range(2 * max(batch_sizes)), lines))
    for (variant, size) in clocks:
        run_predict(predictors[variant], warmup, os.path.join(folder, "warmup.out"), size)
    for _ in range(repeats):
        for number, ((variant, size), clock) in enumerate(clocks.items()):
            run_predict(predictors[variant], input_file, os.path.join(folder, f"{number}.out"), size, clock)
    results = []
    for ((precision, threshold), size), clock in clocks.items():
        per_row = {stage: seconds / (num_rows * repeats) for stage, seconds in clock.seconds.items()}
        total = sum(per_row.values())
        results.append({
            "precision": precision, "threshold": threshold, "batch_size": size, "seconds_per_row": per_row,
            "total_seconds_per_row": total,
            "share": {stage: seconds / total if total > 0 else None for stage, seconds in per_row.items()},
        })
    return results


def format_table(results: List[Dict[str, Any]]) -> str:
    header = ["precision", "threshold", "batch"] + [f"{stage} ms" for stage in STAGES] + ["total ms/row"]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    for result in results:
        threshold = "archive's" if result["threshold"] is None else f"{result['threshold']:g}"
        cells = [result["precision"], threshold, str(result["batch_size"])]
        cells += [f"{1000 * result['seconds_per_row'][stage]:.3f}" for stage in STAGES]
        lines.append("| " + " | ".join(cells + [f"{1000 * result['total_seconds_per_row']:.3f}"]) + " |")
    return "\n".join(lines)


def parse_list(text: str, option: str, convert: Callable = str) -> List[Any]:
    try:
        values = [convert(item.strip()) for item in text.split(",") if item.strip()]
    except ValueError:
        raise SystemExit(f"{option}: {text!r} is not a comma-separated list") from None
    if not values:
        raise SystemExit(f"{option} is empty")
    return values


def parse_variants(text: str) -> List[Tuple[str, float]]:
    """`fp32=1.0,int8=0.9` as `[("fp32", 1.0), ("int8", 0.9)]`; an error naming the item otherwise."""
    variants = []
    for item in parse_list(text, "--variants"):
        precision, _, threshold = item.partition("=")
        try:
            variants.append((precision.strip(), float(threshold)))
        except ValueError:
            raise SystemExit(f"--variants: {item!r} is not PRECISION=THRESHOLD (e.g. fp32=0.9)") from None
    return variants


def main(argv: List[str] = None) -> Dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("archive", metavar="ARCHIVE")
    parser.add_argument("input", metavar="INPUT", help="JSON lines as `allennlp predict` reads them")
    parser.add_argument("--output", required=True, metavar="PATH.json")
    parser.add_argument("--threshold", type=float, default=None, help="the exit threshold (default: the archive's)")
    parser.add_argument("--batch-sizes", default="1,32")
    parser.add_argument("--precisions", default="fp32,int8")
    parser.add_argument("--variants", default=None, metavar="P=T,...",
                        help="precision and threshold pairs to profile, in place of --precisions and --threshold")
    parser.add_argument("--num-threads", type=int, default=2)
    parser.add_argument("--max-rows", type=int, default=None, help="profile the first N lines only")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    batch_sizes = parse_list(args.batch_sizes, "--batch-sizes", int)
    if args.variants is not None:
        variants = parse_variants(args.variants)
    else:
        variants = [(precision, args.threshold) for precision in parse_list(args.precisions, "--precisions")]
    if args.repeats < 1 or min(batch_sizes) < 1 or args.num_threads < 1:
        raise SystemExit("--repeats, --batch-sizes and --num-threads must be at least 1")
    torch.set_num_threads(args.num_threads)
    predictors = {}
    for precision, threshold in variants:
        overrides = {"quantize": precision, **({} if threshold is None else {"threshold": threshold})}
        predictors[(precision, threshold)] = Predictor.from_archive(load_archive(args.archive, overrides=overrides))
    with tempfile.TemporaryDirectory() as folder:
        rows = os.path.join(folder, "input.jsonl")
        with open(args.input, encoding="utf-8-sig") as lines, open(rows, "w", encoding="utf-8") as out:
            kept = [line for line in lines if line.strip()][: args.max_rows]
            out.writelines(kept)
        if not kept:
            raise SystemExit(f"{args.input} has no input lines")
        results = profile(predictors, rows, len(kept), batch_sizes, args.repeats, folder)
    report = {
        "archive": os.path.abspath(args.archive), "input": os.path.abspath(args.input), "num_rows": len(kept),
        "threshold": args.threshold, "repeats": args.repeats, "num_threads": torch.get_num_threads(),
        "torch_version": torch.__version__, "unit": "seconds per row", "stages": list(STAGES), "results": results,
    }
    print(format_table(results))
    write_bytes_atomically(args.output, (json.dumps(report, indent=2) + "\n").encode("utf-8"))
    print(f"Wrote {args.output}")
    return report


if __name__ == "__main__":
    main()
