"""
The records a trade-off analysis passes between its modules (computed in `tradeoff.py`/`tagger_tradeoff.py`,
timed in `tradeoff_report.py`/`tagger_tradeoff_report.py`, formatted, plotted and written by the `*_format.py`
and `report_files.py` modules). They are plain dictionaries, as the JSON reports hold them, typed here so that
every module names the same fields.
"""
from typing import List, Optional, TypedDict



class _Timing(TypedDict, total=False):
    """Measured wall clock of a row, when the report is timed (`--time`)."""

    seconds_per_instance_b1: float
    speedup_b1: float
    seconds_per_instance_bN: float
    speedup_bN: float


class TradeoffRow(_Timing):
    """One classifier setting: an early-exit threshold of a policy, a static exit, the oracles, the full model."""

    kind: str
    name: str
    policy: Optional[str]
    threshold: Optional[float]
    accuracy: Optional[float]
    mean_layers: float
    relative_layers: float
    relative_flops: float
    exit_fractions: List[float]
    agreement_with_last_exit: Optional[float]


class OracleShare(TypedDict):
    """A policy's cheapest threshold at a minimum agreement with the last exit, against the consistency oracle."""

    policy: str
    min_agreement: float
    threshold: Optional[float]
    agreement_with_last_exit: Optional[float]
    saved_flops: float
    oracle_saved_flops: float
    share_of_oracle_savings: Optional[float]


class TaggerTradeoffRow(_Timing, total=False):
    """One tagger setting: static exit, sentence- or token-level exit at a threshold (and window), oracle, full."""

    kind: str
    name: str
    family: str
    threshold: Optional[float]
    window: Optional[int]
    exit_layer: Optional[int]
    quality: float
    relative_flops: float
    mean_layers: float
    agreement_with_last_exit: float
    exit_fractions: List[float]
    same_tags_b1_bN: float
