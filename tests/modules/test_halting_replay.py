"""`replay_halting`: the token-level (and sentence-level) rule applied exit by exit to scores known in advance."""
import torch

from sledgehammer.modules.token_halting import exit_thresholds, halting_step, replay_halting

T, F = True, False


def test_replay_by_hand():
    # One sentence of 5 words and a padding position, 3 exits; scores per word and exit.
    scores = torch.tensor([[[0.9, 0.9, 1.0], [0.9, 0.2, 1.0], [0.1, 0.9, 1.0], [0.9, 0.9, 1.0], [0.9, 0.1, 1.0],
                            [0.0, 0.0, 1.0]]])
    mask = torch.tensor([[T, T, T, T, T, F]])
    # Window 1: a word halts at its first certain exit (threshold 0.5).
    assert replay_halting(scores, mask, [0.5, 0.5, 0.5], 1).tolist() == [[0, 0, 1, 0, 0, 2]]
    # Window 3: at exit 0 the uncertain word 2 blocks words 1-3 (words 0 and 4 halt); at exit 1 the uncertain
    # word 1 blocks itself and word 2, and word 3 halts (word 2 is certain there, word 4 halted and counts as
    # certain though it now scores 0.1).
    assert replay_halting(scores, mask, [0.5, 0.5, 0.5], 3).tolist() == [[0, 2, 2, 1, 0, 2]]
    # Threshold 1.0 never exits early; 0.0 exits everything at the first exit.
    assert replay_halting(scores, mask, [1.0, 1.0, 1.0], 1).tolist() == [[2, 2, 2, 2, 2, 2]]
    assert replay_halting(scores, mask, [0.0, 0.0, 0.0], 15).tolist() == [[0, 0, 0, 0, 0, 2]]
    # Sentence-level: the sentence leaves when all its words are certain.
    assert replay_halting(scores, mask, [0.05, 0.05, 0.5], 1, "sentence").tolist() == [[0, 0, 0, 0, 0, 2]]
    assert replay_halting(scores, mask, [0.5, 0.5, 0.5], 1, "sentence").tolist() == [[2, 2, 2, 2, 2, 2]]


def test_replay_equals_the_exit_by_exit_loop_on_random_scores():
    generator = torch.Generator().manual_seed(0)
    rows, words, exits = 6, 9, 5
    scores = torch.rand(rows, words, exits, generator=generator)
    lengths = torch.tensor([9, 1, 4, 7, 9, 2])
    mask = torch.arange(words)[None, :] < lengths[:, None]
    thresholds = exit_thresholds(0.6, list(range(exits)), exits, upper_uncertainty_factor=2.0)
    for window in (1, 3, 5):
        replayed = replay_halting(scores, mask, thresholds, window)
        # The loop as the model runs it, with rows leaving: one row at a time.
        for row in range(rows):
            halted, expected = ~mask[row : row + 1], torch.full((1, words), exits - 1)
            for k in range(exits - 1):
                now = halting_step(scores[row : row + 1, :, k], thresholds[k], halted, mask[row : row + 1], window,
                                   "token")
                expected[now & ~halted] = k
                halted = now
            assert replayed[row].tolist() == expected[0].tolist()
        # Padding answers at the last exit.
        assert (replayed[~mask] == exits - 1).all()
