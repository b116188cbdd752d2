"""
The trainer callback of self-sampling fine-tuning: caches the stage-1 tagger's per-exit scores on the training
data once, then lets the model's training forward replay the halting rule on them (`tagger_self_sampling.py`).
"""
import io
import json
import logging
import os
from typing import Any, Dict, Iterable, List, Optional

import numpy
import torch
from allennlp.common.tqdm import Tqdm
from allennlp.common.checks import ConfigurationError
from allennlp.data import Batch, Instance
from allennlp.nn.util import move_to_device
from allennlp.training.callbacks import TrainerCallback

from sledgehammer.common.atomic_files import write_bytes_atomically
from sledgehammer.models.tagger_self_sampling import CacheKey, SelfSampling, cache_key, check_settings, stage_one_scores

logger = logging.getLogger(__name__)

CACHE_NAME = "self_sampling_scores.npz"


@TrainerCallback.register("sledgehammer_self_sampling")
class SelfSamplingCallback(TrainerCallback):
    """
    Self-sampling fine-tuning (Li et al., ACL 2021, stage 2) of a `sledgehammer_tagger` that starts from a trained
    one (the model's `initial_archive`).

    At the start of training, before any step, the model (still the stage-1 model) scores every word of the
    training data at every exit (`stage_one_scores`: its `exit_policy` on its calibrated probabilities, in eval
    mode) and the scores are saved to `self_sampling_scores.npz` in the serialization directory. A recovered run
    reads them from there instead, so they are computed exactly once per run, always from the stage-1 weights.
    The callback then attaches a `SelfSampling` with these scores to the model (`model.self_sampling`): in every
    training forward, each sentence gets a sampled token-level exit setting, the model's own halting rule is
    replayed on the cached scores to decide each word's exit, and the model trains with halted words' states
    copied upward and each exit's loss over the words still running there (see `SelfSampling` and
    `EarlyExitTagger`). Validation and prediction are untouched. At the end of training it is detached again.

    Registered as a `TrainerCallback` with name "sledgehammer_self_sampling".

    # Parameters

    serialization_dir : `str`
        Given by the trainer.
    windows : `List[int]`, optional (default = `[1, 3, 5, 7, 9, 11, 13, 15]`)
        Odd windows to sample from.
    max_uncertainty : `float`, optional (default = `0.25`)
        Largest uncertainty sampled: threshold `1 - u` with `u` uniform in `[0, max_uncertainty]` (for the entropy
        policy, normalised entropy at most `u`).
    aggressive_share : `float`, optional (default = `0.125`)
        Share of each batch trained with the most aggressive setting (smallest window, `max_uncertainty`).
    full_share : `float`, optional (default = `0.125`)
        Share of each batch trained without early exit (every exit, every word).
    seed : `int`, optional (default = `13`)
        Seed of the sampling.
    batch_size : `int`, optional (default = `32`)
        Sentences per batch when caching the scores.
    """

    def __init__(
        self,
        serialization_dir: str,
        windows: Optional[List[int]] = None,
        max_uncertainty: float = 0.25,
        aggressive_share: float = 0.125,
        full_share: float = 0.125,
        seed: int = 13,
        batch_size: int = 32,
    ) -> None:
        super().__init__(serialization_dir)
        self.windows = list(windows) if windows is not None else [1, 3, 5, 7, 9, 11, 13, 15]
        check_settings(self.windows, max_uncertainty, aggressive_share, full_share)
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ConfigurationError(f"batch_size must be a positive integer, got {batch_size!r}")
        self.max_uncertainty, self.seed, self.batch_size = max_uncertainty, seed, batch_size
        self.aggressive_share, self.full_share = aggressive_share, full_share

    def on_start(self, trainer, is_primary: bool = True, **kwargs) -> None:
        model = trainer.model
        if not hasattr(model, "self_sampling") or not hasattr(model, "embed_words"):
            raise ConfigurationError(
                f"the sledgehammer_self_sampling callback needs a sledgehammer_tagger model, got {type(model).__name__}"
            )
        if not model.encoder.supports_token_halting():
            raise ConfigurationError(
                f"self-sampling trains token-level exit, which needs a BERT-layout encoder; this one is a "
                f"{model.encoder.family!r} model"
            )
        rank = getattr(trainer, "_rank", 0)
        name = CACHE_NAME if not getattr(trainer, "_distributed", False) else f"worker{rank}_{CACHE_NAME}"
        path = os.path.join(self.serialization_dir, name)
        signature = cache_signature(model)
        if os.path.exists(path):
            scores = read_scores(path, signature)
            logger.info("Self-sampling: read the cached stage-1 scores of %d instances from %s", len(scores), path)
        else:
            if getattr(trainer, "_total_batches_completed", 0) > 0:
                raise ConfigurationError(
                    f"recovering a self-sampling run, but its cached stage-1 scores ({path}) are gone; the model "
                    f"has trained since, so they cannot be computed again: start a new run"
                )
            scores = compute_scores(model, trainer.data_loader.iter_instances(), self.batch_size)
            write_scores(path, scores, signature)
            logger.info("Self-sampling: cached the stage-1 scores of %d instances in %s", len(scores), path)
        model.self_sampling = SelfSampling(
            scores, self.windows, self.max_uncertainty, self.aggressive_share, self.full_share, self.seed,
            epoch=getattr(trainer, "_epochs_completed", 0),
        )

    def on_epoch(self, trainer, metrics: Dict[str, Any], epoch: int, is_primary: bool = True, **kwargs) -> None:
        if trainer.model.self_sampling is not None:
            trainer.model.self_sampling.epoch = epoch + 1

    def on_end(self, trainer, metrics: Dict[str, Any] = None, epoch: int = None, is_primary: bool = True,
               **kwargs) -> None:
        trainer.model.self_sampling = None


def compute_scores(model, instances: Iterable[Instance], batch_size: int) -> Dict[CacheKey, torch.Tensor]:
    """Every instance's `stage_one_scores` `(words, exits)` on the CPU, by `cache_key`; the model in eval mode."""
    ordered = sorted(instances, key=lambda instance: len(instance["tokens"]))
    device = next(model.parameters()).device
    training = model.training
    model.eval()
    scores: Dict[CacheKey, torch.Tensor] = {}
    try:
        with torch.no_grad():
            starts = range(0, len(ordered), batch_size)
            for start in Tqdm.tqdm(starts, desc="self-sampling: caching the stage-1 scores"):
                chunk = ordered[start : start + batch_size]
                batch = Batch(chunk)
                batch.index_instances(model.vocab)
                tensors = move_to_device(batch.as_tensor_dict(), device)
                batch_scores = stage_one_scores(model, tensors["tokens"]).cpu()
                for row, instance in enumerate(chunk):
                    length = len(instance["tokens"])
                    scores[cache_key(instance["metadata"].metadata)] = batch_scores[row, :length].clone()
    finally:
        model.train(training)
    return scores


def cache_signature(model) -> str:
    """What the cached scores depend on besides the weights: exits, policy and temperatures."""
    policy = {key: value for key, value in model.exit_policy.configuration().items() if key != "threshold"}
    return json.dumps({"exit_layers": model.exit_layers, "exit_policy": policy, "temperatures": model.temperatures},
                      sort_keys=True)


def write_scores(path: str, scores: Dict[CacheKey, torch.Tensor], signature: str) -> None:
    keys = list(scores)
    values = [scores[key] for key in keys]
    buffer = io.BytesIO()
    numpy.savez(
        buffer,
        keys=numpy.array([json.dumps(key) for key in keys], dtype=str),
        lengths=numpy.array([value.shape[0] for value in values], dtype=numpy.int64),
        scores=torch.cat(values).numpy() if values else numpy.zeros((0, 0), dtype=numpy.float32),
        signature=numpy.array(signature),
    )
    write_bytes_atomically(path, buffer.getvalue())


def read_scores(path: str, signature: str) -> Dict[CacheKey, torch.Tensor]:
    with numpy.load(path, allow_pickle=False) as stored:
        if str(stored["signature"]) != signature:
            raise ConfigurationError(
                f"the cached stage-1 scores in {path} were made for {stored['signature']}, but the model has "
                f"{signature}; use a new serialization directory"
            )
        rows = torch.from_numpy(stored["scores"]).split(stored["lengths"].tolist())
        keys = [json.loads(key) for key in stored["keys"]]
    return {(source, chunk, tuple(words)): row for (source, chunk, words), row in zip(keys, rows)}
