"""`compare_outputs`: what counts as the same prediction output."""
import math

from sledgehammer.common.output_comparison import compare_outputs, largest_difference

OUTPUT = {"label": "positive", "probs": [0.25, 0.75], "exit_layer": 2, "exit_probs": [[0.4, 0.6], [math.nan, math.nan]]}


def copy(**changes):
    return {**{key: (list(value) if isinstance(value, list) else value) for key, value in OUTPUT.items()}, **changes}


def test_equal_outputs_and_last_digit_differences_agree():
    assert compare_outputs(OUTPUT, copy()) == []
    assert compare_outputs(OUTPUT, copy(probs=[0.25 + 3e-7, 0.75 - 3e-7])) == []
    assert largest_difference(OUTPUT, copy(probs=[0.25 + 3e-7, 0.75 - 3e-7])) < 1e-6


def test_a_different_label_exit_or_probability_is_named_by_its_path():
    assert compare_outputs(OUTPUT, copy(label="negative")) == ["label: expected 'positive', got 'negative'"]
    assert compare_outputs(OUTPUT, copy(exit_layer=3)) == ["exit_layer: expected 2, got 3"]
    assert compare_outputs(OUTPUT, copy(probs=[0.3, 0.7])) == ["probs[0]: expected 0.25, got 0.3",
                                                                "probs[1]: expected 0.75, got 0.7"]
    assert largest_difference(OUTPUT, copy(probs=[0.3, 0.7])) > 0.04


def test_nan_matches_only_nan_and_missing_or_extra_keys_differ():
    computed = copy(exit_probs=[[0.4, 0.6], [0.5, 0.5]])
    assert compare_outputs(OUTPUT, computed) == ["exit_probs[1][0]: expected nan, got 0.5",
                                                  "exit_probs[1][1]: expected nan, got 0.5"]
    assert compare_outputs({"a": 1}, {"b": 1}) == ["a: missing", "b: not expected"]
    assert compare_outputs([1, 2], [1]) == ["value: expected 2 items, got 1"]
    # An integer and a bool are not interchangeable; an int and a float count as numbers.
    assert compare_outputs({"x": 1}, {"x": True}) == ["x: expected 1, got True"]
    assert compare_outputs({"x": 1.0}, {"x": 1}) == []
