"""Metrics of the early-exit models: where rows (or words) exit, layers run and relative FLOPs; tagging quality."""
from sledgehammer.metrics.exit_statistics import ExitStatistics
