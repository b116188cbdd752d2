"""
Floating-point operation estimates for a transformer encoder with exit heads.

A multiply-add counts as two operations. Per layer and row of `n` word pieces with hidden size `h`,
feed-forward size `f`: query/key/value/output projections `8 n h^2`, attention scores and weighted sum
`4 n^2 h`, feed-forward `4 n h f`, layer norms and activations `~12 n h`. Embeddings (three look-ups summed,
a layer norm): `~8 n h`. One exit head: mean pooling over the tokens `n h` (first-token pooling: 0), the
pooler dense + tanh `2 h^2 + h` when used, linear to `c` labels `2 h c`. Estimates, not measurements: they make runs on different machines comparable.
"""
from dataclasses import dataclass
from typing import Sequence, Union

import torch


@dataclass(frozen=True)
class InferenceCost:
    """
    The cost model of one encoder with exit heads.

    # Parameters

    hidden_size : `int`
    intermediate_size : `int`
        The feed-forward layer's inner size.
    num_labels : `int`
    has_pooler : `bool`
        Whether each exit head runs the encoder's pooler (dense + tanh) before its linear layer.
    mean_pooling : `bool`
        Whether each exit head averages the token vectors (else it takes the first token's).
    """

    hidden_size: int
    intermediate_size: int
    num_labels: int
    has_pooler: bool = True
    mean_pooling: bool = False

    def embedding_flops(self, lengths: torch.Tensor) -> torch.Tensor:
        return (8.0 * self.hidden_size) * lengths.double()

    def layer_flops(self, lengths: torch.Tensor) -> torch.Tensor:
        # 8 n h^2 + 4 n h f + 12 n h + 4 n^2 h, factored as n (a + b n): few tensor ops on a hot path.
        h, f = self.hidden_size, self.intermediate_size
        n = lengths.double()
        return n * ((8.0 * h * h + 4.0 * h * f + 12.0 * h) + (4.0 * h) * n)

    def exit_head_flops(self, lengths: torch.Tensor) -> torch.Tensor:
        pooler = 2.0 * self.hidden_size**2 + self.hidden_size if self.has_pooler else 0.0
        fixed = pooler + 2.0 * self.hidden_size * self.num_labels
        if self.mean_pooling:
            return float(self.hidden_size) * lengths.double() + fixed
        return torch.full(lengths.shape, fixed, dtype=torch.double, device=lengths.device)

    def flops(
        self,
        lengths: torch.Tensor,
        layers_run: Union[torch.Tensor, int],
        heads_run: Union[torch.Tensor, int],
    ) -> torch.Tensor:
        """
        Per-row FLOPs `(rows,)` of embedding, `layers_run` layers and `heads_run` exit heads: `(rows,)`
        tensors, or one number for every row.
        """
        n = lengths.double()
        return self.embedding_flops(n) + layers_run * self.layer_flops(n) + heads_run * self.exit_head_flops(n)

    def answering_flops(
        self,
        lengths: torch.Tensor,
        exit_index: torch.Tensor,
        exit_layers: Sequence[int],
        early_exit: bool = True,
    ) -> torch.Tensor:
        """
        Per-row FLOPs `(rows,)` of rows answering at exits `exit_index` (`(rows,)`, 0-based among the exits on
        the 0-based encoder layers `exit_layers`): every layer up to the answering exit's, and with early exit
        the head of every exit passed, the answering one included (else one head, as a truncated model pays).
        """
        layers = torch.tensor([int(layer) + 1 for layer in exit_layers], dtype=torch.long, device=exit_index.device)
        heads = exit_index + 1 if early_exit else 1
        return self.flops(lengths, layers[exit_index], heads)
