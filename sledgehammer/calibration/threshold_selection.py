"""
A threshold with a guarantee: Learn-then-Test (Angelopoulos et al., 2021) with fixed-sequence testing, as CALM
(Schuster et al., 2022) uses it for early exit.

The risk of a threshold is the share of rows whose answer differs from the last exit's. Candidate thresholds
are walked from the safest (1.0, which never exits early and so never disagrees) to the most aggressive; each
is tested for "risk > epsilon" with the exact binomial tail of its disagreements on the calibration rows
(scipy), and the walk stops at the first candidate whose p-value exceeds delta. The last candidate that passed
has, with probability at least 1 - delta over the draw of the calibration rows, risk at most epsilon on new
rows of the same distribution (given that the scores were fixed before these rows were seen).
"""
import math
from typing import Any, Dict, Sequence

import torch
from scipy.stats import binom

from sledgehammer.modules.exit_policies import first_exits_from_scores


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
    rows = torch.arange(num_rows)
    chosen = {"threshold": 1.0, "p_value": 0.0, "disagreements": 0}
    tested = 0
    for threshold in candidates:
        exit_index = first_exits_from_scores(scores, threshold)
        disagreements = int(disagrees[rows, exit_index].sum())
        p_value = float(binom.cdf(disagreements, num_rows, epsilon))
        tested += 1
        if threshold < 1.0 and p_value > delta:
            break
        chosen = {"threshold": float(threshold), "p_value": p_value if threshold < 1.0 else 0.0,
                  "disagreements": disagreements}
    exit_index = first_exits_from_scores(scores, chosen["threshold"])
    return {
        **chosen,
        "agreement": 1.0 - chosen["disagreements"] / num_rows,
        "num_rows": num_rows,
        "epsilon": epsilon,
        "delta": delta,
        "candidates_tested": tested,
        "exit_index": exit_index,
    }
