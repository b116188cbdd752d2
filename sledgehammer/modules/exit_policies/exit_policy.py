"""
The base class of exit policies: the decision "may this row answer at this exit?", shared by the model's
layer-by-layer loop (online, one exit at a time) and the offline analysis (`tradeoff`, `calibrate`), so both
decide exactly alike.
"""
from typing import Any, List, Optional, Sequence, Tuple, Union

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


# A threshold setting: one threshold for every exit, or one per exit (a tuple, exit order).
ThresholdSetting = Union[float, Tuple[float, ...]]


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
    exit_thresholds : `List[float]`, optional (default = `None`)
        One threshold per exit (exit order, the last one included though the last exit always answers), in
        place of `threshold` at every exit: e.g. a lower threshold at exit 0 than at later exits. `None` applies
        `threshold` to every exit. Setting `threshold` afterwards clears them (one threshold again).
    """

    default_implementation = "confidence"
    # Whether the scores take only a few values, so that `candidate_thresholds` lists every distinct setting.
    discrete = False

    def __init__(self, threshold: float = 1.0, exit_thresholds: Optional[List[float]] = None) -> None:
        self.threshold = threshold
        if exit_thresholds is not None:
            self.exit_thresholds = exit_thresholds

    @property
    def threshold(self) -> float:
        return self._threshold

    @threshold.setter
    def threshold(self, value: float) -> None:
        self._threshold = check_threshold(value)
        self._exit_thresholds: Optional[Tuple[float, ...]] = None

    @property
    def exit_thresholds(self) -> Optional[Tuple[float, ...]]:
        """The per-exit thresholds (a tuple in exit order), or `None` when `threshold` applies to every exit."""
        return self._exit_thresholds

    @exit_thresholds.setter
    def exit_thresholds(self, values: Optional[Sequence[float]]) -> None:
        if values is None:
            self._exit_thresholds = None
            return
        if isinstance(values, (str, bytes)) or not isinstance(values, Sequence) or len(values) == 0:
            raise ThresholdError(f"exit_thresholds must be a list of numbers in [0, 1], one per exit; got {values!r}")
        self._exit_thresholds = tuple(check_threshold(value, "every exit threshold") for value in values)

    @property
    def setting(self) -> ThresholdSetting:
        """What decides: the per-exit thresholds when set, else the one `threshold`."""
        return self._exit_thresholds if self._exit_thresholds is not None else self._threshold

    @setting.setter
    def setting(self, value: ThresholdSetting) -> None:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            self.threshold = value
        else:
            self.exit_thresholds = list(value)

    def threshold_at(self, exit_index: int, num_exits: int) -> float:
        """The threshold of exit `exit_index` of a model with `num_exits` exits."""
        if self._exit_thresholds is None:
            return self._threshold
        check_setting(self._exit_thresholds, num_exits)
        return self._exit_thresholds[exit_index]

    def exits_early(self, num_exits: int) -> bool:
        """Whether some exit below the last may answer (some threshold below 1)."""
        return any(self.threshold_at(k, num_exits) < 1.0 for k in range(num_exits - 1))

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
        The `(rows,)` bool decision to answer at exit `k = exit_probs.shape[1] - 1`: `score >= threshold`
        (exit `k`'s own threshold with `exit_thresholds`), never at threshold 1.0 (even where a score rounds to exactly 1.0). `threshold`, when given, holds one
        threshold per row `(rows,)` in place of the policy's own (rows with different thresholds in one batch).
        """
        if threshold is not None:
            return (self.score(exit_probs, num_exits) >= threshold) & (threshold < 1.0)
        own = self.threshold_at(exit_probs.shape[1] - 1, num_exits)
        if own >= 1.0:
            return torch.zeros(exit_probs.shape[0], dtype=torch.bool, device=exit_probs.device)
        return self.score(exit_probs, num_exits) >= own

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
        return first_exits_from_scores(self.exit_scores(exit_probs), self.setting)

    def candidate_thresholds(self, num_exits: int) -> List[float]:
        """
        Thresholds worth trying, from the safest (1.0) to the most aggressive (0.0), fixed before any data
        is seen (what the threshold search of `calibrate` walks through): 1.0, then 0.999 down to 0.0 in steps
        of 0.001. Policies whose scores take few values override this.
        """
        return [round(1.0 - i / 1000.0, 3) for i in range(1001)]

    def configuration(self) -> dict:
        """The policy's parameters as they go into an archive's config (`model.exit_policy`)."""
        configuration: dict = {"type": self.name, "threshold": self._threshold}
        if self._exit_thresholds is not None:
            configuration["exit_thresholds"] = list(self._exit_thresholds)
        return configuration


def check_setting(setting: ThresholdSetting, num_exits: int) -> None:
    """A `ThresholdError` unless `setting` is one threshold, or one threshold per exit of `num_exits`."""
    if isinstance(setting, (int, float)):
        return
    if len(setting) != num_exits:
        raise ThresholdError(
            f"exit_thresholds must hold one threshold per exit ({num_exits}), got {len(setting)}: {list(setting)}"
        )


def first_exits_from_scores(scores: torch.Tensor, threshold: ThresholdSetting) -> torch.Tensor:
    """
    Per row of `(rows, exits)` scores, the first exit whose score reaches `threshold` (never one below the last
    at threshold 1.0), else the last exit. `threshold` is one threshold for every exit, or one per exit (a
    sequence in exit order): what `ExitPolicy.should_exit` decides exit by exit.
    """
    return first_exits_for_settings(scores, [threshold])[0]


def first_exits_for_settings(
    scores: torch.Tensor, settings: Sequence[ThresholdSetting], chunk: int = 64
) -> torch.Tensor:
    """
    `first_exits_from_scores` for many settings at once: `(settings, rows)` exit indices, each row of the result
    the first exit whose score reaches that setting's threshold at that exit (none below the last at a threshold
    of 1.0), else the last exit.
    """
    num_rows, num_exits = scores.shape
    limits = torch.empty(len(settings), num_exits, dtype=scores.dtype, device=scores.device)
    for i, setting in enumerate(settings):
        if isinstance(setting, (int, float)):
            limits[i] = float(setting)
        else:
            check_setting(setting, num_exits)
            limits[i] = torch.tensor([float(value) for value in setting], dtype=scores.dtype)
    exits = torch.empty(len(settings), num_rows, dtype=torch.long, device=scores.device)
    for start in range(0, len(settings), chunk):
        part = limits[start:start + chunk, None, :]
        passes = (scores[None] >= part) & (part < 1.0)
        passes[..., -1] = True
        exits[start:start + chunk] = passes.to(torch.uint8).argmax(dim=2)
    return exits


def check_thresholds(thresholds: Sequence[float]) -> None:
    """Raises a `ThresholdError` (a `ValueError`) unless every threshold is a number in [0, 1]."""
    for threshold in thresholds:
        check_threshold(threshold, "thresholds")
