"""Which waiting rows share a batch: neighbours in length of the oldest row, as long as the batch stays filled."""
import pytest

from sledgehammer.serving.batch_selection import batch_fill, select_batch

SAME = (None, None)


def test_rows_of_equal_length_fill_a_batch_oldest_first():
    assert select_batch([10] * 6, [SAME] * 6, max_size=4) == [0, 1, 2, 3]


def test_the_oldest_row_is_always_in_the_batch_even_when_it_is_the_longest():
    lengths = [100, 10, 10, 10, 95, 98]
    chosen = select_batch(lengths, [SAME] * 6, max_size=3)
    assert chosen == [0, 4, 5]
    assert batch_fill([lengths[i] for i in chosen]) > 0.95


def test_a_long_tail_row_does_not_join_a_batch_of_short_rows():
    lengths = [10, 11, 9, 10, 200, 12]
    chosen = select_batch(lengths, [SAME] * 6, max_size=32)
    assert 4 not in chosen
    assert chosen == [0, 1, 2, 3, 5]


def test_min_fill_zero_takes_the_nearest_rows_whatever_their_padding():
    lengths = [10, 11, 9, 10, 200, 12]
    assert select_batch(lengths, [SAME] * 6, max_size=32, min_fill=0.0) == [0, 1, 2, 3, 4, 5]


def test_min_fill_one_takes_rows_of_exactly_the_oldest_length():
    assert select_batch([10, 11, 10, 9, 10], [SAME] * 5, max_size=8, min_fill=1.0) == [0, 2, 4]


def test_only_rows_with_the_oldest_rows_settings_share_its_batch():
    keys = [(3, "token"), SAME, (3, "token"), (1, "token"), (3, "token")]
    assert select_batch([5] * 5, keys, max_size=8) == [0, 2, 4]


def test_max_size_one_is_one_row():
    assert select_batch([5, 5, 5], [SAME] * 3, max_size=1) == [0]


def test_the_run_grows_to_the_side_that_keeps_the_batch_filled():
    # From 50: the shorter 48 keeps the fill at 0.98, the longer 60 would drop it to 0.92.
    assert select_batch([50, 60, 48], [SAME] * 3, max_size=2) == [0, 2]


def test_nothing_waiting_is_an_empty_batch_and_bad_parameters_are_errors():
    assert select_batch([], [], max_size=4) == []
    with pytest.raises(ValueError, match="max_size"):
        select_batch([1], [SAME], max_size=0)
    with pytest.raises(ValueError, match="min_fill"):
        select_batch([1], [SAME], max_size=2, min_fill=1.5)
