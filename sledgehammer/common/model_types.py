"""
Which configured model types are early-exit models: `sledgehammer_classifier`, `sledgehammer_tagger` and every
registered subclass of either, decided by class, not by registered name.
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
    """Whether `model_type` names `EarlyExitClassifier`, `EarlyExitTagger` or a subclass of either."""
    # Imported late: the models import this package.
    from sledgehammer.models.early_exit_classifier import EarlyExitClassifier
    from sledgehammer.models.early_exit_tagger import EarlyExitTagger

    model_class = registered_model_class(model_type)
    return model_class is not None and issubclass(model_class, (EarlyExitClassifier, EarlyExitTagger))
