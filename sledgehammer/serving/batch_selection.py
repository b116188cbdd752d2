"""
Which waiting rows go into the next batch.

On a CPU every row of a batch is padded to the batch's longest row, so a batch that mixes a long row with
short ones pays for the long one in every row. `select_batch` therefore takes a run of rows that are
neighbours in length order: it starts at the oldest waiting row (so no row waits for ever), and grows the
run one neighbour at a time, shorter or longer, always the one that keeps the batch's *fill* (real
length over padded length, `sum(lengths) / (len(batch) * max(lengths))`) highest, until the batch holds
`max_size` rows or the next neighbour would bring the fill below `min_fill`.

Only rows with the oldest row's settings key are candidates (a tagger's `window` and `exit_mode` hold for
a whole forward pass); rows with other settings wait for a later batch.
"""
from typing import Hashable, List, Sequence

# The default smallest fill of a batch: its padded positions are at most a quarter of all.
DEFAULT_MIN_FILL = 0.75


def batch_fill(lengths: Sequence[int]) -> float:
    """Real over padded length of a batch of rows with these lengths (1.0 for rows of equal length)."""
    return _fill(sum(lengths), len(lengths), max(lengths))


def select_batch(
    lengths: Sequence[int],
    keys: Sequence[Hashable],
    max_size: int,
    min_fill: float = DEFAULT_MIN_FILL,
) -> List[int]:
    """
    The positions of the rows to run together, as described in the module docstring. The rows are given
    oldest first; position 0 is always in the batch.

    # Parameters

    lengths : `Sequence[int]`
        The length of each waiting row (any measure that grows with the padded size, e.g. characters).
    keys : `Sequence[Hashable]`
        Each row's settings key; only rows with the key of row 0 can share its batch.
    max_size : `int`
        The most rows in a batch (at least 1).
    min_fill : `float`, optional (default = `0.75`)
        In [0, 1]: the smallest fill a batch may reach by growing (0 takes the `max_size` nearest rows in
        length whatever their padding; 1 takes rows of exactly equal length only).

    # Returns

    The chosen positions, in ascending order (oldest first).
    """
    if not lengths:
        return []
    if max_size < 1:
        raise ValueError(f"max_size must be at least 1, got {max_size}")
    if not 0.0 <= min_fill <= 1.0:
        raise ValueError(f"min_fill must be in [0, 1], got {min_fill}")
    candidates = [position for position, key in enumerate(keys) if key == keys[0]]
    order = sorted(candidates, key=lambda position: (lengths[position], position))
    low = high = order.index(0)
    total, longest = lengths[0], lengths[0]
    while high - low + 1 < max_size:
        size = high - low + 2
        options = []
        if low > 0:  # a shorter (or equal) neighbour: the longest row stays
            shorter = lengths[order[low - 1]]
            options.append((_fill(total + shorter, size, longest), -1))
        if high + 1 < len(order):  # a longer (or equal) neighbour becomes the longest row
            longer = lengths[order[high + 1]]
            options.append((_fill(total + longer, size, max(longest, longer)), 1))
        if not options:
            break
        fill, side = max(options)
        if fill < min_fill:
            break
        if side < 0:
            low -= 1
            total += lengths[order[low]]
        else:
            high += 1
            total += lengths[order[high]]
            longest = max(longest, lengths[order[high]])
    return sorted(order[low : high + 1])


def _fill(total: int, size: int, longest: int) -> float:
    return total / (size * longest) if longest > 0 else 1.0
