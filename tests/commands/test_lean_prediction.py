"""
The lean prediction path and its profile: the model finds its prediction device once instead of asking every
parameter on every batch, `allennlp predict` writes exactly what it wrote before, and `scripts/profile_predict.py`
times the stages of that very loop without changing its output.
"""
import importlib.util
import json
import subprocess
import sys
from unittest import mock

import pytest
from allennlp.models import Model
from allennlp.models.archival import load_archive
from allennlp.predictors import Predictor

from sledgehammer.models import EarlyExitModel
from tests.conftest import ROOT

SCRIPT = ROOT / "scripts" / "profile_predict.py"
SENTENCES = ["good film and great plot", "bad acting", "the dog plays in the park", "awful , boring , dull movie ."]

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def profile_script():
    spec = importlib.util.spec_from_file_location("profile_predict", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def input_file(tmp_path):
    path = tmp_path / "input.jsonl"
    lines = [{"sentence": text} for text in SENTENCES * 3] + [{"sentence": "fun", "threshold": 0.6}]
    path.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    return path


def predict_lines(profile_script, predictor, input_file, output, batch_size, clock=None):
    profile_script.run_predict(predictor, str(input_file), str(output), batch_size, clock)
    return output.read_text(encoding="utf-8").splitlines()


@pytest.mark.parametrize("batch_size", [1, 4])
def test_predict_writes_what_it_wrote_with_allennlps_device_check(tiny_trained_archive, profile_script, input_file,
                                                                   tmp_path, batch_size):
    archive = load_archive(tiny_trained_archive.archive, overrides={"threshold": 0.7})
    predictor = Predictor.from_archive(archive)
    with mock.patch.object(EarlyExitModel, "_get_prediction_device", Model._get_prediction_device):
        before = predict_lines(profile_script, predictor, input_file, tmp_path / "before.jsonl", batch_size)
    after = predict_lines(profile_script, predictor, input_file, tmp_path / "after.jsonl", batch_size)
    assert after == before and len(after) == 13
    assert set(json.loads(after[0])) == {"label", "probs", "confidence", "exit_layer", "exit_index", "layers_run",
                                         "exit_probs"}


def test_the_device_is_found_once_until_the_model_moves(tiny_trained_archive):
    model = load_archive(tiny_trained_archive.archive).model
    with mock.patch.object(Model, "_get_prediction_device", autospec=True, return_value=-1) as check:
        assert [model._get_prediction_device() for _ in range(3)] == [-1, -1, -1]
        assert check.call_count == 1
        model.cpu()  # moving (or casting) the model finds its device again
        assert model._get_prediction_device() == -1
        assert check.call_count == 2


def test_the_profile_times_every_stage_and_changes_no_output(tiny_trained_archive, profile_script, input_file,
                                                             tmp_path):
    predictor = Predictor.from_archive(load_archive(tiny_trained_archive.archive, overrides={"threshold": 0.7}))
    plain = predict_lines(profile_script, predictor, input_file, tmp_path / "plain.jsonl", 4)
    clock = profile_script.StageClock()
    timed = predict_lines(profile_script, predictor, input_file, tmp_path / "timed.jsonl", 4, clock)
    assert timed == plain
    assert set(clock.seconds) == set(profile_script.STAGES)
    assert all(seconds > 0 for seconds in clock.seconds.values()), clock.seconds
    # The wrappers are gone afterwards.
    assert "forward" not in vars(predictor._model) and "load_line" not in vars(predictor)


def test_the_profile_script_writes_json_for_each_precision_and_batch_size(tiny_trained_archive, input_file,
                                                                          tmp_path):
    output = tmp_path / "profile" / "profile.json"
    output.parent.mkdir()
    result = subprocess.run(
        [sys.executable, str(SCRIPT), tiny_trained_archive.archive, str(input_file), "--output", str(output),
         "--threshold", "0.8", "--batch-sizes", "1,4", "--num-threads", "1", "--repeats", "1", "--max-rows", "9"],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(output.read_text())
    assert report["num_rows"] == 9 and report["threshold"] == 0.8 and report["num_threads"] == 1
    assert [(r["precision"], r["batch_size"]) for r in report["results"]] == [
        ("fp32", 1), ("int8", 1), ("fp32", 4), ("int8", 4)]
    for entry in report["results"]:
        assert set(entry["seconds_per_row"]) == set(report["stages"])
        assert entry["total_seconds_per_row"] == pytest.approx(sum(entry["seconds_per_row"].values()))
        assert sum(entry["share"].values()) == pytest.approx(1.0)
    assert "| fp32 | 0.8 | 1 |" in result.stdout and "| int8 | 0.8 | 4 |" in result.stdout


def test_the_profile_script_puts_the_full_model_beside_early_exit_in_one_run(tiny_trained_archive, input_file,
                                                                            tmp_path):
    output = tmp_path / "profile.json"
    result = subprocess.run(
        [sys.executable, str(SCRIPT), tiny_trained_archive.archive, str(input_file), "--output", str(output),
         "--variants", "fp32=1.0,fp32=0.0", "--batch-sizes", "2", "--num-threads", "1", "--repeats", "1",
         "--max-rows", "6"],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 0, result.stderr
    full, early = json.loads(output.read_text())["results"]
    assert [(r["precision"], r["threshold"], r["batch_size"]) for r in (full, early)] == [
        ("fp32", 1.0, 2), ("fp32", 0.0, 2)]
    # Threshold 0 answers every row at the first exit: its forward passes cost less than the full model's.
    assert early["seconds_per_row"]["model"] < full["seconds_per_row"]["model"]
    bad = subprocess.run([sys.executable, str(SCRIPT), tiny_trained_archive.archive, str(input_file), "--output",
                          str(output), "--variants", "fp32"], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert bad.returncode != 0 and "'fp32' is not PRECISION=THRESHOLD" in bad.stderr
