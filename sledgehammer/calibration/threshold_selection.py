"""
A threshold with a guarantee: Learn-then-Test (Angelopoulos et al., 2021) with fixed-sequence testing, as CALM
(Schuster et al., 2022) uses it for early exit.

The risk of a threshold is the share of rows whose answer differs from the last exit's. Candidate thresholds
are walked from the safest (1.0, which never exits early and so never disagrees) to the most aggressive; each
is tested for "risk > epsilon" with the exact binomial tail of its disagreements on the calibration rows
(scipy), and the walk stops at the first candidate whose p-value exceeds delta. The last candidate that passed
has, with probability at least 1 - delta over the draw of the calibration rows, risk at most epsilon on new
rows of the same distribution (given that the scores were fixed before these rows were seen).

`select_setting` walks any ordered list of settings the same way, each one threshold or one threshold per exit
(a per-exit family, `sledgehammer.calibration.per_exit_family`); `select_threshold` is its single-threshold use.
`rows_for_observed_rates` answers "how many selection rows would the walk need to reach each setting, if the
disagreement rates seen held".
"""
import functools
import math
from typing import Any, Dict, List, Optional, Sequence

import numpy
import torch
from scipy.stats import binom

from sledgehammer.modules.exit_policies import ThresholdSetting, first_exits_for_settings, first_exits_from_scores

# `rows_for_observed_rates` looks this far (selection rows) before saying a rate needs more than any file holds.
MAX_ROWS_SEARCHED = 1_000_000


class TooFewRowsError(ValueError):
    """The calibration rows cannot certify any threshold below 1.0 at the requested epsilon and delta."""


def rows_needed(epsilon: float, delta: float) -> int:
    """
    The fewest calibration rows with which a threshold can pass at all: with no disagreement among `n` rows the
    p-value is `(1 - epsilon) ** n`, which must be at most `delta`.
    """
    return math.ceil(math.log(delta) / math.log1p(-epsilon))


def select_threshold(
    scores: torch.Tensor,
    disagrees: torch.Tensor,
    candidates: Sequence[float],
    target_agreement: float,
    delta: float = 0.1,
) -> Dict[str, Any]:
    """
    The most aggressive threshold that fixed-sequence testing certifies.

    # Parameters

    scores : `torch.Tensor`
        The exit policy's scores of every exit for every calibration row, `(rows, exits)` (`exit_scores`).
    disagrees : `torch.Tensor`
        `(rows, exits)` bool: whether each exit's label differs from the last exit's.
    candidates : `Sequence[float]`
        Thresholds from the safest to the most aggressive (`ExitPolicy.candidate_thresholds`), fixed before
        looking at the rows.
    target_agreement : `float`
        `1 - epsilon`: the agreement with the last exit to guarantee, in (0, 1).
    delta : `float`, optional (default = `0.1`)
        The allowed probability that the guarantee fails, in (0, 1).

    # Returns

    `{"threshold", "p_value", "disagreements", "agreement", "num_rows", "epsilon", "delta",
    "candidates_tested", "exit_index"}` (`exit_index`: the `(rows,)` exits the rows take at that threshold).

    # Raises

    `TooFewRowsError` when there are fewer rows than `rows_needed(epsilon, delta)`; `ValueError` for bad
    arguments.
    """
    result = select_setting(scores, disagrees, [float(threshold) for threshold in candidates], target_agreement, delta)
    result["threshold"] = float(result.pop("setting"))
    result.pop("tested", None)
    return result


def select_setting(
    scores: torch.Tensor,
    disagrees: torch.Tensor,
    settings: Sequence[ThresholdSetting],
    target_agreement: float,
    delta: float = 0.1,
    observed: Optional[List[Dict[str, Any]]] = None,
) -> Dict[str, Any]:
    """
    The last of an ordered list of settings that fixed-sequence testing certifies: each setting (one threshold,
    or a tuple of one threshold per exit) is tested in turn for "disagreement rate > epsilon" with the exact
    binomial tail of its disagreements, and the walk stops at the first that does not pass. A setting that
    never exits early (every threshold below the last exit at 1.0) passes without a test.

    # Parameters

    scores : `torch.Tensor`, disagrees : `torch.Tensor`
        As for `select_threshold`.
    settings : `Sequence[ThresholdSetting]`
        From the safest to the most aggressive, fixed before looking at the rows.
    target_agreement : `float`, delta : `float`, optional (default = `0.1`)
    observed : `List[Dict[str, Any]]`, optional (default = `None`)
        `observed_disagreements(scores, disagrees, settings)` when the caller has it already.

    # Returns

    `{"setting", "p_value", "disagreements", "agreement", "num_rows", "epsilon", "delta", "candidates_tested",
    "exit_index", "tested"}`; `tested` lists, per setting tested (the failing one included), its
    `{"setting", "disagreements", "p_value", "passed"}`.

    # Raises

    `TooFewRowsError` when there are fewer rows than `rows_needed(epsilon, delta)`; `ValueError` for bad
    arguments.
    """
    if not 0.0 < target_agreement < 1.0:
        raise ValueError(f"the target agreement must be in (0, 1), got {target_agreement}")
    if not 0.0 < delta < 1.0:
        raise ValueError(f"delta must be in (0, 1), got {delta}")
    num_rows = scores.shape[0]
    epsilon = 1.0 - target_agreement
    needed = rows_needed(epsilon, delta)
    if num_rows < needed:
        raise TooFewRowsError(
            f"{num_rows} calibration rows cannot certify {100 * target_agreement:g}% agreement with probability "
            f"{1 - delta:g}: at least {needed} rows are needed (or a lower target agreement, or a larger delta)"
        )
    if observed is None:
        observed = observed_disagreements(scores, disagrees, settings)
    p_values = binom.cdf(numpy.array([entry["disagreements"] for entry in observed], dtype=float), num_rows, epsilon)
    never_early: ThresholdSetting = 1.0
    chosen: Dict[str, Any] = {"setting": never_early, "p_value": 0.0, "disagreements": 0}
    tested: List[Dict[str, Any]] = []
    for entry, tail in zip(observed, p_values.tolist()):
        setting, disagreements = entry["setting"], entry["disagreements"]
        p_value = float(tail) if entry["early"] else 0.0
        passed = not entry["early"] or p_value <= delta
        tested.append({"setting": setting, "disagreements": disagreements, "p_value": p_value, "passed": passed})
        if not passed:
            break
        chosen = {"setting": setting, "p_value": p_value, "disagreements": disagreements}
    exit_index = first_exits_from_scores(scores, chosen["setting"])
    return {
        **chosen,
        "agreement": 1.0 - chosen["disagreements"] / num_rows,
        "num_rows": num_rows,
        "epsilon": epsilon,
        "delta": delta,
        "candidates_tested": len(tested),
        "exit_index": exit_index,
        "tested": tested,
    }


def observed_disagreements(
    scores: torch.Tensor, disagrees: torch.Tensor, settings: Sequence[ThresholdSetting]
) -> List[Dict[str, Any]]:
    """
    Per setting, in order, `{"setting", "disagreements", "early", "exit_index"}` on the given rows: what
    `rows_for_observed_rates` reads, for every setting (also those after the walk stopped).
    """
    rows = torch.arange(scores.shape[0])
    observed = []
    for start in range(0, len(settings), 256):
        part = list(settings[start:start + 256])
        exit_indices = first_exits_for_settings(scores, part)
        counts = disagrees[rows[None, :], exit_indices].sum(dim=1).tolist()
        for setting, exit_index, disagreements in zip(part, exit_indices, counts):
            observed.append({"setting": setting, "disagreements": int(disagreements),
                             "early": exits_early(setting, scores.shape[1]), "exit_index": exit_index})
    return observed


def exits_early(setting: ThresholdSetting, num_exits: int) -> bool:
    """Whether a setting lets some exit below the last answer (some threshold below 1.0)."""
    if isinstance(setting, (int, float)):
        return setting < 1.0
    return any(value < 1.0 for value in list(setting)[: num_exits - 1])


def binomial_p_value(disagreements: int, num_rows: int, epsilon: float) -> float:
    """
    The p-value of "the disagreement rate exceeds `epsilon`" after `disagreements` in `num_rows` rows: the
    chance of at most that many disagreements if the rate were `epsilon` (the binomial tail).
    """
    return float(binom.cdf(disagreements, num_rows, epsilon))


def rows_for_rate(rate: float, epsilon: float, delta: float, max_rows: int = MAX_ROWS_SEARCHED) -> Optional[int]:
    """
    The fewest selection rows `n` at which a setting whose disagreement rate is `rate` would pass the test if
    that rate held exactly: `binomial_p_value(floor(rate * n), n, epsilon) <= delta`. `None` when `rate >=
    epsilon` (no number of rows suffices) or when more than `max_rows` would be needed. (The tail is not
    monotone in `n`, since `floor(rate * n)` steps; this is the first `n` that passes.)
    """
    if not rate < epsilon:
        return None
    return _rows_for_rate(float(rate), float(epsilon), float(delta), int(max_rows))


@functools.lru_cache(maxsize=4096)
def _rows_for_rate(rate: float, epsilon: float, delta: float, max_rows: int) -> Optional[int]:
    start = rows_needed(epsilon, delta)
    chunk = 100_000
    for first in range(start, max_rows + 1, chunk):
        sizes = numpy.arange(first, min(first + chunk, max_rows + 1))
        passing = binom.cdf(numpy.floor(rate * sizes + 1e-9), sizes, epsilon) <= delta
        if passing.any():
            return int(sizes[numpy.argmax(passing)])
    return None


def rows_for_observed_rates(tested: Sequence[Dict[str, Any]], num_rows: int, epsilon: float, delta: float,
                            max_rows: int = MAX_ROWS_SEARCHED) -> List[Optional[int]]:
    """
    For each setting of a fixed sequence, in order, the selection rows the walk would need to reach it (pass it
    and every setting before it) if each setting's observed disagreement rate (`disagreements / num_rows`)
    held: the largest `rows_for_rate` of the settings up to it. `None` from the first setting that no number
    of rows (up to `max_rows`) would pass.

    # Parameters

    tested : `Sequence[Dict[str, Any]]`
        Per setting at least `{"disagreements"}` (and `"early"`: `False` for a setting that never exits early,
        which needs no rows; missing means early), as `select_setting`'s `tested` or `observed_disagreements`.
    num_rows : `int`
        The rows the disagreements were counted on.
    epsilon : `float`, delta : `float`
    """
    needed: List[Optional[int]] = []
    most = 0
    for entry in tested:
        if entry.get("early", True):
            rows = rows_for_rate(entry["disagreements"] / num_rows, epsilon, delta, max_rows)
            if rows is None:
                break
            most = max(most, rows)
        needed.append(most)
    return needed + [None] * (len(tested) - len(needed))
