"""
The `predict-corpus` subcommand runs an early-exit archive over a corpus on Ray Data: a pool of actors, each with
its own copy of the model, answers the rows of one or more files, and the job ends with the exit statistics of
the whole corpus (see `docs/ray.md`).

    allennlp predict-corpus ARCHIVE INPUT [INPUT ...] --output-dir DIR [--num-actors 1] [--batch-size 32]
                            [--num-threads N] [--min-fill SHARE] [--max-restarts 3] [--address ADDRESS]
                            [--cuda-device D] [--overrides JSON] [--include-package PACKAGE]
"""
import argparse
import sys
from typing import Any, Dict

from allennlp.commands.subcommand import Subcommand

from sledgehammer.commands.archive_inputs import CommandInputError, add_model_run_arguments, reporting_input_errors
from sledgehammer.commands.ray_arguments import add_ray_arguments

COMMAND = "predict-corpus"


@Subcommand.register(COMMAND)
class PredictCorpus(Subcommand):
    """
    Runs an early-exit archive over JSON-lines, CSV, TSV or Parquet files with Ray Data; writes, for each input
    file, every row with what `allennlp predict` writes for it, the rows that could not be read, and the corpus'
    exit statistics.
    """

    def add_subparser(self, parser: argparse._SubParsersAction) -> argparse.ArgumentParser:
        description = """Predict a corpus with a sledgehammer_classifier or sledgehammer_tagger archive on Ray Data.
        Each actor loads the archive once and answers batches of rows with the predictor, as `allennlp predict`
        does; DIR receives NAME.predictions.jsonl for each input file (each line: the file, line, input and
        prediction), errors.jsonl (rows that could not be used, with their file and line) and exit_statistics.json
        (rows per exit, mean layers, relative FLOPs). Without --address Ray starts on this machine, bound to
        127.0.0.1. See docs/ray.md."""
        subparser = parser.add_parser(self.name, description=description,
                                      help="Predict a corpus with an early-exit archive on Ray Data.")
        subparser.add_argument("archive_file", metavar="ARCHIVE", help="path to a model.tar.gz archive")
        subparser.add_argument("inputs", metavar="INPUT", nargs="+",
                               help="input files: .jsonl (the predictor's JSON, a line each), .csv or .tsv with a "
                               "header, .parquet; optionally compressed")
        subparser.add_argument("--output-dir", required=True, metavar="DIR", help="folder for the output files")
        subparser.add_argument("--num-actors", type=int, default=1, metavar="N",
                               help="actors, each with its own copy of the model")
        subparser.add_argument("--min-fill", type=float, default=None, metavar="SHARE",
                               help="group each actor's rows by length with the server's batching rule, down to this "
                               "share of real (unpadded) length; without it, batches are allennlp predict's")
        subparser.add_argument("--max-restarts", type=int, default=3, metavar="N",
                               help="how often an actor that died is restarted and its batches retried")
        add_ray_arguments(subparser, "actor")
        add_model_run_arguments(subparser)
        subparser.set_defaults(func=predict_corpus_from_args)
        return subparser


def predict_corpus_from_args(args: argparse.Namespace) -> None:
    """Runs the job and prints its summary; input problems end the program with status 2, rows that could not be
    used with status 1 (every other row is written)."""
    from sledgehammer.on_ray.corpus_job import run_corpus_job

    with reporting_input_errors(COMMAND):
        if args.cuda_device != -1:
            raise CommandInputError("--cuda-device: predict-corpus runs its actors on CPUs (-1) only for now")
        summary = run_corpus_job(
            args.archive_file,
            args.inputs,
            args.output_dir,
            num_actors=args.num_actors,
            batch_size=args.batch_size,
            num_threads=args.num_threads,
            overrides=args.overrides,
            address=args.address,
            min_fill=args.min_fill,
            max_restarts=args.max_restarts,
        )
    print(format_summary(summary, args.output_dir))
    if summary["errors"]:
        for error in summary.get("first_errors", []):
            print(f"allennlp {COMMAND}: {error}", file=sys.stderr)
        print(f"allennlp {COMMAND}: {summary['errors']} rows could not be used; all are in "
              f"{args.output_dir}/errors.jsonl", file=sys.stderr)
        sys.exit(1)


def format_summary(summary: Dict[str, Any], output_dir: str) -> str:
    """The job's summary as printed: rows and errors, rows per exit, mean layers and relative FLOPs."""
    lines = [f"{summary['rows']} rows answered, {summary['errors']} not usable, in {summary['seconds']:.1f} s "
             f"({summary['rows'] / max(summary['seconds'], 1e-9):.1f} rows/s); outputs in {output_dir}"]
    statistics = summary["exit_statistics"]
    if statistics:
        counted = statistics["counted"]
        for layer, count in statistics["exit_counts"].items():
            lines.append(f"  exit at layer {layer}: {count} ({count / counted:.1%})")
        lines.append(f"  mean layers run {statistics['layers_run']:.3f} (relative {statistics['relative_layers']:.3f}), "
                     f"relative FLOPs {statistics['relative_flops']:.3f}")
    return "\n".join(lines)
