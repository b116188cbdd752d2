"""
Self-sampling fine-tuning of an early-exit tagger (Li et al., ACL 2021, stage 2), the part that runs inside
the model's training forward: which exit each training word halts at, and the loss over the words still running
at each exit. The stage-1 scores it replays are cached by the `sledgehammer_self_sampling` trainer callback
(`self_sampling_callback.py`), which attaches a `SelfSampling` to the model as `model.self_sampling`.
"""
import json
import random
from typing import Any, Dict, List, Optional, Sequence, Tuple

import torch
from allennlp.common.checks import ConfigurationError

from sledgehammer.models.tagger_exit_loop import Tagger, run_every_layer
from sledgehammer.modules.token_halting import check_window, exit_thresholds, replay_halting

# (metadata "source", "chunk", words): one training instance.
CacheKey = Tuple[Optional[str], Optional[int], Tuple[str, ...]]
# A sentence's sampled setting: (window, uncertainty); None runs every exit for every word.
Setting = Optional[Tuple[int, float]]


def cache_key(metadata: Dict[str, Any]) -> CacheKey:
    """The key of an instance's cached scores, from the sequence tagging readers' metadata."""
    if "words" not in metadata:
        raise ConfigurationError(
            f"self-sampling needs each instance's metadata to hold its 'words' (and 'source'), as the sledgehammer "
            f"sequence tagging readers give; found the keys {sorted(metadata)}"
        )
    return metadata.get("source"), metadata.get("chunk"), tuple(metadata["words"])


def stage_one_scores(model: Tagger, tokens: Dict[str, Dict[str, torch.Tensor]]) -> torch.Tensor:
    """
    Every exit's policy score for every word, `(batch, words, exits)`: the model's `exit_policy` on its
    calibrated probabilities (its `temperatures`), as its early-exit loop computes them; the last exit's column
    is 1. Runs the model as it is (call it in eval mode and without gradients to cache a model's predictions).
    """
    inputs, state, first_piece, _ = model.embed_words(tokens)
    exit_logits = run_every_layer(model, state, first_piece, all_heads=True)
    rows, words, exits, labels = exit_logits.shape
    probs = model.calibrated_probs(exit_logits.reshape(-1, exits, labels))
    return model.exit_policy.exit_scores(probs).reshape(rows, words, exits)


def planned_loss(
    loss_weights: torch.Tensor,
    exit_logits: torch.Tensor,
    exit_index: torch.Tensor,
    tags: torch.Tensor,
    word_mask: torch.Tensor,
) -> torch.Tensor:
    """
    `sum_k weight_k * CE_k`, where `CE_k` is exit `k`'s cross-entropy averaged over the words still running at
    exit `k` (real words whose `exit_index` is `k` or above) and `weight_k` the model's `loss_weights` `(exits,)`; an exit
    no word reaches adds nothing. With no word halting early this is the stage-1 loss.
    """
    loss = exit_logits.new_zeros(())
    for k in range(exit_logits.shape[2]):
        running = word_mask & (exit_index >= k)
        if running.any():
            cross_entropy = torch.nn.functional.cross_entropy(exit_logits[:, :, k][running], tags[running].long())
            loss = loss + loss_weights[k] * cross_entropy
    return loss


class SelfSampling:
    """
    Samples, for each training sentence, a token-level exit setting and replays the model's halting rule with it
    on the sentence's cached stage-1 scores, to decide which exit each word halts at during training.

    Per batch, `aggressive_share` of the sentences get the most aggressive setting (the smallest window, the
    largest uncertainty), `full_share` run every exit for every word (no early exit, the stage-1 loss), and the
    others a window drawn uniformly from `windows` and an uncertainty `u` drawn uniformly from
    `[0, max_uncertainty]` (a share that is not a whole number of sentences is rounded up or down at random,
    keeping the expected share). A setting `(w, u)` is the inference rule with `window = w` and `threshold =
    1 - u`: for the entropy policy, a word is certain when its normalised entropy is at most `u`; for the
    confidence policy, when its largest probability is at least `1 - u`. The model's `upper_uncertainty_factor`
    applies as at inference (`exit_thresholds`), and the rule is `replay_halting`, the same `halting_step` as
    the model's token-level loop.

    The draws depend only on `seed`, the epoch and the batch's sentences (a `random.Random` seeded with them),
    so a batch gets the same settings whenever and however often it is replayed.

    # Parameters

    scores : `Dict[CacheKey, torch.Tensor]`
        Each training instance's stage-1 scores `(words, exits)` (`stage_one_scores`), by `cache_key`.
    windows : `Sequence[int]`, optional (default = `(1, 3, 5, 7, 9, 11, 13, 15)`)
        The odd windows to sample from.
    max_uncertainty : `float`, optional (default = `0.25`)
        The largest uncertainty `u` sampled, in (0, 1].
    aggressive_share : `float`, optional (default = `0.125`)
    full_share : `float`, optional (default = `0.125`)
        Shares of each batch, in [0, 1], summing to at most 1.
    seed : `int`, optional (default = `13`)
    epoch : `int`, optional (default = `0`)
        Set by the callback at the start of each epoch.
    """

    def __init__(
        self,
        scores: Dict[CacheKey, torch.Tensor],
        windows: Sequence[int] = (1, 3, 5, 7, 9, 11, 13, 15),
        max_uncertainty: float = 0.25,
        aggressive_share: float = 0.125,
        full_share: float = 0.125,
        seed: int = 13,
        epoch: int = 0,
    ) -> None:
        check_settings(windows, max_uncertainty, aggressive_share, full_share)
        self.scores = scores
        self.windows = [int(window) for window in windows]
        self.max_uncertainty = float(max_uncertainty)
        self.aggressive_share = float(aggressive_share)
        self.full_share = float(full_share)
        self.seed = seed
        self.epoch = epoch

    def settings(self, keys: List[CacheKey]) -> List[Setting]:
        """One setting per sentence of a batch: `(window, uncertainty)`, or `None` for the full share."""
        rng = random.Random(json.dumps([self.seed, self.epoch, keys]))
        count = len(keys)
        aggressive = _random_round(self.aggressive_share * count, rng)
        full = min(_random_round(self.full_share * count, rng), count - aggressive)
        settings: List[Setting] = [None] * count
        for position, row in enumerate(rng.sample(range(count), count)):
            if position < aggressive:
                settings[row] = (min(self.windows), self.max_uncertainty)
            elif position >= aggressive + full:
                settings[row] = (rng.choice(self.windows), rng.uniform(0.0, self.max_uncertainty))
        return settings

    def exit_plan(
        self, model: Tagger, metadata: Optional[List[Dict[str, Any]]], word_mask: torch.Tensor
    ) -> torch.Tensor:
        """
        The exit each word of a training batch halts at, `(batch, words)` (the last exit for padding): the
        token-level rule replayed on the cached scores with each sentence's sampled setting.
        """
        if metadata is None:
            raise ConfigurationError("self-sampling needs the instances' metadata in the training batches")
        keys = [cache_key(entry) for entry in metadata]
        device, word_mask = word_mask.device, word_mask.cpu()  # many small steps: faster on the CPU
        rows, words = word_mask.shape
        scores = torch.ones(rows, words, model.num_exits)
        for row, key in enumerate(keys):
            cached = self.scores.get(key)
            length = int(word_mask[row].sum())
            if cached is None or cached.shape != (length, model.num_exits):
                raise ConfigurationError(
                    f"no cached stage-1 scores for the {length}-word training sentence from {key[0]}: the "
                    f"sledgehammer_self_sampling callback caches the training data at the start of training, and "
                    f"the training data must not change afterwards"
                )
            scores[row, :length] = cached
        exit_index = torch.full_like(word_mask, model.num_exits - 1, dtype=torch.long)
        num_layers = model.num_encoder_layers
        for row, setting in enumerate(self.settings(keys)):
            if setting is None:
                continue
            window, uncertainty = setting
            thresholds = exit_thresholds(
                1.0 - uncertainty, model.exit_layers, num_layers, model.upper_uncertainty_factor
            )
            exit_index[row] = replay_halting(scores[row : row + 1], word_mask[row : row + 1], thresholds, window)[0]
        return exit_index.to(device)


def check_settings(windows: Sequence[int], max_uncertainty: float, aggressive_share: float, full_share: float) -> None:
    """A `ConfigurationError` naming the first self-sampling setting out of range."""
    if isinstance(windows, (str, bytes)) or not isinstance(windows, Sequence) or len(windows) == 0:
        raise ConfigurationError(f"windows must be a non-empty list of odd window sizes, got {windows!r}")
    for window in windows:
        check_window(window)
    number = isinstance(max_uncertainty, (int, float)) and not isinstance(max_uncertainty, bool)
    if not number or not 0 < max_uncertainty <= 1:
        raise ConfigurationError(f"max_uncertainty must be a number in (0, 1], got {max_uncertainty!r}")
    for name, share in (("aggressive_share", aggressive_share), ("full_share", full_share)):
        if isinstance(share, bool) or not isinstance(share, (int, float)) or not 0 <= share <= 1:
            raise ConfigurationError(f"{name} must be a number in [0, 1], got {share!r}")
    if aggressive_share + full_share > 1:
        raise ConfigurationError(
            f"aggressive_share + full_share must be at most 1, got {aggressive_share} + {full_share}"
        )


def _random_round(value: float, rng: random.Random) -> int:
    whole = int(value)
    return whole + int(rng.random() < value - whole)
