"""
The training losses of multi-exit models, shared by the classifier and the tagger: how the exits'
cross-entropies are weighted, and the extra term that trains the lower exits toward the last exit.
"""
from typing import List, Sequence

import torch
from allennlp.common.checks import ConfigurationError

LOSS_WEIGHTINGS = ("sum", "depth")
EXIT_TARGETS = ("gold", "distill", "consistency")


def exit_loss_weights(exit_layers: Sequence[int], weighting: str, depth_total: float) -> List[float]:
    """
    One weight per exit's cross-entropy: 1 each for `"sum"`; for `"depth"`, exit layer + 1 scaled so the weights
    add up to `depth_total` (the number of exits keeps the average at 1; 1.0 is Li et al.'s normalised sum).
    """
    if weighting not in LOSS_WEIGHTINGS:
        raise ConfigurationError(f"loss_weighting must be 'sum' or 'depth', got {weighting!r}")
    if weighting == "sum":
        return [1.0] * len(exit_layers)
    depth = sum(layer + 1 for layer in exit_layers)
    return [(layer + 1) * depth_total / depth for layer in exit_layers]


def check_exit_targets(exit_targets: str, weight: float, temperature: float) -> None:
    """A `ConfigurationError` unless `exit_targets` is known, `weight >= 0` and `temperature > 0`."""
    if exit_targets not in EXIT_TARGETS:
        raise ConfigurationError(f"exit_targets must be one of {', '.join(EXIT_TARGETS)}, got {exit_targets!r}")
    if not weight >= 0 or not temperature > 0:
        raise ConfigurationError(
            f"distillation_weight must be >= 0 and distillation_temperature > 0, got {weight!r} and {temperature!r}"
        )


def loss_towards_last_exit(exit_logits: torch.Tensor, exit_targets: str, temperature: float) -> torch.Tensor:
    """
    The sum over the lower exits of their loss against the last exit's detached output, averaged over rows:
    `T^2 * KL(softmax(z_last / T) || softmax(z_k / T))` for `"distill"` (FastBERT), the cross-entropy on the last
    exit's argmax for `"consistency"` (CATs). `exit_logits` is `(rows, exits, labels)`; no gradient reaches the
    last exit through this term.
    """
    target_logits = exit_logits[:, -1].detach()
    lower = exit_logits[:, :-1]
    if exit_targets == "consistency":
        target = target_logits.argmax(dim=-1)
        return sum(torch.nn.functional.cross_entropy(lower[:, k], target) for k in range(lower.shape[1]))
    target = torch.log_softmax(target_logits / temperature, dim=-1)[:, None].expand_as(lower)
    log_probs = torch.log_softmax(lower / temperature, dim=-1)
    divergence = torch.nn.functional.kl_div(log_probs, target, reduction="none", log_target=True)
    return divergence.sum(dim=(1, 2)).mean() * temperature ** 2
