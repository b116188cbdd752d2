"""
The halting rules of early exit for sequence labeling (Li et al., ACL 2021), as plain tensor functions.

An exit policy (`sledgehammer.modules.exit_policies`) gives every word a score in [0, 1] at an exit; a word
is *certain* there when its score reaches that exit's threshold. From the certain words:

- sentence-level exit: a sentence answers when all its words are certain (its least certain word is);
- token-level exit with an odd window `w`: a word halts when every word within `w // 2` positions of it,
  inside its sentence, is certain. Words that halted earlier count as certain.

`halting_step` applies one exit's rule; the model's early-exit loop calls it exit by exit as it computes the
scores, and `replay_halting` calls it over scores known for every exit in advance (self-sampling fine-tuning
replays the rule on a stage-1 model's cached scores), so both decide alike.

Word pieces follow their word (`piece_owners`, `running_pieces`): the pieces of a halted word stop running
with it; special tokens ([CLS], [SEP], ...) belong to no word and run as long as their sentence does.
"""
from typing import List, Union

import torch
from allennlp.common.checks import ConfigurationError

EXIT_MODES = ("sentence", "token")


def check_window(window: int) -> int:
    """`window` if it is a positive odd integer, else a `ConfigurationError`."""
    if isinstance(window, bool) or not isinstance(window, int) or window < 1 or window % 2 == 0:
        raise ConfigurationError(f"window must be a positive odd integer (1, 3, 5, ...), got {window!r}")
    return window


def check_exit_mode(exit_mode: str) -> str:
    if exit_mode not in EXIT_MODES:
        raise ConfigurationError(f"exit_mode must be one of {', '.join(EXIT_MODES)}, got {exit_mode!r}")
    return exit_mode


def exit_thresholds(
    threshold: float, exit_layers: List[int], num_layers: int, upper_uncertainty_factor: float = 1.0
) -> List[float]:
    """
    The threshold of each exit. Exits on the lower half of the encoder's `num_layers` layers use `threshold`;
    exits on the upper half (layer >= num_layers // 2) allow `upper_uncertainty_factor` times the shortfall:
    `max(0, 1 - factor * (1 - threshold))`. For the entropy policy (score = 1 - normalised entropy) a factor
    of 2 is Li et al.'s "the upper half of the layers uses twice the (entropy) threshold". Threshold 1.0
    stays 1.0 at every exit (never exit early) whatever the factor.
    """
    half = num_layers // 2
    upper = min(1.0, max(0.0, 1.0 - upper_uncertainty_factor * (1.0 - threshold)))
    return [upper if layer >= half and threshold < 1.0 else threshold for layer in exit_layers]


def row_exit_thresholds(
    thresholds: torch.Tensor, exit_layers: List[int], num_layers: int, upper_uncertainty_factor: float = 1.0
) -> torch.Tensor:
    """
    `exit_thresholds` for one threshold per row: `(rows, exits)` from `(rows,)` thresholds, the same rule.
    """
    half = num_layers // 2
    upper = (1.0 - upper_uncertainty_factor * (1.0 - thresholds)).clamp(0.0, 1.0)
    upper = torch.where(thresholds < 1.0, upper, thresholds)
    columns = [upper if layer >= half else thresholds for layer in exit_layers]
    return torch.stack(columns, dim=1)


def certain_words(
    scores: torch.Tensor, threshold: Union[float, torch.Tensor], halted: torch.Tensor
) -> torch.Tensor:
    """
    `(rows, words)` bool: the words whose `scores` reach `threshold`, and every word in `halted` (words that
    halted earlier, and padding). Below the last exit nothing is certain at threshold 1.0. `threshold` is one
    number, or one per row `(rows,)`.
    """
    if isinstance(threshold, torch.Tensor):
        column = threshold[:, None]
        return ((scores >= column) & (column < 1.0)) | halted
    if threshold >= 1.0:
        return halted.clone()
    return (scores >= threshold) | halted


def sentence_halting(certain: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """
    `(rows, words)` bool: every real word (`mask`) of the sentences whose words are all `certain`, none of the
    others. `certain` must be true on padding.
    """
    return certain.all(dim=1, keepdim=True) & mask


def window_halting(certain: torch.Tensor, mask: torch.Tensor, window: int) -> torch.Tensor:
    """
    `(rows, words)` bool: the real words (`mask`) whose every neighbour within `window // 2` positions in the
    same sentence is `certain` (the word itself included). Positions past the sentence's end (padding) and
    before its start do not count against a word.
    """
    uncertain = (~certain & mask).float()[:, None, :]
    half = window // 2
    blocked = torch.nn.functional.max_pool1d(uncertain, kernel_size=window, stride=1, padding=half)
    return (blocked[:, 0] == 0) & mask


def halting_step(
    scores: torch.Tensor,
    threshold: Union[float, torch.Tensor],
    halted: torch.Tensor,
    mask: torch.Tensor,
    window: int,
    exit_mode: str,
) -> torch.Tensor:
    """
    One exit's decision: `(rows, words)` bool, the words halted after this exit (those in `halted` included),
    from the words' `scores` `(rows, words)` at the exit and its `threshold` (one number, or one per row).
    `halted` holds the words halted at earlier exits and the padding (`~mask`). `exit_mode` `"token"` applies `window_halting` with `window`,
    `"sentence"` applies `sentence_halting`.
    """
    certain = certain_words(scores, threshold, halted)
    halts = window_halting(certain, mask, window) if exit_mode == "token" else sentence_halting(certain, mask)
    return halted | halts


def replay_halting(
    scores: torch.Tensor, mask: torch.Tensor, thresholds: List[float], window: int, exit_mode: str = "token"
) -> torch.Tensor:
    """
    The exit each word answers at, `(rows, words)` (0-based; the last exit for padding and for the words no
    earlier exit halts), when every exit's score is known in advance: `scores` `(rows, words, exits)`, real words
    `mask`, one threshold per exit (`exit_thresholds`). The same `halting_step` as the model's loop, applied at
    exits `0 … exits - 2` in turn; scores of a word after it halted are never read.
    """
    num_exits = scores.shape[2]
    exit_index = torch.full(mask.shape, num_exits - 1, dtype=torch.long, device=mask.device)
    halted = ~mask
    for k in range(num_exits - 1):
        now_halted = halting_step(scores[:, :, k], thresholds[k], halted, mask, window, exit_mode)
        exit_index[now_halted & ~halted] = k
        halted = now_halted
        if halted.all():
            break
    return exit_index


def piece_owners(offsets: torch.Tensor, mask: torch.Tensor, length: int) -> torch.Tensor:
    """
    For each of `length` word-piece positions, the index of the word it belongs to, `(rows, length)`, from the
    mismatched indexer's inclusive piece `offsets` `(rows, words, 2)` of the real words (`mask`); -1 for
    pieces of no word (special tokens, padding). Words without pieces (offsets -1) own nothing.
    """
    positions = torch.arange(length, device=offsets.device)[None, None, :]
    starts, ends = offsets[..., :1], offsets[..., 1:]
    inside = (positions >= starts) & (positions <= ends) & (mask & (offsets[..., 0] >= 0))[..., None]
    owned = inside.any(dim=1)
    owner = inside.long().argmax(dim=1)
    return torch.where(owned, owner, torch.full_like(owner, -1))


def running_pieces(owners: torch.Tensor, piece_mask: torch.Tensor, halted: torch.Tensor) -> torch.Tensor:
    """
    `(rows, length)` bool: the real pieces (`piece_mask`) of the words not `halted` `(rows, words)`, and the
    real pieces of no word (special tokens), which run while their sentence does.
    """
    owner_halted = halted.gather(1, owners.clamp(min=0))
    return piece_mask & ((owners < 0) | ~owner_halted)
