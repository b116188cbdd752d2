"""
Archives made before the shared model core (at commit f3b8d4b, by `tests/fixtures/archives/make_archives.py`)
load with today's code and predict exactly what they predicted then, at every setting recorded.
"""
import json
import math

import pytest
from allennlp.models.archival import load_archive
from allennlp.predictors import Predictor

import sledgehammer  # noqa: F401  (registers the components)
from tests.conftest import ROOT

ARCHIVES = ROOT / "tests" / "fixtures" / "archives"
EXPECTED = json.loads((ARCHIVES / "predictions.json").read_text(encoding="utf-8"))


def same(first, second) -> bool:
    """Equal JSON values, floats within 1e-5 (NaN equal to NaN)."""
    if isinstance(first, float) or isinstance(second, float):
        if math.isnan(first) or math.isnan(second):
            return math.isnan(first) and math.isnan(second)
        return math.isclose(first, second, rel_tol=1e-5, abs_tol=1e-6)
    if isinstance(first, list):
        return isinstance(second, list) and len(first) == len(second) and all(map(same, first, second))
    if isinstance(first, dict):
        return isinstance(second, dict) and first.keys() == second.keys() and all(same(first[k], second[k]) for k in first)
    return first == second


def predictor(name: str, tiny_bert: str, **settings) -> Predictor:
    overrides = {"model.transformer_model": tiny_bert, "dataset_reader.transformer_model": tiny_bert}
    archive = load_archive(str(ARCHIVES / f"{name}.tar.gz"), overrides={**overrides, **settings})
    return Predictor.from_archive(archive)


@pytest.mark.parametrize("threshold", sorted(EXPECTED["classifier"]))
def test_an_old_classifier_archive_predicts_as_before(tiny_bert, threshold):
    inputs = [{"sentence": sentence} for sentence in EXPECTED["sentences"]]
    outputs = predictor("classifier", tiny_bert, threshold=float(threshold)).predict_batch_json(inputs)
    assert same(outputs, EXPECTED["classifier"][threshold])


@pytest.mark.parametrize("key", sorted(EXPECTED["tagger"]))
def test_an_old_tagger_archive_predicts_as_before(tiny_bert, key):
    mode, window, threshold = key.split(",")
    settings = {"exit_mode": mode, "window": int(window), "threshold": float(threshold)}
    inputs = [{"sentence": sentence} for sentence in EXPECTED["sentences"]]
    outputs = predictor("tagger", tiny_bert, **settings).predict_batch_json(inputs)
    assert same(outputs, EXPECTED["tagger"][key])


def test_the_comparison_notices_a_difference():
    assert not same([{"probs": [0.5, 0.5]}], [{"probs": [0.5, 0.51]}])
    assert same([math.nan, 1.0], [math.nan, 1.0 + 1e-9]) and not same([math.nan], [0.0])


@pytest.mark.parametrize("threshold", sorted(EXPECTED["classifier"]))
def test_an_old_certified_threshold_is_one_threshold_for_every_exit(tiny_bert, threshold):
    # `allennlp calibrate --target-agreement` stored its threshold in the policy, without per-exit thresholds.
    overrides = {"model.transformer_model": tiny_bert, "dataset_reader.transformer_model": tiny_bert,
                 "exit_policy": {"type": "confidence", "threshold": float(threshold)}}
    archive = load_archive(str(ARCHIVES / "classifier.tar.gz"), overrides=overrides)
    assert archive.model.exit_thresholds is None and archive.model.threshold == float(threshold)
    inputs = [{"sentence": sentence} for sentence in EXPECTED["sentences"]]
    assert same(Predictor.from_archive(archive).predict_batch_json(inputs), EXPECTED["classifier"][threshold])
