"""
The tagging configs in training_config/ train (one step on tiny fixture files with a tiny random encoder), and
the `sledgehammer_tagger` predictor runs end to end through `allennlp predict` on such an archive.
"""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from allennlp.models.archival import load_archive

import sledgehammer  # noqa: F401  (registers the components and the config variables)
from sledgehammer.models import EarlyExitTagger
from tests.conftest import train_tagging_config as train

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "fixtures" / "data"

# config, TRAIN_DATA (= DEV_DATA = TEST_DATA), validation metric key, expected tags
CASES = [
    ("conll2003_ner", DATA / "conll2003.txt", "f1-measure-overall",
     {"O", "B-ORG", "B-PER", "B-LOC", "I-LOC", "B-MISC"}),
    ("conll2000_chunking", DATA / "conll2000.txt", "f1-measure-overall", {"O", "B-NP", "I-NP", "B-VP", "B-PP", "B-ADVP"}),
    ("ud_pos", DATA / "en_ewt.conllu", "accuracy", {"DET", "NOUN", "VERB", "PUNCT", "ADJ", "ADV", "PRON", "AUX"}),
    ("wnut17_ner", DATA / "wnut17.conll", "f1-measure-overall",
     {"O", "B-creative-work", "B-person", "B-location", "I-location", "B-corporation", "B-group", "B-product"}),
]


@pytest.mark.parametrize("config, data, metric, tags", CASES, ids=[case[0] for case in CASES])
def test_every_tagging_config_trains_and_archives(config, data, metric, tags, tiny_bert, tmp_path, monkeypatch):
    model = train(config, data, tiny_bert, tmp_path / "run", monkeypatch)
    assert isinstance(model, EarlyExitTagger) and model.exit_layers == [0, 1, 2, 3]
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert f"best_validation_{metric}" in metrics and f"test_{metric}" in metrics
    assert f"training_{metric}_exit_0" in metrics
    archive = load_archive(str(tmp_path / "run" / "model.tar.gz"))
    assert set(archive.model.vocab.get_token_to_index_vocabulary("labels")) == tags


@pytest.fixture
def tagger_archive(tiny_tagger_archive):
    return tiny_tagger_archive


def predict(archive, inputs, tmp_path, *options):
    """`allennlp predict ARCHIVE INPUTS` in its own process from the repository root; the output lines."""
    input_file, output_file = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    input_file.write_text("".join(json.dumps(record) + "\n" for record in inputs))
    result = subprocess.run(
        [sys.executable, "-m", "allennlp", "predict", str(archive), str(input_file), "--output-file",
         str(output_file), "--silent", *options],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 0, result.stderr
    return [json.loads(line) for line in output_file.read_text().splitlines()]


def test_predict_tags_every_input_word(tagger_archive, tmp_path):
    inputs = [{"tokens": ["the", "company", "says", "no"]}, {"sentence": "a man sits in the park"}]
    lines = predict(tagger_archive, inputs, tmp_path, "--predictor-args", json.dumps({"threshold": 0.0}))
    assert [line["words"] for line in lines] == [inputs[0]["tokens"], inputs[1]["sentence"].split()]
    for line in lines:
        assert set(line) == {"words", "tags", "confidences", "exit_layers"}
        assert len(line["tags"]) == len(line["confidences"]) == len(line["exit_layers"]) == len(line["words"])
        assert line["exit_layers"] == [0] * len(line["words"])  # threshold 0: the first exit answers
    lines = predict(tagger_archive, inputs[:1], tmp_path, "--predictor-args",
                    json.dumps({"threshold": 0.5, "exit_mode": "token", "window": 3}))
    assert len(lines[0]["tags"]) == 4
    # The default threshold (1.0) answers at the last exit.
    assert predict(tagger_archive, inputs[:1], tmp_path)[0]["exit_layers"] == [3, 3, 3, 3]


def test_runtime_settings_are_top_level_overrides(tagger_archive):
    overrides = {"threshold": 0.4, "window": 5, "exit_mode": "token", "upper_uncertainty_factor": 2.0,
                 "temperatures": [1.0, 2.0, 1.0, 0.5], "exit_policy": {"type": "entropy"}}
    model = load_archive(str(tagger_archive), overrides=json.dumps(overrides)).model
    assert (model.threshold, model.window, model.exit_mode, model.upper_uncertainty_factor) == (0.4, 5, "token", 2.0)
    assert model.temperatures == [1.0, 2.0, 1.0, 0.5] and model.exit_policy.name == "entropy"


def test_a_model_override_without_type_changes_only_its_keys(tagger_archive):
    overrides = {"model": {"window": 7, "exit_mode": "token", "threshold": 0.3}}
    model = load_archive(str(tagger_archive), overrides=json.dumps(overrides)).model
    assert isinstance(model, EarlyExitTagger)
    assert (model.window, model.exit_mode, model.threshold, model.exit_layers) == (7, "token", 0.3, [0, 1, 2, 3])


def test_calibrate_fits_a_tagger_per_word_and_refuses_a_target_agreement(tagger_archive, tmp_path, capsys):
    import shutil
    import sys
    from unittest import mock

    from allennlp.commands import main

    archive = tmp_path / "model.tar.gz"
    shutil.copyfile(tagger_archive, archive)
    data = DATA / "conll2003.txt"
    with mock.patch.object(sys, "argv", ["allennlp", "calibrate", str(archive), str(data), "--exit-policy", "agreement"]):
        main()
    report = json.loads((tmp_path / "calibration.json").read_text())
    words = sum(1 for line in data.read_text().splitlines() if line.strip() and not line.startswith("-DOCSTART-"))
    assert report["fit_rows"] == words and len(report["temperatures"]) == 4
    model = load_archive(str(archive)).model
    assert model.temperatures == pytest.approx(report["temperatures"], rel=1e-6)
    assert model.exit_policy.name == "agreement" and len(model.exit_policy.predictors) == 3
    with pytest.raises(SystemExit) as raised, mock.patch.object(
        sys, "argv", ["allennlp", "calibrate", str(archive), str(data), "--target-agreement", "0.9"]
    ):
        main()
    assert raised.value.code == 2
    assert "--target-agreement is for classifiers" in capsys.readouterr().err


def test_evaluate_on_a_tag_the_model_does_not_know_is_a_one_line_error(tagger_archive, tmp_path):
    import subprocess
    import sys

    data = tmp_path / "unknown_tag.txt"
    data.write_text("EU NNP B-NP B-ORG\nrejects VBZ B-VP O\nit PRP B-NP B-WEAPON\n\n", encoding="utf-8")
    result = subprocess.run(
        [os.path.join(os.path.dirname(sys.executable), "allennlp"), "evaluate", str(tagger_archive), str(data),
         "--include-package", "sledgehammer"],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 1
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert lines[-1] == (f"allennlp evaluate: error: {data}: holds the label 'B-WEAPON', which the model does not "
                         "know (not in its 'labels' vocabulary)"), result.stderr[-2000:]
    assert "Traceback" not in result.stderr
