"""
Measuring early-exit classifiers and taggers: every exit's outputs, speed/accuracy trade-off reports (a
classifier's offline from one pass, a tagger's online per setting), interleaved timing, and the tables, files
and plots `allennlp tradeoff` writes.
"""
from sledgehammer.evaluation.exit_outputs import ExitOutputs, collect_exit_outputs
from sledgehammer.evaluation.tradeoff import (
    FULL,
    KINDS,
    ORACLE_ACCURACY,
    ORACLE_CONSISTENCY,
    SEPARATE,
    STATIC,
    THRESHOLD,
    compute_tradeoff,
    oracle_savings_share,
    pick_threshold,
    policy_thresholds,
    separate_model_row,
    static_name,
    threshold_name,
)
from sledgehammer.evaluation.timing import measure_seconds
from sledgehammer.evaluation.tradeoff_plot import plot_tradeoff
