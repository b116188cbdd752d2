"""
`allennlp predict` and `allennlp evaluate` of a calibrated tiny archive with a threshold from the command line.
"""
import json
import sys

import pytest
from allennlp.commands import main as allennlp_main

from sledgehammer.commands.calibrate import calibrate_archive


@pytest.fixture(scope="module")
def calibrated(tiny_trained_archive, tmp_path_factory):
    folder = tmp_path_factory.mktemp("calibrated")
    archive = str(folder / "model.tar.gz")
    calibrate_archive(tiny_trained_archive.archive, tiny_trained_archive.dev_data, output_archive=archive)
    return archive, tiny_trained_archive


def run_allennlp(monkeypatch, *arguments):
    monkeypatch.setattr(sys, "argv", ["allennlp", *arguments, "--include-package", "sledgehammer"])
    allennlp_main()


def write_inputs(path, records):
    path.write_text("".join(json.dumps(record) + "\n" for record in records))
    return str(path)


SENTENCES = [{"sentence": s} for s in ["the film is good", "bad", "a dog runs in the park", "the worst plot", "fun"]]


def predict(monkeypatch, tmp_path, archive, *options, records=SENTENCES):
    inputs = write_inputs(tmp_path / "in.jsonl", records)
    output = tmp_path / "out.jsonl"
    run_allennlp(monkeypatch, "predict", archive, inputs, "--output-file", str(output), "--silent", *options)
    return [json.loads(line) for line in output.read_text().splitlines()]


@pytest.mark.parametrize(
    "options",
    [
        ["--overrides", '{"threshold": 0.0}'],
        ["--overrides", '{"model": {"threshold": 0.0}}'],
        ["--overrides", '{"model.threshold": 0.0}'],
        ["--predictor-args", '{"threshold": 0.0}'],
    ],
    ids=["top-level", "model-object", "dotted", "predictor-args"],
)
def test_every_way_of_setting_the_threshold_reaches_the_model(calibrated, monkeypatch, tmp_path, options):
    archive, _ = calibrated
    predictions = predict(monkeypatch, tmp_path, archive, *options)
    assert [p["exit_index"] for p in predictions] == [0] * len(SENTENCES)
    assert [p["layers_run"] for p in predictions] == [1] * len(SENTENCES)


def test_predictions_carry_calibrated_probabilities_and_exit_facts(calibrated, monkeypatch, tmp_path):
    archive, tiny = calibrated
    predictions = predict(monkeypatch, tmp_path, archive, "--overrides", '{"threshold": 1.0}', "--batch-size", "3")
    for prediction in predictions:
        assert set(prediction) == {"label", "probs", "confidence", "exit_layer", "exit_index", "layers_run", "exit_probs"}
        assert prediction["label"] in {"pos", "neg"}
        assert prediction["exit_layer"] == 3 and prediction["exit_index"] == 3 and prediction["layers_run"] == 4
        assert prediction["confidence"] == pytest.approx(max(prediction["probs"]))
        assert len(prediction["exit_probs"]) == 4 and prediction["exit_probs"][-1] == pytest.approx(prediction["probs"])


def test_batch_size_does_not_change_answers(calibrated, monkeypatch, tmp_path):
    archive, _ = calibrated
    records = SENTENCES * 4
    one = predict(monkeypatch, tmp_path, archive, "--overrides", '{"threshold": 0.6}', "--batch-size", "1", records=records)
    many = predict(monkeypatch, tmp_path, archive, "--overrides", '{"threshold": 0.6}', "--batch-size", "8", records=records)
    assert [(p["label"], p["exit_index"]) for p in one] == [(p["label"], p["exit_index"]) for p in many]


def test_evaluate_reports_exit_statistics_at_the_threshold(calibrated, monkeypatch, tmp_path):
    archive, tiny = calibrated
    results = {}
    for threshold in (0.0, 1.0):
        output = tmp_path / f"metrics_{threshold}.json"
        run_allennlp(monkeypatch, "evaluate", archive, tiny.dev_data, "--output-file", str(output),
                     "--overrides", json.dumps({"threshold": threshold}))
        results[threshold] = json.loads(output.read_text())
    assert results[0.0]["exit_fraction_0"] == 1.0 and results[0.0]["layers_run"] == 1.0
    assert results[0.0]["relative_layers"] == 0.25 and results[0.0]["relative_flops"] < 0.3
    assert results[1.0]["exit_fraction_3"] == 1.0 and results[1.0]["relative_flops"] == pytest.approx(1.0)
    assert "accuracy_exit_0" in results[1.0] and "accuracy_exit_0" not in results[0.0]


@pytest.mark.parametrize(
    "threshold, message",
    [("1.5", r"threshold must be a number in \[0, 1\]"), ("-0.1", r"threshold must be a number in \[0, 1\]"),
     ('"high"', "Expected threshold to be numeric")],
)
def test_a_bad_threshold_is_a_clear_error(calibrated, monkeypatch, tmp_path, threshold, message):
    archive, _ = calibrated
    with pytest.raises(Exception, match=message):
        predict(monkeypatch, tmp_path, archive, "--overrides", f'{{"threshold": {threshold}}}')


def test_a_malformed_input_line_is_named(calibrated, monkeypatch, tmp_path):
    archive, _ = calibrated
    inputs = tmp_path / "in.jsonl"
    inputs.write_text('{"sentence": "good"}\n{"sentence": "bad"\n')
    with pytest.raises(Exception, match=r"in.jsonl, line 2: .*found invalid JSON"):
        run_allennlp(monkeypatch, "predict", archive, str(inputs), "--silent", "--output-file", str(tmp_path / "o"))
    inputs.write_text('{"sentence": "good"}\n{"review": "bad"}\n')
    with pytest.raises(Exception, match="in.jsonl, line 2: expected a field 'sentence' or 'text'"):
        run_allennlp(monkeypatch, "predict", archive, str(inputs), "--silent", "--output-file", str(tmp_path / "o"))
