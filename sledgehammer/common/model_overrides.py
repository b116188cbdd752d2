"""
Partial model overrides: `--overrides '{"model": {"threshold": 0.9}}'`.

AllenNLP replaces a whole config section when an override gives it as a nested object, so
`{"model": {"threshold": 0.9}}` would throw away the model's type and every other setting. For the config
of a `sledgehammer_classifier` or `sledgehammer_tagger` (or of a registered subclass of either), an override of
`model` that names no `type` is read as a change of the keys it gives, exactly like the dotted form `{"model.threshold": 0.9}` that AllenNLP already merges. An
override with a `type` still replaces the model section, and other configs are untouched.
"""
from typing import Any, Dict

from allennlp.common import params as allennlp_params

from sledgehammer.common.model_types import is_early_exit_model_type

_allennlp_with_overrides = allennlp_params.with_overrides


def with_partial_model_overrides(original: Any, overrides_dict: Dict[str, Any], prefix: str = "") -> Any:
    """AllenNLP's `with_overrides`, reading a type-less `model` override of our model as dotted keys."""
    model_override = overrides_dict.get("model")
    if (
        prefix == ""
        and isinstance(original, dict)
        and isinstance(original.get("model"), dict)
        and isinstance(model_override, dict)
        and "type" not in model_override
        and is_early_exit_model_type(original["model"].get("type"))
    ):
        overrides_dict = {key: value for key, value in overrides_dict.items() if key != "model"}
        overrides_dict.update({f"model.{key}": value for key, value in model_override.items()})
    return _allennlp_with_overrides(original, overrides_dict, prefix)


def install() -> None:
    """Makes AllenNLP's config loading use `with_partial_model_overrides`."""
    allennlp_params.with_overrides = with_partial_model_overrides
