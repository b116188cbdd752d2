"""
`allennlp calibrate --quantize int8`: the int8 model's temperatures, exit policy and guaranteed threshold are stored
beside the fp32 ones (`model.calibration.int8`), never over them, and loading picks the calibration of the precision
it loads in.
"""
import json

import pytest
from allennlp.models.archival import load_archive

from sledgehammer.calibration.calibration_report import calibrated_config
from sledgehammer.modules.exit_policies import AgreementPolicy
from tests.commands.test_calibrate import archive_contents, expect_calibrate_error, run_calibrate


def stored_config(archive):
    return json.loads(archive_contents(archive)["config.json"])


def test_int8_calibration_is_stored_beside_the_fp32_one_and_used_in_int8(tiny_trained_archive, tiny_archive_copy,
                                                                         capsys):
    dev = tiny_trained_archive.dev_data
    run_calibrate(tiny_archive_copy, dev, "--batch-size", "16")
    fp32_config = stored_config(tiny_archive_copy)
    fp32_temperatures = fp32_config["model"]["temperatures"]
    run_calibrate(tiny_archive_copy, dev, "--batch-size", "16", "--quantize", "int8", "--exit-policy", "agreement",
                  "--target-agreement", "0.9", "--delta", "0.2")
    assert "the int8 calibration, as model.calibration.int8" in capsys.readouterr().out

    contents = archive_contents(tiny_archive_copy)
    config = json.loads(contents["config.json"])
    fp32_report, int8_report = json.loads(contents["calibration.json"]), json.loads(contents["calibration_int8.json"])
    assert (fp32_report["precision"], int8_report["precision"]) == ("fp32", "int8")
    entry = config["model"]["calibration"]["int8"]
    # The fp32 settings are untouched; the int8 ones come from the quantized model's report.
    assert {key: value for key, value in config["model"].items() if key != "calibration"} == fp32_config["model"]
    assert entry["temperatures"] == int8_report["temperatures"] != fp32_temperatures
    assert entry["exit_policy"] == int8_report["exit_policy"] and entry["exit_policy"]["type"] == "agreement"
    assert entry["threshold"] == int8_report["threshold_selection"]["threshold"]

    fp32 = load_archive(tiny_archive_copy).model
    assert fp32.precision == "fp32" and fp32.temperatures == pytest.approx(fp32_temperatures)
    assert not isinstance(fp32.exit_policy, AgreementPolicy)
    int8 = load_archive(tiny_archive_copy, overrides={"quantize": "int8"}).model
    assert int8.precision == "int8" and int8.temperatures == pytest.approx(entry["temperatures"])
    assert isinstance(int8.exit_policy, AgreementPolicy)
    assert int8.exit_policy.predictors == entry["exit_policy"]["predictors"]
    assert int8.threshold == entry["threshold"]
    # A top-level override still wins over the int8 calibration.
    assert load_archive(tiny_archive_copy, overrides={"quantize": "int8", "threshold": 0.55}).model.threshold == 0.55

    # Calibrating fp32 again replaces the fp32 settings and keeps the int8 entry.
    run_calibrate(tiny_archive_copy, dev, "--batch-size", "16")
    assert stored_config(tiny_archive_copy)["model"]["calibration"] == {"int8": entry}


def test_the_quantize_override_calibrates_int8_too(tiny_trained_archive, tiny_archive_copy, tmp_path):
    output = tmp_path / "out" / "model.tar.gz"
    run_calibrate(tiny_archive_copy, tiny_trained_archive.dev_data, "--output-archive", output,
                  "--overrides", '{"quantize": "int8"}')
    config = stored_config(output)
    report = json.loads((output.parent / "calibration_int8.json").read_text())
    assert config["model"]["calibration"] == {"int8": {"temperatures": report["temperatures"]}}
    assert "temperatures" not in config["model"]  # the tiny archive was never calibrated in fp32
    assert not (output.parent / "calibration.json").exists()
    assert load_archive(output, overrides={"quantize": "int8"}).model.temperatures == pytest.approx(
        report["temperatures"])
    assert load_archive(output).model.temperatures == [1.0] * 4


@pytest.mark.parametrize("flags, message", [
    (["--quantize", "int8", "--overrides", '{"quantize": "fp32"}'], "--quantize int8 contradicts the quantize 'fp32'"),
    (["--overrides", '{"model": {"quantize": "int4"}}'], "quantize must be one of 'fp32', 'int8', got 'int4'"),
])
def test_contradicting_or_bad_precisions_are_one_line_errors(tiny_trained_archive, tiny_archive_copy, capsys, flags,
                                                             message):
    expect_calibrate_error(tiny_archive_copy, tiny_trained_archive.dev_data, message, capsys, *flags)


def test_an_int8_entry_replaces_an_earlier_one_and_keeps_the_other_entries():
    config = {"model": {"type": "sledgehammer_classifier", "temperatures": [2.0],
                        "calibration": {"int8": {"temperatures": [3.0]}, "fp16": {"temperatures": [4.0]}}}}
    written = json.loads(calibrated_config(config, {"temperatures": [5.0]}, "int8"))
    assert written["model"]["temperatures"] == [2.0]
    assert written["model"]["calibration"] == {"int8": {"temperatures": [5.0]}, "fp16": {"temperatures": [4.0]}}


def test_a_tagger_is_calibrated_and_loaded_per_precision_too(tiny_tagger_archive, tmp_path):
    from tests.conftest import FIXTURE_DATA

    output = tmp_path / "tagger" / "model.tar.gz"
    run_calibrate(tiny_tagger_archive, FIXTURE_DATA / "conll2003.txt", "--output-archive", output, "--quantize", "int8")
    entry = stored_config(output)["model"]["calibration"]["int8"]
    int8 = load_archive(output, overrides={"quantize": "int8"}).model
    assert int8.precision == "int8" and int8.temperatures == pytest.approx(entry["temperatures"])
    assert load_archive(output).model.temperatures == load_archive(tiny_tagger_archive).model.temperatures
