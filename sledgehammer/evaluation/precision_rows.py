"""
Trade-off rows of the same early-exit classifier in another precision (`allennlp tradeoff --precisions fp32,int8`):
the int8 model's curve beside the fp32 one.

A row of a precision other than fp32 is named `"<precision>:<name>"` (e.g. `"int8:threshold=0.9"`, `"int8:full"`,
the timing key too) and carries `"precision"`; with `--precisions` the fp32 rows carry `"precision": "fp32"` as well,
without it no row has the key (the reports are as before). A row without the key is an fp32 row.
"""
from typing import Any, Dict, List, Sequence

from sledgehammer.evaluation.exit_outputs import ExitOutputs
from sledgehammer.evaluation.records import TradeoffRow
from sledgehammer.evaluation.tradeoff import compute_tradeoff
from sledgehammer.models import EarlyExitClassifier
from sledgehammer.models.precision import FP32
from sledgehammer.modules.exit_policies import ExitPolicy


def precision_name(precision: str, name: str) -> str:
    """A row's (and timing variant's) name in `precision`: `name` itself for fp32, else `"int8:name"`."""
    return name if precision == FP32 else f"{precision}:{name}"


def row_precision(row: Dict[str, Any]) -> str:
    """The precision of a trade-off row (fp32 when the row does not say)."""
    return row.get("precision") or FP32


def mark_precision(rows: List[TradeoffRow], precision: str) -> List[TradeoffRow]:
    """Names each row in `precision` (`precision_name`) and adds its `"precision"` key, in place; returns `rows`."""
    for row in rows:
        row["name"] = precision_name(precision, row["name"])
        row["precision"] = precision
    return rows


def precision_tradeoff(
    precision: str,
    model: EarlyExitClassifier,
    outputs: ExitOutputs,
    thresholds: Sequence[float],
    policies: Sequence[ExitPolicy],
) -> List[TradeoffRow]:
    """
    The trade-off rows (`compute_tradeoff`) of `model` loaded in `precision`, with its own temperatures and
    policies, from its every-exit `outputs` on the same rows as the fp32 model's, marked with `precision`.
    """
    rows = compute_tradeoff(
        outputs, thresholds, temperatures=model.temperatures, exit_layers=model.exit_layers, cost=model.cost,
        full_layers=model.num_encoder_layers, policies=policies,
    )
    return mark_precision(rows, precision)
