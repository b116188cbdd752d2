"""
`allennlp tradeoff --precisions fp32,int8`: the int8 model's curve beside the fp32 one, from the int8 model's own
outputs and calibration, both timed in one loop against the fp32 full model. Speed is never asserted.
"""
import json

import pytest
from allennlp.models.archival import load_archive

from sledgehammer.commands.archive_inputs import read_labelled_instances
from sledgehammer.evaluation.exit_outputs import collect_exit_outputs
from tests.commands.test_calibrate import run_calibrate
from tests.commands.test_tradeoff import TIMING_FIELDS, expect_tradeoff_error, read_outputs, run_tradeoff

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_both_precisions_are_drawn_and_timed_in_one_run(tiny_trained_archive, tiny_archive_copy, tmp_path, capsys):
    dev = tiny_trained_archive.dev_data
    run_calibrate(tiny_archive_copy, dev, "--batch-size", "16", "--quantize", "int8")
    int8_temperatures = json.loads((tmp_path / "archive" / "calibration_int8.json").read_text())["temperatures"]
    output = tmp_path / "out"
    run_tradeoff(tiny_archive_copy, dev, "--output-dir", output, "--precisions", "int8,fp32", "--thresholds",
                 "0.5,1.0", "--time", "--time-instances", "8", "--batch-size", "4", "--max-accuracy-drop", "100")
    report, lines, png = read_outputs(output)
    rows, meta = report["rows"], report["meta"]
    fp32 = [row for row in rows if row["precision"] == "fp32"]
    int8 = [row for row in rows if row["precision"] == "int8"]
    assert len(fp32) == len(int8) == len(rows) / 2 == 2 + 4 + 1 + 2  # thresholds, exits alone, full, oracles
    assert [row["name"] for row in int8] == [f"int8:{row['name']}" for row in fp32]
    assert fp32[0]["name"] == "threshold=0.5" and int8[-3]["name"] == "int8:full"
    assert meta["precisions"]["int8"]["temperatures"] == pytest.approx(int8_temperatures)
    assert meta["precisions"]["fp32"]["temperatures"] == [1.0] * 4 != int8_temperatures

    # The int8 rows come from the quantized model's own outputs.
    archive = load_archive(tiny_archive_copy, overrides={"quantize": "int8"})
    outputs = collect_exit_outputs(archive.model, read_labelled_instances(archive, dev, "DATA"), batch_size=4)
    int8_full = next(row for row in int8 if row["kind"] == "full")
    expected = (outputs.exit_logits[:, -1].argmax(dim=-1) == outputs.labels).double().mean().item()
    assert int8_full["accuracy"] == pytest.approx(expected)

    # One timed loop, every speedup against the fp32 full model.
    fp32_full = next(row for row in fp32 if row["kind"] == "full")
    for row in rows:
        timed = row["kind"] in ("threshold", "full")
        assert all((row[field] is not None) == timed for field in TIMING_FIELDS), row["name"]
    assert fp32_full["speedup_b1"] == 1.0
    assert int8_full["speedup_b1"] == pytest.approx(
        fp32_full["seconds_per_instance_b1"] / int8_full["seconds_per_instance_b1"])

    assert set(meta["policies"]) == {"confidence", "int8:confidence"}
    assert meta["policies"]["int8:confidence"]["pick"]["row"].startswith("int8:threshold=")
    assert meta["policies"]["int8:confidence"]["oracle_savings"]["policy"] == "confidence"
    assert [line["precision"] for line in lines] == [row["precision"] for row in rows]
    assert png.startswith(b"\x89PNG")
    printed = capsys.readouterr().out
    assert "| threshold | int8:threshold=0.5 |" in printed and "int8:confidence: threshold" in printed


def test_without_the_option_no_row_names_a_precision(tiny_trained_archive, tmp_path):
    run_tradeoff(tiny_trained_archive.archive, tiny_trained_archive.dev_data, "--output-dir", tmp_path,
                 "--thresholds", "0.5,1.0")
    report, lines, _ = read_outputs(tmp_path)
    assert all("precision" not in row for row in report["rows"]) and "precisions" not in report["meta"]
    assert "precision" not in lines[0]


@pytest.mark.parametrize("extra, message", [
    (("--precisions", "int8"), "--precisions must include fp32"),
    (("--precisions", "fp32,int4"), "--precisions: 'int4' is not a precision"),
    (("--precisions", "fp32,int8", "--overrides", '{"quantize": "int8"}'), "drop the quantize key of --overrides"),
])
def test_bad_precisions_are_one_line_errors(tiny_trained_archive, tmp_path, capsys, extra, message):
    expect_tradeoff_error(tiny_trained_archive.archive, tiny_trained_archive.dev_data, message, capsys, tmp_path,
                          *extra)


def test_precisions_are_for_classifiers(tiny_tagger_archive, tmp_path, capsys):
    from tests.conftest import FIXTURE_DATA

    expect_tradeoff_error(tiny_tagger_archive, FIXTURE_DATA / "conll2003.txt", "--precisions are for classifiers",
                          capsys, tmp_path, "--precisions", "fp32,int8", "--policies", "all")
