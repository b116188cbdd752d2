"""The predictors of the classifier and the tagger (JSON in, the documented keys out, per-input thresholds)."""
from sledgehammer.predictors.early_exit_predictor import EarlyExitPredictor
from sledgehammer.predictors.early_exit_tagger_predictor import EarlyExitTaggerPredictor
