import pytest
import torch
from allennlp.common.checks import ConfigurationError

from sledgehammer.modules.inference_cost import InferenceCost
from sledgehammer.modules.tagging_cost import TaggingInferenceCost
from sledgehammer.modules.token_halting import (
    certain_words,
    check_exit_mode,
    check_window,
    exit_thresholds,
    piece_owners,
    running_pieces,
    sentence_halting,
    window_halting,
)

T, F = True, False


def test_window_one_halts_exactly_the_certain_words():
    certain = torch.tensor([[T, F, T, T, T, T]])
    mask = torch.tensor([[T, T, T, T, T, F]])
    assert window_halting(certain, mask, 1).tolist() == [[T, F, T, T, T, F]]


def test_a_word_halts_when_every_word_in_its_window_is_certain():
    #                        0  1  2  3  4  5  6  7 | padding
    certain = torch.tensor([[T, T, T, F, T, T, T, T, T, T]])
    mask = torch.tensor([[T] * 8 + [F, F]])
    # Window 3: the uncertain word 3 blocks itself and its neighbours 2 and 4.
    assert window_halting(certain, mask, 3).tolist() == [[T, T, F, F, F, T, T, T, F, F]]
    # Window 5: two positions either side are blocked.
    assert window_halting(certain, mask, 5).tolist() == [[T, F, F, F, F, F, T, T, F, F]]
    # The sentence's edges do not block: word 7 halts with window 5 though it has no right neighbours.
    # A window wider than the sentence needs every word certain.
    assert not window_halting(certain, mask, 15).any()
    all_certain = torch.ones_like(certain)
    assert window_halting(all_certain, mask, 15).tolist() == mask.tolist()


def test_rows_are_independent_and_uncertain_padding_does_not_block():
    certain = torch.tensor([[T, T, T, F], [F, T, T, T]])
    mask = torch.tensor([[T, T, T, F], [T, T, T, T]])  # row 0's last position is padding
    assert window_halting(certain, mask, 3).tolist() == [[T, T, T, F], [F, F, T, T]]


def test_sentence_halting_needs_every_word_certain():
    certain = torch.tensor([[T, T, T], [T, F, T]])
    mask = torch.tensor([[T, T, F], [T, T, T]])
    assert sentence_halting(certain | ~mask, mask).tolist() == [[T, T, F], [F, F, F]]


def test_certain_words_counts_halted_words_and_never_passes_threshold_one():
    scores = torch.tensor([[0.9, 0.5, 0.7]])
    halted = torch.tensor([[F, F, T]])
    assert certain_words(scores, 0.7, halted).tolist() == [[T, F, T]]
    assert certain_words(scores, 0.5, halted).tolist() == [[T, T, T]]
    assert certain_words(torch.ones(1, 3), 1.0, halted).tolist() == [[F, F, T]]


def test_exit_thresholds_relax_the_upper_half():
    assert exit_thresholds(0.9, [0, 1, 2, 3], 4, 1.0) == [0.9, 0.9, 0.9, 0.9]
    assert exit_thresholds(0.9, [0, 1, 2, 3], 4, 2.0) == pytest.approx([0.9, 0.9, 0.8, 0.8])
    assert exit_thresholds(0.9, [1, 5, 6, 11], 12, 2.0) == pytest.approx([0.9, 0.9, 0.8, 0.8])
    assert exit_thresholds(0.3, [0, 3], 4, 2.0) == [0.3, 0.0]
    assert exit_thresholds(1.0, [0, 3], 4, 2.0) == [1.0, 1.0]


def test_piece_owners_and_running_pieces():
    # [CLS] w0 w1 w1 w2 [SEP] pad ; the second row: [CLS] w0 [SEP] pad pad pad pad
    offsets = torch.tensor([[[1, 1], [2, 3], [4, 4]], [[1, 1], [0, 0], [0, 0]]])
    word_mask = torch.tensor([[T, T, T], [T, F, F]])
    piece_mask = torch.tensor([[T, T, T, T, T, T, F], [T, T, T, F, F, F, F]])
    owners = piece_owners(offsets, word_mask, 7)
    assert owners.tolist() == [[-1, 0, 1, 1, 2, -1, -1], [-1, 0, -1, -1, -1, -1, -1]]
    halted = torch.tensor([[F, T, F], [F, T, T]])  # padding words count as halted
    assert running_pieces(owners, piece_mask, halted).tolist() == [
        [T, T, F, F, T, T, F],
        [T, T, T, F, F, F, F],
    ]


def test_a_word_without_pieces_owns_none():
    offsets = torch.tensor([[[1, 1], [-1, -1], [2, 2]]])
    owners = piece_owners(offsets, torch.tensor([[T, T, T]]), 4)
    assert owners.tolist() == [[-1, 0, 2, -1]]


@pytest.mark.parametrize("window", [0, 2, -1, 1.0, True, "3"])
def test_bad_windows(window):
    with pytest.raises(ConfigurationError, match="window"):
        check_window(window)


def test_bad_exit_mode():
    with pytest.raises(ConfigurationError, match="exit_mode"):
        check_exit_mode("word")


def test_partial_layer_cost_with_every_piece_running_is_the_full_layer():
    cost = TaggingInferenceCost(32, 64, 5, has_pooler=False)
    full = InferenceCost(32, 64, 5, has_pooler=False)
    lengths = torch.tensor([3, 10, 17])
    assert torch.allclose(cost.partial_layer_flops(lengths, lengths), full.layer_flops(lengths))
    fewer = cost.partial_layer_flops(lengths, torch.tensor([1, 5, 0]))
    assert (fewer < full.layer_flops(lengths)).all()
    # Keys and values are paid for every piece even with nothing running.
    assert fewer[2] == 4.0 * 32 * 32 * 17
    assert cost.word_head_flops(torch.tensor([2]))[0] == 2 * 2 * 32 * 5
