"""
Which configured model types are early-exit classifiers: `sledgehammer_classifier` and every registered
subclass of `EarlyExitClassifier`, decided by class, not by registered name.
"""
from typing import Any, Optional

from allennlp.common.checks import ConfigurationError
from allennlp.models import Model


def registered_model_class(model_type: Any) -> Optional[type]:
    """
    The `Model` class that a config's `model.type` names (a registered name, or a dotted class path as
    AllenNLP resolves it), or `None` when it names none.
    """
    if not isinstance(model_type, str) or not model_type:
        return None
    try:
        model_class = Model.by_name(model_type)
    except ConfigurationError:
        return None
    return model_class if isinstance(model_class, type) else None


def is_early_exit_model_type(model_type: Any) -> bool:
    """Whether `model_type` names `EarlyExitClassifier` or a subclass of it."""
    from sledgehammer.models.early_exit_classifier import EarlyExitClassifier  # imported late: models import common

    model_class = registered_model_class(model_type)
    return model_class is not None and issubclass(model_class, EarlyExitClassifier)
