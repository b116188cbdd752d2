"""
Whether two prediction outputs (the JSON `allennlp predict` writes for one input) say the same thing.

The benchmarks that serve or scale out a model (`scripts/load_test.py`, and any runner that must give "what
`allennlp predict` writes") check their answers against `allennlp predict`'s with `compare_outputs`: labels,
tags and exit layers must be equal, numbers may differ in their last digits (batching pads rows, which moves a
float's last bits), and an exit that was not computed (`NaN`) must be `NaN` in both.
"""
import math
from typing import Any, List, Optional

# Numbers closer than this (absolute) count as equal: far above float32 rounding, far below any probability
# that changes an answer.
DEFAULT_TOLERANCE = 1e-4


def compare_outputs(expected: Any, actual: Any, tolerance: float = DEFAULT_TOLERANCE, path: str = "") -> List[str]:
    """
    The differences between two JSON values, as `"path: expected X, got Y"` lines (empty when they agree).

    # Parameters

    expected : `Any`
        The reference output (e.g. a line `allennlp predict` wrote, parsed).
    actual : `Any`
        The output to check.
    tolerance : `float`, optional (default = `1e-4`)
        Largest absolute difference between two numbers that still counts as equal; integers, strings,
        booleans and `None` must be equal exactly, `NaN` only matches `NaN`.
    path : `str`, optional (default = `""`)
        Where in an enclosing value these two sit (used in the messages).
    """
    if isinstance(expected, dict) and isinstance(actual, dict):
        differences = []
        for key in sorted(set(expected) | set(actual)):
            where = f"{path}.{key}" if path else str(key)
            if key not in actual:
                differences.append(f"{where}: missing")
            elif key not in expected:
                differences.append(f"{where}: not expected")
            else:
                differences.extend(compare_outputs(expected[key], actual[key], tolerance, where))
        return differences
    if isinstance(expected, list) and isinstance(actual, list):
        if len(expected) != len(actual):
            return [f"{path or 'value'}: expected {len(expected)} items, got {len(actual)}"]
        differences = []
        for index, (left, right) in enumerate(zip(expected, actual)):
            differences.extend(compare_outputs(left, right, tolerance, f"{path}[{index}]"))
        return differences
    if _is_float(expected) and _is_number(actual) or _is_float(actual) and _is_number(expected):
        if _close(float(expected), float(actual), tolerance):
            return []
    elif type(expected) is type(actual) and expected == actual:
        return []
    return [f"{path or 'value'}: expected {expected!r}, got {actual!r}"]


def largest_difference(expected: Any, actual: Any) -> Optional[float]:
    """The largest absolute difference between corresponding numbers of two like-shaped JSON values."""
    if isinstance(expected, dict) and isinstance(actual, dict):
        found = [largest_difference(expected[key], actual[key]) for key in expected if key in actual]
    elif isinstance(expected, list) and isinstance(actual, list):
        found = [largest_difference(left, right) for left, right in zip(expected, actual)]
    elif _is_number(expected) and _is_number(actual):
        left, right = float(expected), float(actual)
        return None if math.isnan(left) or math.isnan(right) else abs(left - right)
    else:
        return None
    found = [value for value in found if value is not None]
    return max(found) if found else None


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _is_float(value: Any) -> bool:
    return isinstance(value, float)


def _close(left: float, right: float, tolerance: float) -> bool:
    if math.isnan(left) or math.isnan(right):
        return math.isnan(left) and math.isnan(right)
    return abs(left - right) <= tolerance
