import torch

from sledgehammer.modules.exit_policies.exit_policy import ExitPolicy


@ExitPolicy.register("confidence")
class ConfidencePolicy(ExitPolicy):
    """
    Schwartz et al. (2020): an exit answers when its largest calibrated probability reaches the threshold.
    The default policy, and the only rule of archives made before exit policies existed.

    Registered as an `ExitPolicy` with name "confidence".

    # Parameters

    threshold : `float`, optional (default = `1.0`)
        The largest probability an exit needs to answer, in [0, 1].
    exit_thresholds : `List[float]`, optional (default = `None`)
        One threshold per exit in place of `threshold` (see `ExitPolicy`).
    """

    def score(self, exit_probs: torch.Tensor, num_exits: int) -> torch.Tensor:
        return exit_probs[:, -1].max(dim=-1).values
