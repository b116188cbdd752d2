"""
Wall-clock seconds per instance of an early-exit classifier at several thresholds and of the plain full
model, measured interleaved on the same batches so that load on the machine affects every variant alike.
"""
import contextlib
import copy
import logging
import random
import time
from dataclasses import dataclass
from functools import partial
from typing import Any, Callable, ContextManager, Dict, List, Optional, Sequence, Tuple

import torch
from allennlp.common.tqdm import Tqdm
from allennlp.data import Batch, Instance
from allennlp.models import Model
from allennlp.nn.util import move_to_device

from sledgehammer.evaluation.precision_rows import precision_name
from sledgehammer.evaluation.tradeoff import FULL_NAME, policy_thresholds, threshold_name
from sledgehammer.models import EarlyExitClassifier
from sledgehammer.models.precision import FP32
from sledgehammer.modules.exit_policies import ConfidencePolicy, ExitPolicy

# A timed variant: the model, the exit policy to run it with at its threshold (None: the plain full model).
Variant = Tuple[EarlyExitClassifier, Optional[ExitPolicy]]

logger = logging.getLogger(__name__)

NUM_THREADS_KEY = "num_threads"


def measure_seconds(
    model: EarlyExitClassifier,
    instances: List[Instance],
    thresholds: Sequence[float],
    batch_size: int,
    warmup_batches: int = 2,
    cuda_device: int = -1,
    other_models: Optional[Dict[str, Tuple[EarlyExitClassifier, List[Instance]]]] = None,
    policies: Optional[Sequence[ExitPolicy]] = None,
    precision_models: Optional[Dict[str, Tuple[EarlyExitClassifier, Sequence[ExitPolicy]]]] = None,
) -> Dict[str, float]:
    """
    Measures the seconds per instance of `model` at each threshold (its early-exit forward pass) and of
    the full model (`model.plain_forward_logits`: one ordinary pass through every kept layer and the last
    exit head), in evaluation mode and without gradients. Other models (e.g. truncated models trained
    alone) can be timed in the same loop, each as its plain forward pass on its own reading of the same
    data.

    The batches are built (and moved to the device) once, before any timing. Then `warmup_batches`
    batches run every variant untimed, and for every batch each variant runs once, timed with
    `time.perf_counter` around the model call alone; the variant that runs first rotates from batch to
    batch to spread drift in the machine's speed. The model's threshold and training mode are restored
    afterwards. Forward passes at a threshold also update the model's metrics.

    # Parameters

    model : `EarlyExitClassifier`
    instances : `List[Instance]`
        Instances with token indexers set; indexed here with the model's vocabulary. Labels are not
        passed to the model.
    thresholds : `Sequence[float]`
        Thresholds in [0, 1], for each policy (see `policy_thresholds`).
    batch_size : `int`
    warmup_batches : `int`, optional (default = `2`)
    cuda_device : `int`, optional (default = `-1`)
        The device the models are on; on a GPU each timed call is synchronised.
    other_models : `Dict[str, Tuple[EarlyExitClassifier, List[Instance]]]`, optional (default = `None`)
        More models to time, by name (names must differ from the threshold names and `"full"`), each with
        the same rows as `instances` read by its own dataset reader (its tokenizer may differ).
    policies : `Sequence[ExitPolicy]`, optional (default = `None`)
        The exit policies to time the model with (copies are set on the model in turn); `None` is the
        `confidence` policy alone.
    precision_models : `Dict[str, Tuple[EarlyExitClassifier, Sequence[ExitPolicy]]]`, optional (default = `None`)
        The same model loaded in other precisions (e.g. `{"int8": (quantized, its policies)}`), timed in the same
        loop on the same rows, at each of its policies' thresholds and as its plain full model, under the names
        `precision_name(precision, ...)` (e.g. `"int8:threshold=0.9"`, `"int8:full"`).

    # Returns

    Seconds per instance (total time over all batches divided by the number of instances) under the keys
    `threshold_name(t, policy)` (e.g. `"threshold=0.9"`, `"entropy:threshold=0.9"`), `"full"`, the names of
    `other_models` and those of the `precision_models`' variants, plus
    `"num_threads"`: the value of `torch.get_num_threads()` during the measurement.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    if warmup_batches < 0:
        raise ValueError(f"warmup_batches must be >= 0, got {warmup_batches}")
    if not instances:
        raise ValueError("no instances to time")
    other_models = dict(other_models or {})
    variants = _early_exit_variants(model, thresholds, policies, FP32)
    batches = {id(model): build_batches(model, instances, batch_size, cuda_device)}
    models = [model]
    for precision, (quantized, quantized_policies) in (precision_models or {}).items():
        variants.update(_early_exit_variants(quantized, thresholds, quantized_policies, precision))
        models.append(quantized)
        batches[id(quantized)] = build_batches(quantized, instances, batch_size, cuda_device)
    for name, (other, other_instances) in other_models.items():
        if name in variants or name == NUM_THREADS_KEY:
            raise ValueError(f"the other model's name {name!r} is taken")
        if len(other_instances) != len(instances):
            raise ValueError(f"{name} has {len(other_instances)} instances, the model {len(instances)}")
        variants[name] = (other, None)
        models.append(other)
        batches[id(other)] = build_batches(other, other_instances, batch_size, cuda_device)
    saved = [(each, each.training) for each in models]
    for each in models:
        each.eval()
    try:
        timed = {
            name: TimedVariant(id(variant[0]), partial(_settings, variant), partial(_run, variant))
            for name, variant in variants.items()
        }
        totals = time_interleaved(timed, batches, warmup_batches, cuda_device, f"timing at batch size {batch_size}")
    finally:
        for each, was_training in saved:
            each.train(was_training)

    results = {name: total / len(instances) for name, total in totals.items()}
    results[NUM_THREADS_KEY] = float(torch.get_num_threads())
    logger.info("Timed %d instances at batch size %d with %d threads", len(instances), batch_size,
                torch.get_num_threads())
    return results


def _early_exit_variants(
    model: EarlyExitClassifier, thresholds: Sequence[float], policies: Optional[Sequence[ExitPolicy]], precision: str
) -> Dict[str, Variant]:
    """A model's timed variants: each policy (`None`: confidence) at each of its thresholds, then the full model."""
    variants: Dict[str, Variant] = {}
    for policy in [ConfidencePolicy()] if policies is None else policies:
        for value in policy_thresholds(policy, thresholds, model.num_exits):
            variant_policy = copy.deepcopy(policy)
            variant_policy.threshold = value
            variants[precision_name(precision, threshold_name(value, policy.name))] = (model, variant_policy)
    variants[precision_name(precision, FULL_NAME)] = (model, None)
    return variants


@dataclass(frozen=True)
class TimedVariant:
    """
    One variant for `time_interleaved`: the key of the batches it runs on, `settings()`, a context manager
    entered (untimed) around each timed call, e.g. `partial(model.settings, threshold=0.9)`, which restores the
    model's settings afterwards, and the timed `run(batch)`.
    """

    batches_key: Any
    settings: Callable[[], ContextManager[Any]]
    run: Callable[[Dict[str, Any]], Any]


# The seed of the order in which `time_interleaved` runs the variants on each batch.
ORDER_SEED = 13


def time_interleaved(
    variants: Dict[str, TimedVariant],
    batches: Dict[Any, List[Dict[str, Any]]],
    warmup_batches: int = 2,
    cuda_device: int = -1,
    description: str = "timing",
    on_output: Optional[Callable[[str, int, Any], None]] = None,
) -> Dict[str, float]:
    """
    Total seconds of each variant over all its batches, measured interleaved: `warmup_batches` batches run
    every variant untimed, then for every batch number each variant runs once, timed with
    `time.perf_counter` around `run` alone (inside its `settings()`), in an order shuffled anew for every batch
    (seeded: the same for every run). Interleaving spreads drift in the machine's speed over all variants; the
    shuffle keeps any variant from always running right after the same one, as a rotation of one fixed order
    would (whatever that one leaves behind, caches and idle threads, would then bias it: in such a run an int8
    model at threshold 0.97 timed slower than at 0.98, though it runs fewer layers). Every key's batch list must
    be as long as the others. Runs without gradients; the caller sets evaluation mode.
    `on_output(name, batch_number, output)` (untimed) sees each timed call's result.
    """
    lengths = {len(batch_list) for batch_list in batches.values()}
    if len(lengths) != 1:
        raise ValueError(f"every variant needs the same number of batches, got {sorted(lengths)}")
    num_batches = lengths.pop()
    synchronize = torch.cuda.synchronize if cuda_device >= 0 else (lambda: None)
    names = list(variants)
    totals = {name: 0.0 for name in names}
    with torch.no_grad():
        for number in range(min(warmup_batches, num_batches)):
            for name in names:
                with variants[name].settings():
                    variants[name].run(batches[variants[name].batches_key][number])
        synchronize()
        shuffler = random.Random(ORDER_SEED)
        for number in Tqdm.tqdm(range(num_batches), desc=description):
            for name in shuffler.sample(names, len(names)):
                variant = variants[name]
                batch = batches[variant.batches_key][number]
                with variant.settings():
                    began = time.perf_counter()
                    output = variant.run(batch)
                    synchronize()
                    totals[name] += time.perf_counter() - began
                if on_output is not None:
                    on_output(name, number, output)
    return totals


def build_batches(model: Model, instances: List[Instance], batch_size: int, cuda_device: int,
                  fields: Sequence[str] = ("tokens",)) -> List[Dict[str, Any]]:
    """`instances` in order, indexed with `model`'s vocabulary, as tensor batches of `fields` on the device."""
    batches = []
    for start in range(0, len(instances), batch_size):
        batch = Batch(instances[start : start + batch_size])
        batch.index_instances(model.vocab)
        tensors = batch.as_tensor_dict()
        batches.append(move_to_device({field: tensors[field] for field in fields}, cuda_device))
    return batches


def _settings(variant: Variant) -> ContextManager[Any]:
    """A variant's exit policy, set for one timed call (the plain forward pass needs none)."""
    model, policy = variant
    return contextlib.nullcontext() if policy is None else model.settings(exit_policy=policy)


def _run(variant: Variant, batch: Dict[str, Any]) -> None:
    """The timed call of a variant."""
    model, policy = variant
    if policy is None:
        model.plain_forward_logits(batch["tokens"])
    else:
        model(tokens=batch["tokens"])
