"""
Floating-point operation estimates for token-level early exit, on top of `InferenceCost`'s conventions.

When only `r` of a row's `n` word pieces run a layer, keys and values are still projected for all `n`
(`4 n h^2`), while the query and attention-output projections (`4 r h^2`), the attention scores and weighted
sum over all `n` keys (`4 r n h`), the feed-forward block (`4 r h f`) and the layer norms and activations
(`12 r h`) are computed for the running pieces only. With `r = n` this is `InferenceCost.layer_flops`. A
word's exit head is a linear layer on its first piece: `2 h c` for `c` labels, per word it is computed for.
"""
from dataclasses import dataclass
from typing import Union

import torch

from sledgehammer.modules.inference_cost import InferenceCost


@dataclass(frozen=True)
class TaggingInferenceCost(InferenceCost):
    """
    The cost model of an encoder with a token classifier on its exits. Built with `has_pooler=False`
    and `mean_pooling=False` (a word's head reads its first piece).
    """

    def partial_layer_flops(self, lengths: torch.Tensor, running: Union[torch.Tensor, int]) -> torch.Tensor:
        """Per-row FLOPs `(rows,)` of one layer in which `running` of each row's `lengths` pieces run."""
        h, f = self.hidden_size, self.intermediate_size
        n = lengths.double()
        r = running.double() if isinstance(running, torch.Tensor) else float(running)
        return (4.0 * h * h) * n + r * ((4.0 * h * h + 4.0 * h * f + 12.0 * h) + (4.0 * h) * n)

    def word_head_flops(self, words: Union[torch.Tensor, int]) -> Union[torch.Tensor, float]:
        """FLOPs of one exit head for `words` words."""
        return (2.0 * self.hidden_size * self.num_labels) * (words.double() if isinstance(words, torch.Tensor) else words)
