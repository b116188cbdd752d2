import math

import torch

from sledgehammer.modules.exit_policies.exit_policy import ExitPolicy


@ExitPolicy.register("entropy")
class EntropyPolicy(ExitPolicy):
    """
    DeeBERT (Xin et al., 2020): an exit answers when the entropy of its calibrated distribution is low. The
    score is `1 - H(p) / ln(labels)` (1 for a one-hot distribution, 0 for a uniform one), so the threshold
    `t` answers when the normalised entropy is at most `1 - t`.

    Registered as an `ExitPolicy` with name "entropy".

    # Parameters

    threshold : `float`, optional (default = `1.0`)
        The score an exit needs to answer, in [0, 1].
    exit_thresholds : `List[float]`, optional (default = `None`)
        One threshold per exit in place of `threshold` (see `ExitPolicy`).
    """

    def score(self, exit_probs: torch.Tensor, num_exits: int) -> torch.Tensor:
        probs = exit_probs[:, -1]
        entropy = torch.special.entr(probs).sum(dim=-1)
        return (1.0 - entropy / math.log(probs.shape[-1])).clamp(0.0, 1.0)
