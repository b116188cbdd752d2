"""
A family of per-exit threshold settings for the fixed-sequence test: which exit's threshold to lower next, chosen
on the fitting rows (never on the rows that test it), so that the error budget goes where it saves most.

The family starts at "never exit early" and lowers one exit's threshold at a time, each step to the next of the
policy's candidate thresholds that lets at least one more fitting row answer at that exit. Of the possible steps
it takes the one that saves the most FLOPs per added disagreement with the last exit on the fitting rows (a step
that adds none comes first), and it ends before the fitting rows' disagreement rate would exceed epsilon. The
settings are ordered from the safest to the most aggressive, as `select_setting` walks them.
"""
from typing import Callable, List, Sequence, Tuple

import torch

from sledgehammer.modules.exit_policies import first_exits_from_scores

# A bound on the family's length (each setting is one step of one exit).
MAX_SETTINGS = 5000


def per_exit_family(
    scores: torch.Tensor,
    disagrees: torch.Tensor,
    candidates: Sequence[float],
    flops_of: Callable[[torch.Tensor], float],
    epsilon: float,
    max_settings: int = MAX_SETTINGS,
) -> List[Tuple[float, ...]]:
    """
    The ordered per-exit settings (tuples of one threshold per exit, the last exit's 1.0) chosen on fitting rows.

    # Parameters

    scores : `torch.Tensor`
        The exit policy's scores `(rows, exits)` of the fitting rows (`ExitPolicy.exit_scores`).
    disagrees : `torch.Tensor`
        `(rows, exits)` bool: whether each exit's label differs from the last exit's on those rows.
    candidates : `Sequence[float]`
        The policy's candidate thresholds, from 1.0 down (`ExitPolicy.candidate_thresholds`).
    flops_of : `Callable[[torch.Tensor], float]`
        The total FLOPs of the fitting rows when they answer at the given `(rows,)` exits (the model's cost model,
        `InferenceCost.answering_flops`).
    epsilon : `float`
        The disagreement rate to guarantee; the family ends before the fitting rows exceed it.
    max_settings : `int`, optional (default = `5000`)

    # Returns

    The settings, safest first; the first is every exit at 1.0.
    """
    num_rows, num_exits = scores.shape
    grid = sorted({float(value) for value in candidates}, reverse=True)
    if not grid or grid[0] != 1.0:
        grid = [1.0] + [value for value in grid if value < 1.0]
    positions = [0] * num_exits
    rows = torch.arange(num_rows)

    def evaluate(setting: Tuple[float, ...]) -> Tuple[int, float]:
        exit_index = first_exits_from_scores(scores, setting)
        return int(disagrees[rows, exit_index].sum()), flops_of(exit_index)

    current = tuple(grid[position] for position in positions)
    family = [current]
    disagreements, flops = evaluate(current)
    while len(family) < max_settings:
        best = None
        for k in range(num_exits - 1):
            position = _next_position(scores[:, k], grid, positions[k])
            if position is None:
                continue
            setting = current[:k] + (grid[position],) + current[k + 1:]
            new_disagreements, new_flops = evaluate(setting)
            added, saved = new_disagreements - disagreements, flops - new_flops
            # Steps adding no disagreement first (most saving first), then the best saving per disagreement.
            key = (0, -saved) if added <= 0 else (1, -saved / added)
            if best is None or key < best[0]:
                best = (key, k, position, setting, new_disagreements, new_flops)
        if best is None:
            break
        _, k, position, setting, new_disagreements, new_flops = best
        if new_disagreements > epsilon * num_rows:
            break
        positions[k] = position
        current, disagreements, flops = setting, new_disagreements, new_flops
        family.append(current)
    return family


def _next_position(column: torch.Tensor, grid: List[float], position: int):
    """The next grid position below `position` at which one more row's score reaches the threshold, else `None`."""
    if position >= len(grid) - 1:
        return None
    below = column[column < grid[position]]
    if below.numel() == 0:
        return None
    highest = float(below.max())
    for next_position in range(position + 1, len(grid)):
        if grid[next_position] <= highest:
            return next_position
    return None
