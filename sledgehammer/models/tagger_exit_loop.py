"""
The layer loops of `EarlyExitTagger`: every layer for every word (training, threshold 1.0), early exit
(evaluation below threshold 1.0): sentence-level or token-level exit over a batch, sentences leaving the batch
when all their words have answered, and token-level exit along halting exits given in advance (self-sampling
fine-tuning, `run_with_exit_plan`).
"""
from typing import Any, Optional, Tuple

import torch

from sledgehammer.modules.layerwise_transformer import EncoderState
from sledgehammer.modules.token_halting import (
    exit_thresholds,
    halting_step,
    piece_owners,
    row_exit_thresholds,
    running_pieces,
)

# An `EarlyExitTagger`, read through its public API only (not imported here: the tagger imports this module).
Tagger = Any


def run_every_layer(
    model: Tagger, state: EncoderState, first_piece: torch.Tensor, all_heads: bool
) -> torch.Tensor:
    """
    Runs every layer for every word and returns the raw exit logits `(batch, words, exits, labels)`; with
    `all_heads` false only the last exit's head runs (the others are NaN).
    """
    rows, words = first_piece.shape
    exits = dict(zip(model.exit_layers, range(model.num_exits)))
    columns = []
    for layer in range(model.num_encoder_layers):
        state = model.encoder.run_layer(layer, state)
        k = exits.get(layer)
        if k is None:
            continue
        if all_heads or k == model.num_exits - 1:
            columns.append(model.exit_head(k, model.word_vectors(state.hidden, first_piece)))
        else:
            columns.append(torch.full((rows, words, model.num_labels), float("nan"), device=first_piece.device))
    return torch.stack(columns, dim=2)


def run_with_early_exit(
    model: Tagger,
    state: EncoderState,
    first_piece: torch.Tensor,
    offsets: torch.Tensor,
    word_mask: torch.Tensor,
    row_thresholds: Optional[torch.Tensor] = None,
) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """
    Runs `model`'s encoder layer by layer from the embedded `state` of a batch, deciding at each exit which
    words answer (see `EarlyExitTagger`), with the model's threshold or one threshold per sentence
    (`row_thresholds` `(batch,)`).

    # Returns

    `exit_logits` `(batch, words, exits, labels)` (raw; NaN where an exit did not run for a word),
    `exit_index` `(batch, words)` (each word's answering exit; the last one for padding) and the estimated
    FLOPs of each sentence `(batch,)` (`TaggingInferenceCost`: embeddings, layers with keys and values for
    every piece and the rest for the running pieces, and one head per exit for each word still running there).
    """
    encoder, cost, policy = model.encoder, model.cost, model.exit_policy
    num_exits, token_mode = model.num_exits, model.exit_mode == "token"
    batch, num_words = word_mask.shape
    device = word_mask.device
    exit_logits = torch.full((batch, num_words, num_exits, model.num_labels), float("nan"), device=device)
    exit_index = torch.full((batch, num_words), num_exits - 1, dtype=torch.long, device=device)
    # Per row still in the batch: calibrated probabilities of each word at the exits so far (what the policy
    # reads), which words have halted (padding counts as halted), and which word owns each piece.
    history = torch.empty_like(exit_logits)
    halted = ~word_mask
    owners = piece_owners(offsets, word_mask, state.mask.shape[1])
    lengths = state.mask.sum(dim=1)
    flops = cost.embedding_flops(lengths)
    rows = torch.arange(batch, device=device)
    if row_thresholds is None:
        # Per-exit thresholds of the policy, when it has them, replace the upper-layer schedule.
        thresholds = list(model.exit_thresholds) if model.exit_thresholds is not None else exit_thresholds(
            model.threshold, model.exit_layers, encoder.num_layers, model.upper_uncertainty_factor
        )
    else:
        per_row = row_exit_thresholds(
            row_thresholds, model.exit_layers, encoder.num_layers, model.upper_uncertainty_factor
        )
    exits = dict(zip(model.exit_layers, range(num_exits)))
    for layer in range(encoder.num_layers):
        running = running_pieces(owners, state.mask, halted)
        if token_mode and not torch.equal(running, state.mask):
            state = encoder.run_layer_for_tokens(layer, state, running)
        else:
            state = encoder.run_layer(layer, state)
        flops.index_add_(0, rows, cost.partial_layer_flops(lengths[rows], running.sum(dim=1)))
        k = exits.get(layer)
        if k is None:
            continue
        row, word = (~halted).nonzero(as_tuple=True)
        logits = model.exit_head(k, state.hidden[row, first_piece[row, word]])
        exit_logits[rows[row], word, k] = logits
        flops.index_add_(0, rows, cost.word_head_flops((~halted).sum(dim=1)))
        if k == num_exits - 1:
            break
        history[row, word, k] = model.calibrated_probs(logits, k)
        scores = torch.ones(halted.shape, device=device)
        scores[row, word] = policy.score(history[row, word, : k + 1], num_exits).float()
        threshold = thresholds[k] if row_thresholds is None else per_row[rows, k]
        now_halted = halting_step(scores, threshold, halted, word_mask[rows], model.window, model.exit_mode)
        new_row, new_word = (now_halted & ~halted).nonzero(as_tuple=True)
        exit_index[rows[new_row], new_word] = k
        halted = now_halted
        done = halted.all(dim=1)
        if done.any():
            staying = (~done).nonzero(as_tuple=True)[0]
            if staying.numel() == 0:
                break
            rows = rows[staying]
            state = encoder.keep_rows(state, staying)
            length = state.mask.shape[1]
            owners = owners.index_select(0, staying)[:, :length]
            halted, history = halted.index_select(0, staying), history.index_select(0, staying)
            first_piece = first_piece.index_select(0, staying)
    return exit_logits, exit_index, flops


def run_with_exit_plan(
    model: Tagger,
    state: EncoderState,
    first_piece: torch.Tensor,
    offsets: torch.Tensor,
    word_mask: torch.Tensor,
    exit_index: torch.Tensor,
) -> Tuple[torch.Tensor, torch.Tensor]:
    """
    Runs `model`'s encoder as token-level early exit does, but with each word's answering exit given in advance
    (`exit_index` `(batch, words)`, 0-based among exits), so that it can train (self-sampling fine-tuning).

    A word runs every layer up to the layer of its exit and halts after it: its word pieces keep their hidden
    states in every higher layer, where they still serve as keys and values, and their queries, attention output
    and feed-forward are not computed (`run_layer_for_tokens`, as in `run_with_early_exit`). Special tokens run
    while some word of their sentence does. Exit `k`'s head runs for the words whose exit is `k` or above (the
    words still running there). Sentences stay in the batch (their rows simply stop running); the loop ends when
    every word has halted.

    # Returns

    `exit_logits` `(batch, words, exits, labels)` (raw logits, NaN where an exit did not run for a word) and the
    estimated FLOPs of each sentence `(batch,)` as token-level early exit would spend them (a sentence whose
    words have all halted costs nothing more, as if it had left the batch).
    """
    encoder, cost, num_exits = model.encoder, model.cost, model.num_exits
    batch, num_words = word_mask.shape
    exit_logits = torch.full(
        (batch, num_words, num_exits, model.num_labels), float("nan"), device=word_mask.device
    )
    layers = torch.tensor(model.exit_layers, device=word_mask.device)
    # The layer after which each word halts; padding never runs.
    halting_layer = torch.where(word_mask, layers[exit_index], torch.full_like(exit_index, -1))
    owners = piece_owners(offsets, word_mask, state.mask.shape[1])
    lengths = state.mask.sum(dim=1)
    flops = cost.embedding_flops(lengths)
    exits = dict(zip(model.exit_layers, range(num_exits)))
    for layer in range(encoder.num_layers):
        halted = halting_layer < layer
        done = halted.all(dim=1)
        if done.all():
            break
        running = running_pieces(owners, state.mask, halted) & ~done[:, None]
        if torch.equal(running, state.mask):
            state = encoder.run_layer(layer, state)
        else:
            state = encoder.run_layer_for_tokens(layer, state, running)
        flops += torch.where(done, torch.zeros_like(flops), cost.partial_layer_flops(lengths, running.sum(dim=1)))
        k = exits.get(layer)
        if k is not None:
            row, word = (~halted).nonzero(as_tuple=True)
            exit_logits[row, word, k] = model.exit_head(k, state.hidden[row, first_piece[row, word]])
            flops += cost.word_head_flops((~halted).sum(dim=1))
    return exit_logits, flops


def run_to_exit(model: Tagger, state: EncoderState, first_piece: torch.Tensor, k: int) -> torch.Tensor:
    """
    Raw logits `(batch, words, labels)` of exit `k` alone, every word running every layer up to its layer: the
    model truncated there ("static" exit), as a smaller model trained this way would run.
    """
    for layer in range(model.exit_layers[k] + 1):
        state = model.encoder.run_layer(layer, state)
    return model.exit_head(k, model.word_vectors(state.hidden, first_piece))
