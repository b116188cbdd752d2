from typing import Any, Dict, List

import torch
from allennlp.nn.util import dist_reduce_sum
from allennlp.training.metrics.metric import Metric


@Metric.register("exit_statistics")
class ExitStatistics(Metric):
    """
    Where rows left an early-exit encoder and what that cost, accumulated over batches.

    Registered as a `Metric` with name "exit_statistics".

    # Parameters

    exit_layers : `List[int]`
        The encoder layer (0-based) of each exit, in order. Keys of the returned metrics name these layers.
    full_layers : `int`
        Layers the encoder runs when no row exits early (the highest exit layer + 1).

    `get_metric` returns `exit_fraction_<layer>` (share of rows answered at that exit), `layers_run`
    (mean layers per row), `relative_layers` (`layers_run / full_layers`) and `relative_flops` (estimated
    FLOPs against running every layer and the last exit head for the same rows).

    `totals()` gives the sums behind these as plain JSON numbers, and `add_totals` adds such sums, so that
    statistics kept in several processes (the actors of a corpus job) combine into one exactly.
    """

    def __init__(self, exit_layers: List[int], full_layers: int) -> None:
        self._exit_layers = list(exit_layers)
        self._full_layers = full_layers
        self.reset()

    def __call__(  # type: ignore[override]
        self, exit_index: torch.Tensor, layers_run: torch.Tensor, flops: torch.Tensor, full_flops: torch.Tensor
    ) -> None:
        """All arguments are `(rows,)` tensors for one batch."""
        exit_index, layers_run, flops, full_flops = self.detach_tensors(exit_index, layers_run, flops, full_flops)
        counts = torch.bincount(exit_index.long().cpu(), minlength=len(self._exit_layers))
        self._exit_counts += dist_reduce_sum(counts).cpu()
        self._rows += dist_reduce_sum(int(exit_index.numel()))
        self._layers += dist_reduce_sum(float(layers_run.sum()))
        self._flops += dist_reduce_sum(float(flops.sum()))
        self._full_flops += dist_reduce_sum(float(full_flops.sum()))

    def get_metric(self, reset: bool = False) -> Dict[str, float]:
        rows = max(self._rows, 1)
        metrics = {
            f"exit_fraction_{layer}": float(count) / rows
            for layer, count in zip(self._exit_layers, self._exit_counts.tolist())
        }
        metrics["layers_run"] = self._layers / rows
        metrics["relative_layers"] = metrics["layers_run"] / self._full_layers
        metrics["relative_flops"] = self._flops / self._full_flops if self._full_flops else 0.0
        if reset:
            self.reset()
        return metrics

    def totals(self) -> Dict[str, Any]:
        """
        The sums counted since the last reset: `exit_layers`, `full_layers`, `exit_counts` (rows per exit),
        `rows`, `layers`, `flops` and `full_flops`, as JSON-serialisable numbers.
        """
        return {
            "exit_layers": list(self._exit_layers),
            "full_layers": self._full_layers,
            "exit_counts": [int(count) for count in self._exit_counts.tolist()],
            "rows": int(self._rows),
            "layers": float(self._layers),
            "flops": float(self._flops),
            "full_flops": float(self._full_flops),
        }

    def add_totals(self, totals: Dict[str, Any]) -> None:
        """
        Adds sums that `totals()` gave (of this metric or another with the same exits).

        # Raises

        `ValueError` when `totals` is of other exits or another number of layers.
        """
        if list(totals["exit_layers"]) != self._exit_layers or totals["full_layers"] != self._full_layers:
            raise ValueError(
                f"cannot add the exit statistics of exits {totals['exit_layers']} over {totals['full_layers']} layers "
                f"to those of exits {self._exit_layers} over {self._full_layers} layers"
            )
        self._exit_counts += torch.tensor(totals["exit_counts"], dtype=torch.long)
        self._rows += int(totals["rows"])
        self._layers += float(totals["layers"])
        self._flops += float(totals["flops"])
        self._full_flops += float(totals["full_flops"])

    @property
    def rows(self) -> int:
        """Rows counted since the last reset."""
        return self._rows

    def reset(self) -> None:
        self._exit_counts = torch.zeros(len(self._exit_layers), dtype=torch.long)
        self._rows = 0
        self._layers = 0.0
        self._flops = 0.0
        self._full_flops = 0.0
