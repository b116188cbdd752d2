"""
Floating-point operation estimates for a transformer encoder with exit heads.

A multiply-add counts as two operations. Per layer and row of `n` word pieces with hidden size `h`,
feed-forward size `f`: query/key/value/output projections `8 n h^2`, attention scores and weighted sum
`4 n^2 h`, feed-forward `4 n h f`, layer norms and activations `~12 n h`. Embeddings (three look-ups summed,
a layer norm): `~8 n h`. One exit head: mean pooling over the tokens `n h` (first-token pooling: 0), the
pooler dense + tanh `2 h^2 + h` when used, linear to `c` labels `2 h c`. Estimates, not measurements: they make runs on different machines comparable.
"""
from dataclasses import dataclass

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
        return 8.0 * lengths * self.hidden_size

    def layer_flops(self, lengths: torch.Tensor) -> torch.Tensor:
        n, h, f = lengths.double(), self.hidden_size, self.intermediate_size
        return 8.0 * n * h * h + 4.0 * n * n * h + 4.0 * n * h * f + 12.0 * n * h

    def exit_head_flops(self, lengths: torch.Tensor) -> torch.Tensor:
        pooler = 2.0 * self.hidden_size**2 + self.hidden_size if self.has_pooler else 0.0
        pooling = lengths.double() * self.hidden_size if self.mean_pooling else 0.0 * lengths.double()
        return pooling + pooler + 2.0 * self.hidden_size * self.num_labels

    def flops(self, lengths: torch.Tensor, layers_run: torch.Tensor, heads_run: torch.Tensor) -> torch.Tensor:
        """Per-row FLOPs of embedding, `layers_run` layers and `heads_run` exit heads (`(rows,)` tensors)."""
        lengths = lengths.double()
        return (
            self.embedding_flops(lengths)
            + layers_run.double() * self.layer_flops(lengths)
            + heads_run.double() * self.exit_head_flops(lengths)
        )
