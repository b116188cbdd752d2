"""
End-to-end tests of `allennlp tradeoff` through AllenNLP's command-line entry point, on the tiny trained
archive of `conftest.py`. Speed is never asserted.
"""
import csv
import io
import json
import os
import subprocess
import sys
import tarfile
from unittest import mock

import pytest

from tests.commands.conftest import assert_one_line_error
import torch

import sledgehammer  # noqa: F401  (registers the subcommand)
from allennlp.commands import main

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ALLENNLP = os.path.join(os.path.dirname(sys.executable), "allennlp")
ERROR_PREFIX = "allennlp tradeoff: error: "
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
TIMING_FIELDS = ("seconds_per_instance_b1", "speedup_b1", "seconds_per_instance_bN", "speedup_bN")
# The tiny encoder has 4 layers and the archive's model an exit on each.
STATIC_NAMES = [f"exit_layer={layer}" for layer in range(4)]


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def run_tradeoff(*args) -> None:
    """`allennlp tradeoff` with the given arguments; the confidence policy alone unless `--policies` is given."""
    args = [*map(str, args)]
    if "--policies" not in args:
        args += ["--policies", "confidence"]
    with mock.patch.object(sys, "argv", ["allennlp", "tradeoff", *args]):
        main()


def read_outputs(folder):
    with open(folder / "tradeoff.json", encoding="utf-8") as f:
        report = json.load(f)
    with open(folder / "tradeoff.csv", encoding="utf-8", newline="") as f:
        lines = list(csv.DictReader(f))
    with open(folder / "tradeoff.png", "rb") as f:
        png = f.read()
    return report, lines, png


def test_tradeoff_writes_json_csv_and_plot(tiny_trained_archive, tmp_path, capsys):
    output = tmp_path / "out" / "nested"
    run_tradeoff(
        tiny_trained_archive.archive, tiny_trained_archive.dev_data, "--output-dir", output,
        "--thresholds", "0.9,0.5,1,0.5", "--batch-size", "16", "--max-accuracy-drop", "1.0",
    )
    report, lines, png = read_outputs(output)
    rows = report["rows"]
    assert [(row["kind"], row["name"]) for row in rows] == (
        [("threshold", f"threshold={t}") for t in ("0.5", "0.9", "1.0")]
        + [("static", name) for name in STATIC_NAMES]
        + [("full", "full"), ("oracle_consistency", "oracle_consistency"), ("oracle_accuracy", "oracle_accuracy")]
    )
    meta = report["meta"]
    assert meta["num_instances"] == 40 and meta["exit_layers"] == [0, 1, 2, 3] and meta["full_layers"] == 4
    assert meta["thresholds"] == [0.5, 0.9, 1.0] and meta["timed"] is False and meta["batch_size"] == 16
    assert meta["torch_version"] == torch.__version__ and meta["num_threads"] == 1
    full = rows[-3]
    assert full["relative_flops"] == 1.0 and full["exit_fractions"] == [0, 0, 0, 1]
    assert rows[2]["accuracy"] == full["accuracy"]  # threshold 1.0
    assert rows[-1]["accuracy"] >= full["accuracy"]  # the accuracy oracle
    assert all(row["relative_flops"] > 0 and 0 <= row["accuracy"] <= 1 for row in rows)
    # Only early exit pays extra heads, so only threshold rows (< 1) may cost more than the full model.
    assert all(row["relative_flops"] <= 1.0 for row in rows if row["kind"] in ("static", "full"))
    assert all(key not in row for row in rows for key in TIMING_FIELDS)

    assert [line["name"] for line in lines] == [row["name"] for row in rows]
    assert {f"exit_fraction_{layer}" for layer in range(4)} <= set(lines[0])
    assert "exit_fractions" not in lines[0] and lines[-3]["exit_fraction_3"] == "1.0"
    assert float(lines[0]["accuracy"]) == pytest.approx(rows[0]["accuracy"])
    assert png.startswith(PNG_MAGIC)

    printed = capsys.readouterr().out
    assert "| kind | name | accuracy % |" in printed and "| full | full |" in printed
    (pick,) = [line for line in printed.splitlines() if "keeps accuracy within 1 points" in line]
    assert pick.startswith("confidence: threshold ") and "of the full model (" in pick and "% of FLOPs (speedup" in pick
    assert meta["pick"]["threshold"] == float(pick.split()[2])
    savings = meta["oracle_savings"]
    assert savings["min_agreement"] == 0.99 and savings["agreement_with_last_exit"] >= 0.99
    (oracle,) = [line for line in printed.splitlines() if line.startswith("confidence: at >= 99% agreement")]
    assert f"threshold {savings['threshold']:g}" in oracle and "consistency oracle" in oracle


def test_tradeoff_with_timing(tiny_trained_archive, tmp_path, capsys):
    run_tradeoff(
        tiny_trained_archive.archive, tiny_trained_archive.dev_data, "--output-dir", tmp_path,
        "--thresholds", "0.6,1.0", "--batch-size", "4", "--time", "--time-instances", "6",
        "--num-threads", "1", "--max-accuracy-drop", "50",
    )
    report, lines, png = read_outputs(tmp_path)
    timing = report["meta"]["timing"]
    assert timing["num_instances"] == 6 and timing["batch_sizes"] == {"b1": 1, "bN": 4}
    assert timing["num_threads"] == 1 and report["meta"]["timed"] is True
    for row in report["rows"]:
        if row["kind"] in ("threshold", "full"):
            assert all(row[key] > 0 for key in TIMING_FIELDS), row
        else:
            assert all(row[key] is None for key in TIMING_FIELDS), row
    full = [row for row in report["rows"] if row["kind"] == "full"][0]
    assert full["speedup_b1"] == 1.0 and full["speedup_bN"] == 1.0
    assert set(TIMING_FIELDS) <= set(lines[0]) and lines[3][TIMING_FIELDS[0]] == ""  # a static row
    assert png.startswith(PNG_MAGIC)
    printed = capsys.readouterr().out
    assert "| speedup b1 |" in printed and "| speedup b4 |" in printed
    assert "measured speedup" in printed and "at batch size 4" in printed
    assert report["meta"]["pick"]["by"] == "speedup_b1"
    assert torch.get_num_threads() == 1  # restored to what the fixture set


def test_tradeoff_compares_a_separately_trained_model(tiny_trained_archive, tiny_truncated_archive, tmp_path,
                                                       capsys):
    run_tradeoff(
        tiny_trained_archive.archive, tiny_trained_archive.dev_data, "--output-dir", tmp_path,
        "--thresholds", "0.6,0.9,1.0", "--compare", tiny_truncated_archive, "--time", "--time-instances", "5",
        "--batch-size", "4",
    )
    report, lines, png = read_outputs(tmp_path)
    (separate,) = [row for row in report["rows"] if row["kind"] == "separate_model"]
    assert separate["name"] == "two_layers"
    assert separate["mean_layers"] == 2 and separate["relative_layers"] == 0.5
    # Two of four layers and one head: about half the full model's FLOPs, and the same as the
    # early-exit model's own exit on layer 1 used alone (same encoder sizes, same rows).
    (static_1,) = [row for row in report["rows"] if row["name"] == "exit_layer=1"]
    assert separate["relative_flops"] == pytest.approx(static_1["relative_flops"])
    assert 0.4 < separate["relative_flops"] < 0.6
    assert 0.0 <= separate["accuracy"] <= 1.0 and separate["exit_fractions"] == []
    assert all(separate[key] > 0 for key in TIMING_FIELDS)
    assert report["meta"]["compared_archives"] == {"two_layers": os.path.abspath(tiny_truncated_archive)}
    (comparison,) = report["meta"]["comparisons"]
    assert comparison["name"] == "two_layers" and comparison["accuracy"] == separate["accuracy"]
    if comparison["threshold"] is not None:
        assert comparison["threshold_relative_flops"] <= separate["relative_flops"]
    assert [line["kind"] for line in lines].count("separate_model") == 1
    assert png.startswith(PNG_MAGIC)
    printed = capsys.readouterr().out
    assert "| separate_model | two_layers |" in printed
    (sentence,) = [line for line in printed.splitlines() if line.startswith("two_layers: ")]
    assert "of the full model's FLOPs" in sentence


def test_comparing_two_archives_of_the_same_name_is_an_error(tiny_trained_archive, tiny_truncated_archive,
                                                              tmp_path, capsys):
    expect_tradeoff_error(
        tiny_trained_archive.archive, tiny_trained_archive.dev_data, "'two_layers' is already taken", capsys,
        tmp_path, "--compare", tiny_truncated_archive, "--compare", tiny_truncated_archive,
    )


def test_comparing_a_missing_archive_is_an_error(tiny_trained_archive, tmp_path, capsys):
    expect_tradeoff_error(
        tiny_trained_archive.archive, tiny_trained_archive.dev_data, "nowhere", capsys,
        tmp_path, "--compare", tmp_path / "nowhere" / "model.tar.gz",
    )


def expect_tradeoff_error(archive, data, message, capsys, tmp_path, *extra):
    output = tmp_path / "error-output"
    capsys.readouterr()
    with pytest.raises(SystemExit) as raised:
        run_tradeoff(archive, data, "--output-dir", output, *extra)
    assert raised.value.code == 2
    assert_one_line_error(capsys.readouterr().err, ERROR_PREFIX, message)
    assert not output.exists()


def test_missing_archive_is_an_error(tiny_trained_archive, tmp_path, capsys):
    missing = tmp_path / "nowhere.tar.gz"
    expect_tradeoff_error(missing, tiny_trained_archive.dev_data, "does not exist", capsys, tmp_path)


def test_another_model_type_is_an_error(tiny_trained_archive, tmp_path, capsys):
    archive = tmp_path / "model.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        content = json.dumps({"model": {"type": "basic_classifier"}}).encode()
        info = tarfile.TarInfo("config.json")
        info.size = len(content)
        tar.addfile(info, io.BytesIO(content))
    expect_tradeoff_error(archive, tiny_trained_archive.dev_data, "'basic_classifier'", capsys, tmp_path)


@pytest.mark.parametrize(
    "content, message",
    [
        (None, "does not exist"),
        ("sentence\tlabel\n", "has no instances"),
        ("sentence\nthe film is good\n", "label"),
        ("sentence\tlabel\nthe film is good\tmaybe\n", "'maybe'"),
    ],
    ids=["missing", "header-only", "no-label-column", "unknown-label"],
)
def test_unusable_data_is_an_error(tiny_trained_archive, tmp_path, capsys, content, message):
    data = tmp_path / "data.tsv"
    if content is not None:
        data.write_text(content)
    expect_tradeoff_error(tiny_trained_archive.archive, data, message, capsys, tmp_path)


def test_data_read_without_labels_is_an_error(tiny_trained_archive, tmp_path, capsys):
    data = tmp_path / "data.tsv"
    data.write_text("sentence\nthe film is good\n")
    overrides = json.dumps({"dataset_reader.label_field": None})
    expect_tradeoff_error(
        tiny_trained_archive.archive, data, "has no labels", capsys, tmp_path, "--overrides", overrides
    )


@pytest.mark.parametrize(
    "thresholds, message",
    [("0.5,abc", "'abc' is not a number"), ("0.5,1.5", "1.5 is outside [0, 1]"), ("-0.1", "outside [0, 1]"),
     ("nan", "outside [0, 1]"), ("", "--thresholds is empty")],
)
def test_bad_thresholds_are_an_error(tiny_trained_archive, tmp_path, capsys, thresholds, message):
    expect_tradeoff_error(
        tiny_trained_archive.archive, tiny_trained_archive.dev_data, message, capsys, tmp_path,
        "--thresholds", thresholds,
    )


@pytest.mark.parametrize(
    "extra, message",
    [(("--batch-size", "0"), "--batch-size"), (("--max-accuracy-drop", "-1"), "--max-accuracy-drop"),
     (("--num-threads", "0"), "--num-threads")],
)
def test_bad_options_are_an_error(tiny_trained_archive, tmp_path, capsys, extra, message):
    expect_tradeoff_error(
        tiny_trained_archive.archive, tiny_trained_archive.dev_data, message, capsys, tmp_path, *extra
    )


def test_command_line_error_is_one_line_without_traceback(tiny_trained_archive, tmp_path):
    result = subprocess.run(
        [ALLENNLP, "tradeoff", tiny_trained_archive.archive, tiny_trained_archive.dev_data,
         "--output-dir", str(tmp_path / "out"), "--thresholds", "0.5,high"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1] == (
        f"{ERROR_PREFIX}--thresholds: 'high' is not a number; give comma-separated numbers in [0, 1]"
    )
    assert "Traceback" not in result.stderr


def test_tradeoff_compares_every_policy_side_by_side(tiny_trained_archive, tiny_archive_copy, tmp_path, capsys):
    from tests.commands.test_calibrate import run_calibrate

    run_calibrate(tiny_archive_copy, tiny_trained_archive.dev_data, "--exit-policy", "agreement")
    run_tradeoff(
        tiny_archive_copy, tiny_trained_archive.dev_data, "--output-dir", tmp_path, "--thresholds", "0.5,0.9,1.0",
        "--batch-size", "16", "--max-accuracy-drop", "5", "--policies", "all",
    )
    report, lines, png = read_outputs(tmp_path)
    thresholds = [row for row in report["rows"] if row["kind"] == "threshold"]
    by_policy = {}
    for row in thresholds:
        by_policy.setdefault(row["policy"], []).append(row["name"])
    assert list(by_policy) == ["confidence", "entropy", "patience", "agreement"]
    assert by_policy["entropy"] == ["entropy:threshold=0.5", "entropy:threshold=0.9", "entropy:threshold=1.0"]
    # 4 exits: patience 0..3 as a share of the 3 exits below the last.
    assert [row["threshold"] for row in thresholds if row["policy"] == "patience"] == pytest.approx([0, 1/3, 2/3, 1])
    meta = report["meta"]
    assert list(meta["policies"]) == ["confidence", "entropy", "patience", "agreement"]
    assert all("pick" in summary and "oracle_savings" in summary for summary in meta["policies"].values())
    assert [line["policy"] for line in lines[: len(thresholds)]] == [row["policy"] for row in thresholds]
    printed = capsys.readouterr().out
    for policy in ("confidence", "entropy", "patience", "agreement"):
        assert any(line.startswith(f"{policy}: ") and "agreement with the last exit" in line
                   for line in printed.splitlines()) or any(line.startswith(f"{policy}: no threshold agrees")
                                                            for line in printed.splitlines())
    # At threshold 1.0 every policy is the full model.
    full = next(row for row in report["rows"] if row["kind"] == "full")
    for row in thresholds:
        if row["threshold"] == 1.0:
            assert row["accuracy"] == full["accuracy"] and row["relative_flops"] == full["relative_flops"]


@pytest.mark.parametrize("policies, message", [
    ("confidence,slow", "--policies: 'slow' is not an exit policy"),
    ("agreement", "--policies agreement: the archive has no fitted agreement predictors"),
])
def test_unknown_or_unfitted_policies_are_one_line_errors(tiny_trained_archive, tmp_path, capsys, policies, message):
    with pytest.raises(SystemExit) as raised:
        run_tradeoff(tiny_trained_archive.archive, tiny_trained_archive.dev_data, "--output-dir", tmp_path / "out",
                     "--policies", policies)
    assert raised.value.code == 2
    assert_one_line_error(capsys.readouterr().err, "allennlp tradeoff: error: ", message)
    assert not (tmp_path / "out").exists()
