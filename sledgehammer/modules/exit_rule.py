"""
The confidence-threshold exit rule of Schwartz et al. (2020), shared by the model's layer-by-layer loop
and by the offline trade-off analysis so both decide exactly alike.
"""
import torch


def is_confident(probs: torch.Tensor, threshold: float) -> torch.Tensor:
    """
    Returns a `(rows,)` bool tensor: which rows of `probs` (`(rows, labels)`, calibrated probabilities
    at one exit) are confident enough to answer now, i.e. `max(p) >= threshold`. A threshold of 1.0 (or more)
    means "never exit early", even where a probability rounds to exactly 1.0.
    """
    if threshold >= 1.0:
        return torch.zeros(probs.shape[0], dtype=torch.bool, device=probs.device)
    return probs.max(dim=-1).values >= threshold


def first_confident_exit(exit_probs: torch.Tensor, threshold: float) -> torch.Tensor:
    """
    Given every exit's calibrated probabilities `(rows, exits, labels)`, returns the `(rows,)` index of the
    exit that answers under the threshold rule: the first confident exit, else the last one.
    """
    num_exits = exit_probs.shape[1]
    answer = torch.full((exit_probs.shape[0],), num_exits - 1, dtype=torch.long, device=exit_probs.device)
    undecided = torch.ones_like(answer, dtype=torch.bool)
    for k in range(num_exits - 1):
        now = undecided & is_confident(exit_probs[:, k], threshold)
        answer[now] = k
        undecided &= ~now
    return answer
