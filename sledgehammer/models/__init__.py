"""
The early-exit models: the core both share (`EarlyExitModel`: exits, runner, temperatures, policy, threshold,
cost model, the `settings` API), the classifier and the tagger with their heads and exit loops, and the tagger's
self-sampling fine-tuning (its trainer callback and its training-time exit plans).
"""
from sledgehammer.models.early_exit_model import EarlyExitModel
from sledgehammer.models.early_exit_classifier import EarlyExitClassifier
from sledgehammer.models.early_exit_tagger import EarlyExitTagger
from sledgehammer.models import self_sampling_callback  # noqa: F401  (registers the trainer callback)
