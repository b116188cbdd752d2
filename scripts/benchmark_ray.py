#!/usr/bin/env python
"""
Corpus prediction on Ray Data against `allennlp predict` in one process, on one input file: rows per second of
`allennlp predict --batch-size N` (a child process, as a user runs it), of `allennlp predict-corpus`'s job with
1 actor x 2 threads and with 2 actors x 1 thread (by default; `--ray-variants`), each the wall clock from start to
the last output file (for the job: from submitting it, actors starting and loading the archive included, to the
summary; Ray itself is started once, before, and its start is recorded apart). The variants run in turn, `--repeats`
times, interleaved; the best and every time are recorded. Every Ray output is compared with `allennlp predict`'s
row for row: identical text, and the same answer and exit. The JSON report is written atomically after every run.

Targets (issue 19): 1 actor within 10 % of the single process (`one_actor_vs_single_process` >= 0.9), and 2 actors x
1 thread at least 0.9 times 1 actor x 2 threads (`two_actors_vs_one`). Needs an idle machine; on a busy one only
the identity of the outputs means anything.

Usage:
    python scripts/benchmark_ray.py --archive ARCHIVE --inputs ROWS.jsonl --output benchmark_ray.json
        [--threshold T] [--batch-size 32] [--repeats 1] [--ray-variants 1x2 2x1] [--work-dir DIR]
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from typing import Any, Dict, List, Optional, Tuple

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from sledgehammer.common.atomic_files import write_bytes_atomically  # noqa: E402
from sledgehammer.on_ray.cluster import ray_connection  # noqa: E402
from sledgehammer.on_ray.corpus_job import run_corpus_job  # noqa: E402
from sledgehammer.on_ray.corpus_output import predictions_file_name  # noqa: E402
from sledgehammer.serving.server_process import LAUNCHER  # noqa: E402

SINGLE_PROCESS = "allennlp_predict"
# What an answer is, per model kind, for the `same_answers` count (the text can differ in a float's last digits).
ANSWER_KEYS = ("label", "exit_layer", "tags", "exit_layers")


def parse_variant(text: str) -> Tuple[int, int]:
    """`"2x1"` as (2 actors, 1 thread each)."""
    try:
        actors, threads = (int(part) for part in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected ACTORSxTHREADS such as 2x1, got {text!r}") from None
    if actors < 1 or threads < 1:
        raise argparse.ArgumentTypeError(f"expected at least 1 actor and 1 thread, got {text!r}")
    return actors, threads


def run_allennlp_predict(archive: str, inputs: str, output: str, batch_size: int, overrides: str) -> float:
    """Seconds of one `allennlp predict` child process (torch's own thread count: every core)."""
    arguments = [*LAUNCHER, "predict", archive, inputs, "--output-file", output, "--batch-size", str(batch_size),
                 "--silent", "--cuda-device", "-1"]
    if overrides:
        arguments += ["--overrides", overrides]
    started = time.perf_counter()
    subprocess.run(arguments, check=True, stdout=subprocess.DEVNULL, timeout=24 * 3600)
    return time.perf_counter() - started


def compare_outputs(reference: List[str], output_file: str) -> Dict[str, Any]:
    """How many of the Ray job's rows are `allennlp predict`'s line for line, and how many give the same answer."""
    with open(output_file, encoding="utf-8") as f:
        rows = [json.loads(line) for line in f if line.strip()]
    identical = same_answers = 0
    for line, row in zip(reference, rows):
        prediction = row["prediction"]
        identical += json.dumps(prediction) == line
        expected = json.loads(line)
        same_answers += all(expected.get(key) == prediction.get(key) for key in ANSWER_KEYS)
    return {"rows": len(rows), "reference_rows": len(reference), "identical_rows": identical,
            "same_answers": same_answers, "all_identical": identical == len(reference) == len(rows)}


def main(argv: Optional[List[str]] = None) -> Dict[str, Any]:
    args = parse_arguments(argv)
    overrides = json.dumps({"threshold": args.threshold}) if args.threshold is not None else ""
    work = args.work_dir or tempfile.mkdtemp(prefix="benchmark_ray-")
    os.makedirs(work, exist_ok=True)
    variants = [f"ray_{actors}x{threads}" for actors, threads in args.ray_variants]
    report: Dict[str, Any] = {
        "protocol": {"archive": args.archive, "inputs": args.inputs, "batch_size": args.batch_size,
                     "threshold": args.threshold, "repeats": args.repeats, "cpu_count": os.cpu_count(),
                     "variants": [SINGLE_PROCESS] + variants},
        "runs": [], "summary": {},
    }

    def record() -> None:
        write_bytes_atomically(args.output, (json.dumps(report, indent=2) + "\n").encode("utf-8"), make_folder=True)

    reference_file = os.path.join(work, "allennlp_predict.jsonl")
    started = time.perf_counter()
    with ray_connection() as ray:
        report["protocol"]["ray_start_seconds"] = time.perf_counter() - started
        report["protocol"]["ray_version"] = ray.__version__
        for repeat in range(args.repeats):
            seconds = run_allennlp_predict(args.archive, args.inputs, reference_file, args.batch_size, overrides)
            with open(reference_file, encoding="utf-8") as f:
                reference = [line.rstrip("\n") for line in f if line.strip()]
            report["runs"].append({"variant": SINGLE_PROCESS, "repeat": repeat, "seconds": seconds,
                                   "rows": len(reference), "rows_per_second": len(reference) / seconds})
            print(f"{SINGLE_PROCESS}: {len(reference) / seconds:.1f} rows/s", flush=True)
            record()
            for name, (actors, threads) in zip(variants, args.ray_variants):
                output_dir = os.path.join(work, name)
                job_started = time.perf_counter()
                summary = run_corpus_job(args.archive, [args.inputs], output_dir, num_actors=actors,
                                         batch_size=args.batch_size, num_threads=threads, overrides=overrides)
                seconds = time.perf_counter() - job_started
                comparison = compare_outputs(reference, os.path.join(output_dir, predictions_file_name(args.inputs)))
                report["runs"].append({"variant": name, "repeat": repeat, "num_actors": actors, "num_threads": threads,
                                       "seconds": seconds, "rows": summary["rows"],
                                       "rows_per_second": summary["rows"] / seconds, "errors": summary["errors"],
                                       "exit_statistics": summary["exit_statistics"], "comparison": comparison})
                print(f"{name}: {summary['rows'] / seconds:.1f} rows/s, {comparison['identical_rows']}/"
                      f"{comparison['reference_rows']} rows identical to allennlp predict's", flush=True)
                record()
    report["summary"] = summarise(report["runs"], variants)
    record()
    return report


def summarise(runs: List[Dict[str, Any]], variants: List[str]) -> Dict[str, Any]:
    """The best rows/s of each variant, the issue's two ratios, and whether every output was identical."""
    best = {name: max(run["rows_per_second"] for run in runs if run["variant"] == name)
            for name in [SINGLE_PROCESS] + variants}
    summary: Dict[str, Any] = {"best_rows_per_second": best,
                               "all_outputs_identical": all(run["comparison"]["all_identical"]
                                                            for run in runs if "comparison" in run)}
    if "ray_1x2" in best:
        summary["one_actor_vs_single_process"] = best["ray_1x2"] / best[SINGLE_PROCESS]
    if "ray_1x2" in best and "ray_2x1" in best:
        summary["two_actors_vs_one"] = best["ray_2x1"] / best["ray_1x2"]
    return summary


def parse_arguments(argv: Optional[List[str]]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    parser.add_argument("--archive", required=True)
    parser.add_argument("--inputs", required=True, help="one JSON-lines file of predictor inputs")
    parser.add_argument("--output", required=True, help="where to write the JSON report")
    parser.add_argument("--threshold", type=float, help="the exit threshold (an override of both)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=1, help="rounds of every variant, interleaved")
    parser.add_argument("--ray-variants", type=parse_variant, nargs="+", default=[(1, 2), (2, 1)],
                        metavar="ACTORSxTHREADS")
    parser.add_argument("--work-dir", help="where the outputs go (a temporary folder by default)")
    args = parser.parse_args(argv)
    if args.repeats < 1 or args.batch_size < 1:
        parser.error("--repeats and --batch-size must be at least 1")
    return args


if __name__ == "__main__":
    main()
