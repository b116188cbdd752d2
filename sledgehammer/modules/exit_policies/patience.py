from typing import List

import torch

from sledgehammer.modules.exit_policies.exit_policy import ExitPolicy


@ExitPolicy.register("patience")
class PatiencePolicy(ExitPolicy):
    """
    PABEE (Zhou et al., 2020): an exit answers when it and the `patience` exits just below it all predict the
    same label. To keep one knob in [0, 1] for every policy, the score at exit `k` is the number of
    consecutive exits just below `k` that agree with it, divided by the number of exits minus one; the
    threshold `t` thus means `patience = ceil(t * (exits - 1))` (with 6 exits: 0.2 is patience 1, 0.4 is 2,
    …; 0.0 answers at the first exit and 1.0 never exits early). Labels are compared after the softmax, so
    temperatures do not change the decisions.

    Registered as an `ExitPolicy` with name "patience".

    # Parameters

    threshold : `float`, optional (default = `1.0`)
        The agreeing run an exit needs, as a share of the exits below the last one, in [0, 1].
    exit_thresholds : `List[float]`, optional (default = `None`)
        One threshold per exit in place of `threshold` (see `ExitPolicy`).
    """

    discrete = True

    def score(self, exit_probs: torch.Tensor, num_exits: int) -> torch.Tensor:
        labels = exit_probs.argmax(dim=-1)  # (rows, k + 1)
        agrees = labels[:, :-1] == labels[:, -1:]
        # Length of the run of agreeing exits that ends just below exit k.
        run = agrees.flip(1).long().cumprod(dim=1).sum(dim=1)
        return run.float() / max(num_exits - 1, 1)

    def candidate_thresholds(self, num_exits: int) -> List[float]:
        steps = max(num_exits - 1, 1)
        return [run / steps for run in range(steps, -1, -1)]
