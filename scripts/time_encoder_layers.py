#!/usr/bin/env python
"""
Where the time of batch-size-1 inference goes: share of wall clock spent inside the encoder's layers
(timed with forward hooks) for the plain forward and for early exit at thresholds 1.0 and 0.9.

Usage: python scripts/time_encoder_layers.py ARCHIVE DATA [--instances 300] [--num-threads 2]
"""
import argparse
import time

import torch
from allennlp.data import Batch
from allennlp.models.archival import load_archive

import sledgehammer  # noqa: F401
from sledgehammer.commands.archive_inputs import read_labelled_instances


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("archive")
    parser.add_argument("data")
    parser.add_argument("--instances", type=int, default=300)
    parser.add_argument("--num-threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.num_threads)
    archive = load_archive(args.archive)
    model = archive.model.eval()
    batches = []
    for instance in read_labelled_instances(archive, args.data, "DATA")[: args.instances]:
        batch = Batch([instance])
        batch.index_instances(model.vocab)
        batches.append(batch.as_tensor_dict()["tokens"])
    in_layers = [0.0]

    def started(module, inputs):
        module.started = time.perf_counter()

    def finished(module, inputs, output):
        in_layers[0] += time.perf_counter() - module.started

    for layer in model.encoder.layers:
        layer.register_forward_pre_hook(started)
        layer.register_forward_hook(finished)
    variants = [("plain", None), ("threshold=1.0", 1.0), ("threshold=0.9", 0.9)]
    with torch.no_grad():
        for name, threshold in variants:
            run = model.plain_forward_logits if threshold is None else (lambda tokens: model(tokens=tokens))
            if threshold is not None:
                model.threshold = threshold
            for tokens in batches[:20]:  # warm-up
                run(tokens)
            in_layers[0] = 0.0
            began = time.perf_counter()
            for tokens in batches:
                run(tokens)
            total = time.perf_counter() - began
            print(f"{name}: {1000 * total / len(batches):.2f} ms/sentence, encoder layers "
                  f"{1000 * in_layers[0] / len(batches):.2f} ms ({100 * in_layers[0] / total:.0f} %)")


if __name__ == "__main__":
    main()
