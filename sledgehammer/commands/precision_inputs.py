"""
The precision options of sledgehammer's subcommands: `allennlp calibrate --quantize int8` and `allennlp tradeoff
--precisions fp32,int8`, read together with the `quantize` key an `--overrides` may already give, and the overrides
that load an archive in a precision.
"""
from typing import Any, Dict, List, Optional, Type, Union

from allennlp.common.checks import ConfigurationError
from allennlp.common.params import parse_overrides

from sledgehammer.commands.archive_inputs import CommandInputError
from sledgehammer.models.precision import FP32, PRECISIONS, QUANTIZE_KEY, check_precision

Overrides = Union[str, Dict[str, Any]]


def overrides_dict(overrides: Overrides, error_class: Type[CommandInputError] = CommandInputError) -> Dict[str, Any]:
    """`--overrides` as a dictionary (a json(net) string is parsed); a one-line `error_class` when it is not one."""
    if isinstance(overrides, dict):
        return dict(overrides)
    try:
        parsed = parse_overrides(overrides or "")
    except Exception as error:  # jsonnet reports its syntax errors as RuntimeError, json as ValueError
        raise error_class(f"--overrides is not a json(net) object: {' '.join(str(error).split())}") from None
    if not isinstance(parsed, dict):
        raise error_class(f"--overrides must be a json(net) object, got {overrides!r}")
    return parsed


def precision_in_overrides(overrides: Dict[str, Any]) -> Optional[str]:
    """The precision an overrides dictionary asks for (`quantize`, `model.quantize` or `{"model": {...}}`)."""
    model = overrides.get("model")
    for value in (overrides.get(QUANTIZE_KEY), overrides.get(f"model.{QUANTIZE_KEY}"),
                  model.get(QUANTIZE_KEY) if isinstance(model, dict) else None):
        if value is not None:
            return value
    return None


def chosen_precision(
    option: Optional[str], overrides: Overrides, option_name: str,
    error_class: Type[CommandInputError] = CommandInputError,
) -> str:
    """
    The precision a command runs in: its option (`option_name`, e.g. `--quantize`), else the `quantize` of
    `overrides`, else fp32. Both given and different, or a name that is no precision, is a one-line `error_class`.
    """
    given = precision_in_overrides(overrides_dict(overrides, error_class))
    try:
        from_overrides = None if given is None else check_precision(given, f"--overrides' {QUANTIZE_KEY}")
        from_option = None if option is None else check_precision(option, option_name)
    except ConfigurationError as error:
        raise error_class(str(error)) from None
    if from_option is not None and from_overrides is not None and from_option != from_overrides:
        raise error_class(
            f"{option_name} {from_option} contradicts the {QUANTIZE_KEY} {from_overrides!r} of --overrides; give one"
        )
    return from_option or from_overrides or FP32


def parse_precisions(text: str, option_name: str = "--precisions",
                     error_class: Type[CommandInputError] = CommandInputError) -> List[str]:
    """
    Parses a comma-separated list of precisions (e.g. `"fp32,int8"`): each one of `PRECISIONS`, fp32 among them
    (the others are measured against it), no duplicates; returned fp32 first, then in `PRECISIONS` order.
    """
    items = [item.strip() for item in text.split(",")]
    for item in items:
        if item not in PRECISIONS:
            raise error_class(
                f"{option_name}: {item!r} is not a precision; give comma-separated names from {', '.join(PRECISIONS)}"
            )
    if FP32 not in items:
        raise error_class(f"{option_name} must include {FP32}, which the other precisions are measured against")
    return [name for name in PRECISIONS if name in items]


def overrides_with_precision(overrides: Overrides, precision: str,
                             error_class: Type[CommandInputError] = CommandInputError) -> Dict[str, Any]:
    """`overrides` (a dictionary or json(net) string) with the top-level `quantize` set to `precision`."""
    result = overrides_dict(overrides, error_class)
    result.pop(f"model.{QUANTIZE_KEY}", None)
    if isinstance(result.get("model"), dict):
        result["model"] = {key: value for key, value in result["model"].items() if key != QUANTIZE_KEY}
    result[QUANTIZE_KEY] = precision
    return result
