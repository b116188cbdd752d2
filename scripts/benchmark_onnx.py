#!/usr/bin/env python
"""
The early-exit model against the runtime a user would pick instead: ONNX Runtime running the full model (what
`plain_forward_logits` computes: every kept encoder layer and the last exit head), in fp32 and in ONNX Runtime's
dynamic int8, beside the early-exit model in PyTorch fp32 and int8 (`quantize: int8`) at a threshold, and PyTorch's
own full model, the reference of every speedup. Timed interleaved batch by batch (`time_interleaved`) on the same
rows and the same threads (`torch.set_num_threads`, ONNX Runtime's `intra_op_num_threads`), at batch size 1 and
`--batch-size`; accuracy from the same calls (on the labelled DATA). The exported graph is checked to give PyTorch's
logits (within `--tolerance`, relative to their largest magnitude); the script exits with status 1 when it does not.

With `--per-layer`, the early-exit model also runs its own exit loop on ONNX Runtime: the embeddings and each group of
layers between exits as their own session (`sledgehammer.evaluation.onnx_layers`), fp32 and int8, rows leaving the
batch as they answer: does early exit close the gap to ONNX Runtime's full model when its layers run there too?

Needs the `bench` extra (onnxruntime, onnx). Classifiers only.

Usage:
    python scripts/benchmark_onnx.py ARCHIVE DATA --output results.json [--threshold T] [--int8-threshold T]
        [--batch-size 32] [--num-threads 2] [--max-rows N] [--per-layer] [--tolerance 1e-3] [--keep-graphs DIR]
"""
import argparse
import contextlib
import json
import os
import sys
import tempfile
from functools import partial
from typing import Any, Dict, List, Optional

import numpy
import torch
from allennlp.models.archival import load_archive

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from sledgehammer.commands.archive_inputs import read_labelled_instances  # noqa: E402
from sledgehammer.common.atomic_files import write_bytes_atomically  # noqa: E402
from sledgehammer.evaluation import onnx_runtime as ort  # noqa: E402
from sledgehammer.evaluation.timing import TimedVariant, build_batches, time_interleaved  # noqa: E402
from sledgehammer.models import EarlyExitClassifier  # noqa: E402

REFERENCE = "pytorch_fp32_full"
DESCRIPTIONS = {
    REFERENCE: "PyTorch fp32, full model (plain_forward_logits)",
    "pytorch_fp32_early_exit": "PyTorch fp32, early exit at --threshold",
    "pytorch_int8_full": "PyTorch dynamic int8 (quantize: int8), full model",
    "pytorch_int8_early_exit": "PyTorch dynamic int8 (quantize: int8, its calibration), early exit at --int8-threshold",
    "ort_fp32_full": "ONNX Runtime fp32, full model",
    "ort_int8_full": "ONNX Runtime dynamic int8 (quantize_dynamic, QInt8 weights per channel, as PyTorch's int8 "
                     "here), full model",
    "ort_int8_per_tensor_full": "ONNX Runtime dynamic int8 with its default, one scale per weight matrix, full model",
    "ort_fp32_layers_early_exit": "--per-layer: the model's exit loop on ONNX Runtime fp32 layer groups, --threshold",
    "ort_int8_layers_early_exit": "--per-layer: the same on ONNX Runtime int8 layer groups (fp32 calibration), "
                                  "--int8-threshold",
}
# The variants whose logits are compared with PyTorch fp32's full model.
COMPARED_LOGITS = ("ort_fp32_full", "ort_int8_full", "ort_int8_per_tensor_full", "pytorch_int8_full")


def predictions(output: Any) -> numpy.ndarray:
    """Answer indices of one call's output: an early-exit output dictionary, logits as a tensor or a numpy array."""
    if isinstance(output, dict):
        output = output["probs"]
    return numpy.asarray(output.detach().numpy() if isinstance(output, torch.Tensor) else output).argmax(axis=-1)


def logits_of(output: Any) -> Optional[numpy.ndarray]:
    if isinstance(output, torch.Tensor):
        return output.detach().numpy()
    return output if isinstance(output, numpy.ndarray) else None


@contextlib.contextmanager
def early_exit(model: EarlyExitClassifier, threshold: Optional[float], runner: Optional[torch.nn.Module] = None):
    """The model at `threshold`, on `runner` (an ONNX Runtime layer-group runner) when given."""
    with model.settings(threshold=threshold), (model.using_encoder(runner) if runner else contextlib.nullcontext()):
        yield


def timed_variants(models: Dict[str, EarlyExitClassifier], sessions: Dict[str, Any], runners: Dict[str, Any],
                   thresholds: Dict[str, Optional[float]]) -> Dict[str, TimedVariant]:
    fp32, int8 = models["fp32"], models["int8"]
    variants = {
        REFERENCE: TimedVariant("torch", contextlib.nullcontext, lambda batch: fp32.plain_forward_logits(batch["tokens"])),
        "pytorch_fp32_early_exit": TimedVariant("torch", partial(early_exit, fp32, thresholds["fp32"]),
                                                lambda batch: fp32(tokens=batch["tokens"])),
        "pytorch_int8_full": TimedVariant("torch", contextlib.nullcontext,
                                          lambda batch: int8.plain_forward_logits(batch["tokens"])),
        "pytorch_int8_early_exit": TimedVariant("torch", partial(early_exit, int8, thresholds["int8"]),
                                                lambda batch: int8(tokens=batch["tokens"])),
    }
    for precision, session in sessions.items():
        variants[f"ort_{precision}_full"] = TimedVariant(f"ort_{precision}", contextlib.nullcontext,
                                                         partial(ort.run_session, session))
    for precision, runner in runners.items():
        variants[f"ort_{precision}_layers_early_exit"] = TimedVariant(
            "torch", partial(early_exit, fp32, thresholds[precision], runner), lambda batch: fp32(tokens=batch["tokens"])
        )
    return variants


def measure(variants: Dict[str, TimedVariant], models, sessions, instances, batch_size: int) -> Dict[str, Any]:
    """Seconds per row, accuracy and logits of every variant at one batch size, timed interleaved."""
    batches = {"torch": build_batches(models["fp32"], instances, batch_size, -1, fields=("tokens", "label"))}
    for precision, session in sessions.items():
        batches[f"ort_{precision}"] = [ort.full_model_feed(session, batch["tokens"]) for batch in batches["torch"]]
    answers: Dict[str, Dict[int, numpy.ndarray]] = {name: {} for name in variants}
    logits: Dict[str, Dict[int, numpy.ndarray]] = {name: {} for name in variants}

    def record(name: str, number: int, output: Any) -> None:
        answers[name][number] = predictions(output)
        if logits_of(output) is not None:
            logits[name][number] = logits_of(output)

    totals = time_interleaved(variants, batches, description=f"batch size {batch_size}", on_output=record)
    labels = numpy.concatenate([batch["label"].numpy() for batch in batches["torch"]])
    results = {}
    for name, total in totals.items():
        answered = numpy.concatenate([answers[name][number] for number in sorted(answers[name])])
        results[name] = {"seconds_per_row": total / len(instances), "accuracy": float((answered == labels).mean())}
    for name, result in results.items():
        result["speedup"] = results[REFERENCE]["seconds_per_row"] / result["seconds_per_row"]
    reference = logits[REFERENCE]
    differences = {name: max(float(numpy.abs(logits[name][n] - reference[n]).max()) for n in reference)
                   for name in COMPARED_LOGITS if name in logits and logits[name]}
    scale = max(float(numpy.abs(each).max()) for each in reference.values())
    return {"results": results, "differences": differences, "scale": scale}


def main(argv: List[str] = None) -> Dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("archive", metavar="ARCHIVE")
    parser.add_argument("data", metavar="DATA", help="labelled data the archive's validation reader reads")
    parser.add_argument("--output", required=True, metavar="PATH.json")
    parser.add_argument("--threshold", type=float, help="early-exit threshold in fp32 (default: the archive's)")
    parser.add_argument("--int8-threshold", type=float, help="in int8 (default: --threshold, else the archive's)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--num-threads", type=int, default=2)
    parser.add_argument("--max-rows", type=int, help="the first N rows of DATA only")
    parser.add_argument("--per-layer", action="store_true", help="also the exit loop on ONNX Runtime layer groups")
    parser.add_argument("--tolerance", type=float, default=1e-3)
    parser.add_argument("--keep-graphs", metavar="DIR", help="write the ONNX files here (default: a temporary folder)")
    args = parser.parse_args(argv)
    if args.batch_size < 1 or args.num_threads < 1:
        raise SystemExit("--batch-size and --num-threads must be at least 1")
    torch.set_num_threads(args.num_threads)
    int8_threshold = args.threshold if args.int8_threshold is None else args.int8_threshold
    archive = load_archive(args.archive)
    models = {"fp32": archive.model, "int8": load_archive(args.archive, overrides={"quantize": "int8"}).model}
    if not isinstance(models["fp32"], EarlyExitClassifier):
        raise SystemExit(f"{args.archive} holds a {type(models['fp32']).__name__}; this benchmark is for classifiers")
    for model in models.values():
        model.eval()
    thresholds = {"fp32": args.threshold, "int8": int8_threshold}
    instances = read_labelled_instances(archive, args.data, "DATA", purpose="accuracy")[: args.max_rows]
    with contextlib.ExitStack() as stack:
        folder = args.keep_graphs or stack.enter_context(tempfile.TemporaryDirectory())
        os.makedirs(folder, exist_ok=True)
        example = build_batches(models["fp32"], instances[:2], 2, -1)[0]["tokens"]
        fp32_graph = ort.export_full_model(models["fp32"], example, os.path.join(folder, "full.onnx"))
        int8_graph = ort.quantize_graph(fp32_graph, os.path.join(folder, "full_int8.onnx"))
        per_tensor_graph = ort.quantize_graph(fp32_graph, os.path.join(folder, "full_int8_per_tensor.onnx"),
                                              per_channel=False)
        sessions = {"fp32": ort.make_session(fp32_graph, args.num_threads),
                    "int8": ort.make_session(int8_graph, args.num_threads),
                    "int8_per_tensor": ort.make_session(per_tensor_graph, args.num_threads)}
        runners = {}
        if args.per_layer:
            from sledgehammer.evaluation.onnx_layers import export_layer_groups

            runners = {precision: export_layer_groups(models["fp32"], example, folder, args.num_threads,
                                                      int8=precision == "int8") for precision in ("fp32", "int8")}
        variants = timed_variants(models, sessions, runners, thresholds)
        measured = {suffix: measure(variants, models, sessions, instances, size)
                    for suffix, size in (("b1", 1), ("bN", args.batch_size))}
    differences = {name: max(measured[suffix]["differences"][name] for suffix in measured) for name in COMPARED_LOGITS}
    scale = max(1.0, max(measured[suffix]["scale"] for suffix in measured))
    matches = differences["ort_fp32_full"] <= args.tolerance * scale
    report = {
        "archive": os.path.abspath(args.archive), "data": os.path.abspath(args.data), "num_rows": len(instances),
        "num_threads": torch.get_num_threads(), "torch_version": torch.__version__,
        "onnxruntime_version": ort.runtime_version(), "opset": ort.OPSET, "unit": "seconds per row",
        "batch_sizes": {"b1": 1, "bN": args.batch_size}, "thresholds": thresholds,
        "temperatures": {precision: model.temperatures for precision, model in models.items()},
        "reference": REFERENCE,
        "check": {"tolerance": args.tolerance, "logit_scale": scale, "max_abs_logit_difference": differences,
                  "ort_fp32_matches_pytorch": matches},
        "variants": {name: {"description": DESCRIPTIONS[name],
                            **{suffix: measured[suffix]["results"][name] for suffix in measured}}
                     for name in variants},
    }
    print(format_table(report))
    write_bytes_atomically(args.output, (json.dumps(report, indent=2) + "\n").encode("utf-8"))
    print(f"Wrote {args.output}")
    if not matches:
        print(f"ONNX Runtime's fp32 logits differ from PyTorch's by {differences['ort_fp32_full']:.3g} "
              f"(> {args.tolerance:g} x {scale:.3g})", file=sys.stderr)
        sys.exit(1)
    return report


def format_table(report: Dict[str, Any]) -> str:
    size = report["batch_sizes"]["bN"]
    lines = [f"| variant | accuracy % | s/row b1 | speedup b1 | s/row b{size} | speedup b{size} |",
             "|---|---|---|---|---|---|"]
    for name, variant in report["variants"].items():
        one, many = variant["b1"], variant["bN"]
        lines.append(f"| {name} | {100 * one['accuracy']:.2f} | {one['seconds_per_row']:.5f} | {one['speedup']:.2f} | "
                     f"{many['seconds_per_row']:.5f} | {many['speedup']:.2f} |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
