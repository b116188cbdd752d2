"""
The speed/quality trade-off of an early-exit tagger (`EarlyExitTagger`), measured by running the model itself
for every setting: unlike a classifier's, token-level exit cannot be replayed offline from one pass that ran
every exit, because a halted word's frozen state changes what the words still running see in the layers above.

Rows (one per setting, each a dict, see `evaluate_tagger_settings`):

* `static`: exit `k` used alone, every word running every layer up to it (a truncated model);
* `sentence`: sentence-level exit at a threshold;
* `token`: token-level exit at a threshold and a window;
* `oracle_consistency`: each word halts at the earliest exit whose tag equals the last exit's in a pass that
  ran every layer for every word; the model then runs with those halting exits, halted words frozen as at
  inference, so its quality is measured, not assumed;
* `full`: every layer for every word, the last exit answering.

Quality is the model's main metric (span F1 for span tags, else accuracy, see `TaggingMetrics`); costs are the
model's own FLOPs estimates per word (`ExitStatistics`, `TaggingInferenceCost`: keys and values for every piece,
the rest for running pieces), relative to the full model on the same sentences.
"""
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from typing import Any, ContextManager, Dict, Iterator, List, Optional, Sequence

import torch
from allennlp.common.tqdm import Tqdm

from sledgehammer.evaluation.records import TaggerTradeoffRow
from sledgehammer.models import EarlyExitTagger

STATIC = "static"
SENTENCE = "sentence"
TOKEN = "token"
ORACLE_CONSISTENCY = "oracle_consistency"
FULL = "full"
TAGGER_KINDS = (STATIC, SENTENCE, TOKEN, ORACLE_CONSISTENCY, FULL)


@dataclass(frozen=True)
class TaggerSetting:
    """
    One way of running a tagger: `kind` (one of `TAGGER_KINDS`), the threshold and window of sentence- and
    token-level exit, and the exit of a static row (0-based among exits).
    """

    kind: str
    threshold: float = 1.0
    window: int = 1
    exit_index: Optional[int] = None

    @property
    def name(self) -> str:
        if self.kind == SENTENCE:
            return f"sentence:threshold={self.threshold:g}"
        if self.kind == TOKEN:
            return f"token:window={self.window}:threshold={self.threshold:g}"
        if self.kind == STATIC:
            return f"static:exit_{self.exit_index}"
        return self.kind

    @property
    def family(self) -> str:
        """The curve a row belongs to: `"token:window=5"`, `"sentence"`, `"static"`, ..."""
        return f"token:window={self.window}" if self.kind == TOKEN else self.kind

    def settings(self, model: EarlyExitTagger) -> ContextManager[Any]:
        """The model's runtime knobs for a sentence- or token-level row (nothing for the others), as a block."""
        if self.kind in (SENTENCE, TOKEN):
            return model.settings(exit_mode=self.kind, window=self.window, threshold=self.threshold)
        return nullcontext()


def tagger_settings(thresholds: Sequence[float], windows: Sequence[int], num_exits: int) -> List[TaggerSetting]:
    """
    Every setting a tagger trade-off reports: each exit alone, sentence-level exit at each threshold below 1.0,
    token-level exit at each window and threshold below 1.0, the consistency oracle and the full model.
    """
    early = [threshold for threshold in sorted(set(thresholds)) if threshold < 1.0]
    settings = [TaggerSetting(STATIC, exit_index=k) for k in range(num_exits)]
    settings += [TaggerSetting(SENTENCE, threshold=threshold) for threshold in early]
    settings += [
        TaggerSetting(TOKEN, threshold=threshold, window=window) for window in windows for threshold in early
    ]
    settings += [TaggerSetting(ORACLE_CONSISTENCY), TaggerSetting(FULL)]
    return settings


@dataclass
class EveryExitPass:
    """What one pass running every exit for every word tells: each batch's tags at every exit, word-piece counts."""

    exit_tags: List[torch.Tensor]  # per batch (batch, words, exits)
    piece_lengths: List[torch.Tensor]  # per batch (batch,)
    metrics: Dict[str, float]

    def oracle_exits(self, batch_number: int) -> torch.Tensor:
        """`(batch, words)`: each word's earliest exit whose tag equals the last exit's."""
        tags = self.exit_tags[batch_number]
        agrees = tags == tags[:, :, -1:]
        return agrees.long().argmax(dim=-1)


def run_every_exit(model: EarlyExitTagger, batches: List[Dict[str, Any]]) -> EveryExitPass:
    """Runs every layer and exit for every word of `batches` (with `tags`), with the model's metrics reset first."""
    model.get_metrics(reset=True)
    exit_tags, piece_lengths = [], []
    with model.settings(threshold=1.0, all_heads=True):
        for batch in Tqdm.tqdm(batches, desc="running every exit"):
            output = model(tokens=batch["tokens"], tags=batch["tags"])
            exit_tags.append(output["exit_logits"].argmax(dim=-1))
            piece_lengths.append(batch["tokens"]["tokens"]["wordpiece_mask"].sum(dim=1))
    return EveryExitPass(exit_tags, piece_lengths, model.get_metrics(reset=True))


def evaluate_tagger_settings(
    model: EarlyExitTagger, batches: List[Dict[str, Any]], settings: Sequence[TaggerSetting]
) -> List[TaggerTradeoffRow]:
    """
    One row per setting on labelled `batches` (tensor dicts with `tokens` and `tags`, as `build_batches` makes
    them), in evaluation mode without gradients; the model's runtime knobs and metrics are restored/reset after.

    Each row has `kind`, `name`, `family`, `threshold`, `window`, `exit_layer` (static rows), `quality` (the
    main metric in [0, 1]), `relative_flops`, `mean_layers` (per word), `agreement_with_last_exit` (share of
    words whose answer equals the last exit's in the every-exit pass) and `exit_fractions` (share of words
    answering at each exit).
    """
    main_key = model.main_metric
    with settings_restored(model), torch.no_grad():
        every = run_every_exit(model, batches)
        last_tags = [tags[:, :, -1] for tags in every.exit_tags]
        masks = [batch["tokens"]["tokens"]["mask"].bool() for batch in batches]
        rows = []
        for setting in Tqdm.tqdm(settings, desc="evaluating settings"):
            if setting.kind in (STATIC, FULL):
                rows.append(_static_row(model, setting, every, masks, main_key))
            else:
                rows.append(_run_row(model, setting, batches, every, last_tags, masks, main_key))
    return rows


@contextmanager
def settings_restored(model: EarlyExitTagger) -> Iterator[None]:
    """
    Puts the model in evaluation mode for the block, then restores its settings (`model.settings()`) and
    training mode and resets its metrics, also on errors.
    """
    was_training = model.training
    model.eval()
    try:
        with model.settings():
            yield
    finally:
        model.train(was_training)
        model.get_metrics(reset=True)


def _run_row(
    model: EarlyExitTagger,
    setting: TaggerSetting,
    batches: List[Dict[str, Any]],
    every: EveryExitPass,
    last_tags: List[torch.Tensor],
    masks: List[torch.Tensor],
    main_key: str,
) -> TaggerTradeoffRow:
    model.get_metrics(reset=True)
    agreeing = 0
    with setting.settings(model):
        for number, batch in enumerate(batches):
            if setting.kind == ORACLE_CONSISTENCY:
                output = model.forward_with_exit_plan(batch["tokens"], every.oracle_exits(number), tags=batch["tags"])
            else:
                output = model(tokens=batch["tokens"], tags=batch["tags"])
            agreeing += int(((output["tags"] == last_tags[number]) & masks[number]).sum())
    metrics = model.get_metrics(reset=True)
    words = sum(int(mask.sum()) for mask in masks)
    return _row(
        setting, model, metrics[main_key], metrics["relative_flops"], metrics["layers_run"], agreeing / words,
        [metrics[f"exit_fraction_{layer}"] for layer in model.exit_layers],
    )


def _static_row(
    model: EarlyExitTagger, setting: TaggerSetting, every: EveryExitPass, masks: List[torch.Tensor], main_key: str
) -> TaggerTradeoffRow:
    """A static exit's (or the full model's) row from the every-exit pass: its quality and a truncated model's cost."""
    k = model.num_exits - 1 if setting.exit_index is None else setting.exit_index
    layer = model.exit_layers[k]
    cost, layers = model.cost, model.num_encoder_layers
    flops = full = 0.0
    agreeing = 0
    for tags, lengths, mask in zip(every.exit_tags, every.piece_lengths, masks):
        words = mask.sum(dim=1)
        base = cost.embedding_flops(lengths) + cost.word_head_flops(words)
        flops += float((base + (layer + 1) * cost.layer_flops(lengths)).sum())
        full += float((base + layers * cost.layer_flops(lengths)).sum())
        agreeing += int(((tags[:, :, k] == tags[:, :, -1]) & mask).sum())
    words = sum(int(mask.sum()) for mask in masks)
    fractions = [1.0 if j == k else 0.0 for j in range(model.num_exits)]
    quality = every.metrics[f"{main_key}_exit_{layer}"]
    return _row(setting, model, quality, flops / full, float(layer + 1), agreeing / words, fractions)


def _row(
    setting: TaggerSetting,
    model: EarlyExitTagger,
    quality: float,
    relative_flops: float,
    mean_layers: float,
    agreement: float,
    exit_fractions: List[float],
) -> TaggerTradeoffRow:
    early = setting.kind in (SENTENCE, TOKEN)
    return {
        "kind": setting.kind,
        "name": setting.name,
        "family": setting.family,
        "threshold": setting.threshold if early else None,
        "window": setting.window if setting.kind == TOKEN else None,
        "exit_layer": model.exit_layers[setting.exit_index] if setting.kind == STATIC else None,
        "quality": quality,
        "relative_flops": relative_flops,
        "mean_layers": mean_layers,
        "agreement_with_last_exit": agreement,
        "exit_fractions": exit_fractions,
    }
