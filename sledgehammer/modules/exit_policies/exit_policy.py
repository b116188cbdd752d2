"""
The base class of exit policies: the decision "may this row answer at this exit?", shared by the model's
layer-by-layer loop (online, one exit at a time) and the offline analysis (`tradeoff`, `calibrate`), so both
decide exactly alike.
"""
from typing import Any, List, Optional, Sequence

import torch
from allennlp.common import Registrable
from allennlp.common.checks import ConfigurationError


def calibrated_probs(exit_logits: torch.Tensor, temperatures: torch.Tensor) -> torch.Tensor:
    """
    `softmax(logits / temperature)` in float32 for logits of shape `(..., labels)` and one temperature per
    leading row of the last-but-one dimension broadcast as given: `(rows, exits, labels)` logits with
    `(exits,)` temperatures, or `(rows, labels)` logits with a scalar temperature. The model and the
    offline analysis both call this, so that they see the same probabilities.
    """
    if exit_logits.dim() == 3:
        temperatures = temperatures[None, :, None]
    return torch.softmax(exit_logits.float() / temperatures.float(), dim=-1)


class ThresholdError(ConfigurationError, ValueError):
    """A threshold that is not a number in [0, 1] (a `ConfigurationError`, and a `ValueError` for library callers)."""


def check_threshold(value: Any, name: str = "threshold") -> float:
    """`value` as a float if it is a number in [0, 1] (not a bool, not NaN), else a `ThresholdError` naming `name`."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
        raise ThresholdError(f"{name} must be a number in [0, 1], got {value!r}")
    return float(value)


class ExitPolicy(Registrable):
    """
    Decides at which exit a row answers. At exit `k` a policy reads the calibrated probabilities of
    exits `0 … k` (`(rows, k + 1, labels)`), turns them into a score in [0, 1] per row (`score`), and the row
    answers when its score is at least `threshold`; the last exit always answers. `threshold` is the
    policy's one runtime knob, set exactly like the classifier's threshold always was
    (`--overrides '{"threshold": 0.9}'`): 1.0 never exits early, 0.0 always answers at the first exit, and
    raising it never makes a row leave earlier.

    Subclasses implement `score`; they are registered as `ExitPolicy`s with names (`"confidence"`, the
    default, `"entropy"`, `"patience"`, `"agreement"`) and chosen with the model's `exit_policy` parameter.

    # Parameters

    threshold : `float`, optional (default = `1.0`)
        The score an exit needs to answer, in [0, 1].
    """

    default_implementation = "confidence"
    # Whether the scores take only a few values, so that `candidate_thresholds` lists every distinct setting.
    discrete = False

    def __init__(self, threshold: float = 1.0) -> None:
        self.threshold = threshold

    @property
    def threshold(self) -> float:
        return self._threshold

    @threshold.setter
    def threshold(self, value: float) -> None:
        self._threshold = check_threshold(value)

    @property
    def name(self) -> str:
        """The registered name of this policy's class."""
        for name, (subclass, _) in Registrable._registry[ExitPolicy].items():
            if subclass is type(self):
                return name
        return type(self).__name__

    def score(self, exit_probs: torch.Tensor, num_exits: int) -> torch.Tensor:
        """
        The `(rows,)` scores in [0, 1] for answering at exit `k = exit_probs.shape[1] - 1`.

        # Parameters

        exit_probs : `torch.Tensor`
            Calibrated probabilities of exits `0 … k`, `(rows, k + 1, labels)`.
        num_exits : `int`
            How many exits the model has (the last one always answers).
        """
        raise NotImplementedError

    def should_exit(
        self, exit_probs: torch.Tensor, num_exits: int, threshold: Optional[torch.Tensor] = None
    ) -> torch.Tensor:
        """
        The `(rows,)` bool decision to answer at exit `k = exit_probs.shape[1] - 1`: `score >= threshold`,
        never at threshold 1.0 (even where a score rounds to exactly 1.0). `threshold`, when given, holds one
        threshold per row `(rows,)` in place of the policy's own (rows with different thresholds in one batch).
        """
        if threshold is not None:
            return (self.score(exit_probs, num_exits) >= threshold) & (threshold < 1.0)
        if self._threshold >= 1.0:
            return torch.zeros(exit_probs.shape[0], dtype=torch.bool, device=exit_probs.device)
        return self.score(exit_probs, num_exits) >= self._threshold

    def exit_scores(self, exit_probs: torch.Tensor) -> torch.Tensor:
        """
        Every exit's score for every row, `(rows, exits)`, from all exits' calibrated probabilities
        `(rows, exits, labels)`, computed exit by exit from the same prefixes the model's loop sees. The last
        column is 1 (the last exit always answers).
        """
        num_rows, num_exits, _ = exit_probs.shape
        scores = torch.ones(num_rows, num_exits, dtype=torch.float, device=exit_probs.device)
        for k in range(num_exits - 1):
            scores[:, k] = self.score(exit_probs[:, : k + 1], num_exits).float()
        return scores

    def first_exits(self, exit_probs: torch.Tensor) -> torch.Tensor:
        """
        The `(rows,)` index of the exit each row answers at, given every exit's calibrated probabilities
        `(rows, exits, labels)`: what the model's loop decides for the same probabilities.
        """
        return first_exits_from_scores(self.exit_scores(exit_probs), self._threshold)

    def candidate_thresholds(self, num_exits: int) -> List[float]:
        """
        Thresholds worth trying, from the safest (1.0) to the most aggressive (0.0), fixed before any data
        is seen (what the threshold search of `calibrate` walks through): 1.0, then 0.999 down to 0.0 in steps
        of 0.001. Policies whose scores take few values override this.
        """
        return [round(1.0 - i / 1000.0, 3) for i in range(1001)]

    def configuration(self) -> dict:
        """The policy's parameters as they go into an archive's config (`model.exit_policy`)."""
        return {"type": self.name, "threshold": self._threshold}


def first_exits_from_scores(scores: torch.Tensor, threshold: float) -> torch.Tensor:
    """
    Per row of `(rows, exits)` scores, the first exit whose score reaches `threshold` (never one below the last
    at threshold 1.0), else the last exit.
    """
    num_rows, num_exits = scores.shape
    if threshold >= 1.0:
        return torch.full((num_rows,), num_exits - 1, dtype=torch.long, device=scores.device)
    passes = scores >= threshold
    passes[:, -1] = True
    columns = torch.arange(num_exits, device=scores.device).expand_as(passes)
    return torch.where(passes, columns, torch.full_like(columns, num_exits - 1)).min(dim=1).values


def check_thresholds(thresholds: Sequence[float]) -> None:
    """Raises a `ThresholdError` (a `ValueError`) unless every threshold is a number in [0, 1]."""
    for threshold in thresholds:
        check_threshold(threshold, "thresholds")
