"""
Temperature scaling (Guo et al., 2017) and the calibration measures reported by `allennlp calibrate`.

A temperature `T > 0` divides a classifier's logits before the softmax. It does not change which label
is predicted, only how confident the prediction is; `fit_temperature` picks the `T` that minimises the
negative log-likelihood of held-out labels.
"""
from typing import Any, Dict, List, NamedTuple, Sequence

import torch

DEFAULT_NUM_BINS = 15
# Relative tolerance of the confidence bin edges: about 4 float32 rounding steps.
_EDGE_TOLERANCE = 5e-7


class ReliabilityBins(NamedTuple):
    """
    Predictions grouped by confidence (the largest probability of a row) into equal-width bins of
    [0, 1]: bin `i` of `n` holds the confidences in `(i / n, (i + 1) / n]`, and bin 0 also holds
    confidence 0. A confidence within float32 rounding of an edge counts as on the edge. Empty bins have
    accuracy and confidence 0.
    """

    accuracy: List[float]
    """Fraction of the bin's rows whose most probable label is the gold label."""
    confidence: List[float]
    """Mean confidence of the bin's rows."""
    count: List[int]
    """Number of rows in the bin."""

    @property
    def num_bins(self) -> int:
        return len(self.count)

    def expected_calibration_error(self) -> float:
        """`sum over bins of (rows in bin / rows) * |accuracy - confidence|`."""
        total = sum(self.count)
        if total == 0:
            return 0.0
        return sum(
            count / total * abs(accuracy - confidence)
            for accuracy, confidence, count in zip(self.accuracy, self.confidence, self.count)
        )

    def to_dict(self) -> Dict[str, List]:
        return {"accuracy": self.accuracy, "confidence": self.confidence, "count": self.count}


def negative_log_likelihood(logits: torch.Tensor, labels: torch.Tensor, temperature: float = 1.0) -> float:
    """
    Mean negative log-likelihood of `labels` under `softmax(logits / temperature)`.

    # Parameters

    logits : `torch.Tensor`
        `(num_rows, num_labels)` raw logits.
    labels : `torch.Tensor`
        `(num_rows,)` gold label indices.
    temperature : `float`, optional (default = `1.0`)
    """
    _check_shapes(logits, labels)
    scaled = logits.detach().double() / temperature
    return torch.nn.functional.cross_entropy(scaled, labels.long()).item()


def fit_temperature(
    logits: torch.Tensor,
    labels: torch.Tensor,
    max_iter: int = 100,
    min_temperature: float = 1e-4,
    max_temperature: float = 1e4,
) -> float:
    """
    The temperature `T` minimising the mean negative log-likelihood of `labels` under
    `softmax(logits / T)`.

    Optimises `log T` (so `T` stays positive) with L-BFGS and a strong-Wolfe line search, starting at
    `T = 1`. The negative log-likelihood is convex in `1 / T`, so the result is the global optimum, which
    is then clipped to `[min_temperature, max_temperature]` (it runs off to 0 when the logits separate
    the labels perfectly, and to infinity when they carry no information). The result never has a higher
    negative log-likelihood than `T = 1`.

    # Parameters

    logits : `torch.Tensor`
        `(num_rows, num_labels)` raw logits (not already divided by a temperature).
    labels : `torch.Tensor`
        `(num_rows,)` gold label indices.
    max_iter : `int`, optional (default = `100`)
        Maximum number of L-BFGS iterations.
    min_temperature : `float`, optional (default = `1e-4`)
    max_temperature : `float`, optional (default = `1e4`)
    """
    _check_shapes(logits, labels)
    if logits.shape[0] == 0:
        raise ValueError("cannot fit a temperature to 0 rows")
    logits = logits.detach().double()
    labels = labels.detach().long()
    log_temperature = torch.zeros(1, dtype=torch.double, requires_grad=True)
    # Tight tolerances: with logits near 0 the loss is flat in log T, and the defaults stop too early.
    optimizer = torch.optim.LBFGS(
        [log_temperature],
        lr=1.0,
        max_iter=max_iter,
        tolerance_grad=1e-10,
        tolerance_change=1e-14,
        line_search_fn="strong_wolfe",
    )

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        loss = torch.nn.functional.cross_entropy(logits / log_temperature.exp(), labels)
        loss.backward()
        return loss

    with torch.enable_grad():
        optimizer.step(closure)
    temperature = float(log_temperature.detach().exp().clamp(min_temperature, max_temperature))
    if not torch.isfinite(torch.tensor(temperature)):
        return 1.0
    if negative_log_likelihood(logits, labels, temperature) > negative_log_likelihood(logits, labels):
        return 1.0  # numerical trouble; never make things worse
    return temperature


def reliability_bins(
    probs: torch.Tensor, labels: torch.Tensor, num_bins: int = DEFAULT_NUM_BINS
) -> ReliabilityBins:
    """
    Per-bin accuracy, mean confidence and row count of predictions grouped by confidence into
    `num_bins` equal-width bins (see `ReliabilityBins`), as needed for a reliability diagram.

    # Parameters

    probs : `torch.Tensor`
        `(num_rows, num_labels)` predicted probabilities.
    labels : `torch.Tensor`
        `(num_rows,)` gold label indices.
    num_bins : `int`, optional (default = `15`)
    """
    _check_shapes(probs, labels)
    if num_bins < 1:
        raise ValueError(f"num_bins must be at least 1, got {num_bins}")
    probs = probs.detach().double()
    confidence, predicted = probs.max(dim=-1)
    correct = (predicted == labels.long()).double()
    # Bin i holds (i / n, (i + 1) / n]: the bin index is ceil(confidence * n) - 1, and 0 for confidence 0.
    # Confidences a rounding error above an edge (0.6 as a float32 is 0.60000002) count as on the edge.
    scaled = confidence * num_bins
    bins = (torch.ceil(scaled - _EDGE_TOLERANCE * scaled.clamp(min=1)).long() - 1).clamp(0, num_bins - 1)
    count = torch.bincount(bins, minlength=num_bins).double()
    correct_sum = torch.bincount(bins, weights=correct, minlength=num_bins)
    confidence_sum = torch.bincount(bins, weights=confidence, minlength=num_bins)
    safe_count = count.clamp(min=1)
    return ReliabilityBins(
        accuracy=(correct_sum / safe_count).tolist(),
        confidence=(confidence_sum / safe_count).tolist(),
        count=[int(c) for c in count.tolist()],
    )


def expected_calibration_error(
    probs: torch.Tensor, labels: torch.Tensor, num_bins: int = DEFAULT_NUM_BINS
) -> float:
    """
    Expected calibration error: `sum over bins of (rows in bin / rows) * |accuracy - confidence|`,
    with `num_bins` equal-width confidence bins (see `reliability_bins`).

    # Parameters

    probs : `torch.Tensor`
        `(num_rows, num_labels)` predicted probabilities.
    labels : `torch.Tensor`
        `(num_rows,)` gold label indices.
    num_bins : `int`, optional (default = `15`)
    """
    return reliability_bins(probs, labels, num_bins).expected_calibration_error()


def calibrate_exits(
    exit_logits: torch.Tensor,
    labels: torch.Tensor,
    exit_layers: Sequence[int],
    num_bins: int = DEFAULT_NUM_BINS,
    max_iter: int = 100,
) -> List[Dict[str, Any]]:
    """
    Fits one temperature per exit of an early-exit classifier and measures its effect.

    # Parameters

    exit_logits : `torch.Tensor`
        `(num_rows, num_exits, num_labels)` raw logits of every exit.
    labels : `torch.Tensor`
        `(num_rows,)` gold label indices.
    exit_layers : `Sequence[int]`
        The encoder layer of each exit.
    num_bins : `int`, optional (default = `15`)
        Confidence bins of the calibration error and reliability diagram.
    max_iter : `int`, optional (default = `100`)
        Maximum number of L-BFGS iterations per exit.

    # Returns

    One JSON-serialisable dictionary per exit with `exit_layer`, `temperature`, `nll_before`,
    `nll_after`, `ece_before`, `ece_after`, `accuracy`, and the reliability bins (`accuracy`,
    `confidence`, `count` lists) in `reliability_before` and `reliability_after`.
    """
    if exit_logits.dim() != 3 or exit_logits.shape[1] != len(exit_layers):
        raise ValueError(
            f"expected exit logits of shape (rows, {len(exit_layers)} exits, labels), "
            f"got {tuple(exit_logits.shape)}"
        )
    if not torch.isfinite(exit_logits).all():
        raise ValueError("the exit logits contain NaN or infinite values")
    results = []
    for k, layer in enumerate(exit_layers):
        logits = exit_logits[:, k].double()
        temperature = fit_temperature(logits, labels, max_iter=max_iter)
        before = reliability_bins(torch.softmax(logits, dim=-1), labels, num_bins)
        after = reliability_bins(torch.softmax(logits / temperature, dim=-1), labels, num_bins)
        results.append(
            {
                "exit_layer": int(layer),
                "temperature": temperature,
                "nll_before": negative_log_likelihood(logits, labels),
                "nll_after": negative_log_likelihood(logits, labels, temperature),
                "ece_before": before.expected_calibration_error(),
                "ece_after": after.expected_calibration_error(),
                "accuracy": (logits.argmax(dim=-1) == labels.long()).double().mean().item(),
                "reliability_before": before.to_dict(),
                "reliability_after": after.to_dict(),
            }
        )
    return results


def _check_shapes(scores: torch.Tensor, labels: torch.Tensor) -> None:
    if scores.dim() != 2 or labels.dim() != 1 or scores.shape[0] != labels.shape[0]:
        raise ValueError(
            f"expected scores of shape (rows, labels) and labels of shape (rows,), "
            f"got {tuple(scores.shape)} and {tuple(labels.shape)}"
        )
