"""`allennlp calibrate --selection-data FILE`: unlabelled selection rows, per-exit thresholds, their errors."""
import json

import pytest
import torch
from allennlp.models.archival import load_archive

from sledgehammer.commands.archive_inputs import read_labelled_instances
from sledgehammer.evaluation import collect_exit_outputs
from sledgehammer.modules.exit_policies import calibrated_probs
from tests.commands.conftest import write_sentiment_tsv
from tests.commands.test_calibrate import archive_contents, expect_calibrate_error, run_calibrate

TARGET = ("--target-agreement", "0.9", "--delta", "0.2", "--batch-size", "16")


def sentences_jsonl(tsv_path, jsonl_path, extra=None):
    """The TSV's sentences as `allennlp predict` input lines, without labels."""
    with open(tsv_path, encoding="utf-8") as rows:
        sentences = [line.split("\t")[0] for line in rows.read().splitlines()[1:]]
    with open(jsonl_path, "w", encoding="utf-8") as out:
        for sentence in sentences:
            out.write(json.dumps({"sentence": sentence, **(extra or {})}) + "\n")
    return str(jsonl_path)


def report_and_config(archive):
    contents = archive_contents(archive)
    return json.loads(contents["calibration.json"]), json.loads(contents["config.json"])


def test_unlabelled_selection_rows_pick_the_threshold_and_dev_labels_fit_the_temperatures(
    tiny_trained_archive, tiny_archive_copy, tmp_path, capsys
):
    selection_tsv = write_sentiment_tsv(str(tmp_path / "pool.tsv"), 80, seed=5)
    selection = sentences_jsonl(selection_tsv, tmp_path / "pool.jsonl")
    run_calibrate(tiny_archive_copy, tiny_trained_archive.dev_data, "--selection-data", selection, *TARGET)
    printed = capsys.readouterr().out
    report, config = report_and_config(tiny_archive_copy)
    picked = report["threshold_selection"]
    assert report["fit_rows"] == 40  # every DEV_DATA row fits the temperatures
    assert report["selection_instances"] == 80 and report["agreement_fit_rows"] == 40
    assert picked["selection_rows"] == 40 and picked["family"] == "single"
    assert config["model"]["exit_policy"]["threshold"] == picked["threshold"]
    assert "Certified saving on the 40 selection rows" in printed and "80 rows:" in printed

    # The temperatures are those of calibrating on every DEV_DATA row without a target.
    plain = str(tmp_path / "plain.tar.gz")
    run_calibrate(tiny_trained_archive.archive, tiny_trained_archive.dev_data, "--output-archive", plain)
    # Equal up to float rounding: MKL's vector kernels may round a row's logits differently in batches of
    # other shapes, and the two runs batch the rows differently.
    assert report["temperatures"] == pytest.approx(report_and_config(plain)[0]["temperatures"], rel=1e-4)


def test_labels_in_the_selection_file_are_ignored(tiny_trained_archive, tiny_archive_copy, tmp_path, capsys):
    pool = write_sentiment_tsv(str(tmp_path / "pool.tsv"), 80, seed=5)
    unlabelled = str(tmp_path / "unlabelled.tar.gz")
    run_calibrate(tiny_archive_copy, tiny_trained_archive.dev_data, "--selection-data",
                  sentences_jsonl(pool, tmp_path / "pool.jsonl"), "--output-archive", unlabelled, *TARGET)
    # The same texts with labels the model has never seen, read by the archive's reader: the same selection.
    with open(pool, encoding="utf-8") as rows:
        lines = rows.read().splitlines()
    relabelled = tmp_path / "relabelled.tsv"
    relabelled.write_text("\n".join([lines[0]] + [line.split("\t")[0] + "\tbanana" for line in lines[1:]]) + "\n")
    labelled = str(tmp_path / "labelled.tar.gz")
    run_calibrate(tiny_archive_copy, tiny_trained_archive.dev_data, "--selection-data", str(relabelled),
                  "--output-archive", labelled, *TARGET)
    # And predictor lines carrying a "label" and a "threshold" of their own.
    with_keys = str(tmp_path / "with_keys.tar.gz")
    run_calibrate(tiny_archive_copy, tiny_trained_archive.dev_data, "--selection-data",
                  sentences_jsonl(pool, tmp_path / "keys.jsonl", {"label": "banana", "threshold": 0.1}),
                  "--output-archive", with_keys, *TARGET)
    first, second, third = (report_and_config(path)[0] for path in (unlabelled, labelled, with_keys))
    for report in (second, third):
        for key in ("threshold", "p_value", "disagreements", "selection_rows"):
            assert report["threshold_selection"][key] == first["threshold_selection"][key]


def test_too_few_selection_rows_is_the_error_with_the_rows_needed(
    tiny_trained_archive, tiny_archive_copy, tmp_path, capsys
):
    pool = sentences_jsonl(write_sentiment_tsv(str(tmp_path / "pool.tsv"), 60, seed=5), tmp_path / "pool.jsonl")
    expect_calibrate_error(
        tiny_archive_copy, tiny_trained_archive.dev_data,
        f"--target-agreement on {pool}: 30 calibration rows cannot certify 99% agreement with probability 0.9: "
        "at least 230 rows are needed",
        capsys, "--selection-data", pool, "--target-agreement", "0.99",
    )


def test_a_bad_selection_line_names_the_file_the_line_and_the_field(
    tiny_trained_archive, tiny_archive_copy, tmp_path, capsys
):
    pool = tmp_path / "pool.jsonl"
    pool.write_text('{"sentence": "a good movie"}\n\n{"sentence": 3}\n')
    expect_calibrate_error(
        tiny_archive_copy, tiny_trained_archive.dev_data,
        f"--selection-data {pool}, line 3: expected a non-empty string in the field 'sentence', found 3",
        capsys, "--selection-data", str(pool), *TARGET,
    )
    missing = str(tmp_path / "missing.jsonl")
    expect_calibrate_error(tiny_archive_copy, tiny_trained_archive.dev_data,
                           f"--selection-data {missing} does not exist", capsys, "--selection-data", missing)
    expect_calibrate_error(tiny_archive_copy, tiny_trained_archive.dev_data,
                           "--per-exit-thresholds certifies a setting: give --target-agreement too", capsys,
                           "--per-exit-thresholds")
    expect_calibrate_error(tiny_archive_copy, tiny_trained_archive.dev_data,
                           "--selection-data fits the agreement predictors and picks the threshold: give "
                           "--target-agreement or --exit-policy agreement too", capsys, "--selection-data", str(pool))


def test_a_certified_per_exit_setting_is_stored_and_the_loaded_model_decides_with_it(
    tiny_trained_archive, tiny_archive_copy, tmp_path, capsys
):
    pool = sentences_jsonl(write_sentiment_tsv(str(tmp_path / "pool.tsv"), 80, seed=5), tmp_path / "pool.jsonl")
    run_calibrate(tiny_archive_copy, tiny_trained_archive.dev_data, "--selection-data", pool,
                  "--per-exit-thresholds", *TARGET)
    printed = capsys.readouterr().out
    report, config = report_and_config(tiny_archive_copy)
    picked = report["threshold_selection"]
    assert picked["family"] == "per_exit" and picked["threshold"] is None
    assert len(picked["exit_thresholds"]) == 4 and picked["family_size"] >= 1
    assert config["model"]["exit_policy"]["exit_thresholds"] == picked["exit_thresholds"]
    assert "per-exit thresholds " + "/".join(f"{v:g}" for v in picked["exit_thresholds"]) in printed

    archive = load_archive(tiny_archive_copy)
    model = archive.model
    model.eval()
    assert list(model.exit_thresholds) == picked["exit_thresholds"]
    instances = read_labelled_instances(archive, tiny_trained_archive.dev_data, "DEV", "test", ValueError)
    outputs = collect_exit_outputs(model, instances, batch_size=16)
    offline = model.exit_policy.first_exits(calibrated_probs(outputs.exit_logits, torch.tensor(model.temperatures)))
    online = torch.tensor([output["exit_index"] for output in model.forward_on_instances(instances)])
    assert online.tolist() == offline.tolist()
    # A threshold given at load time replaces the per-exit setting, as for any archive.
    assert load_archive(tiny_archive_copy, overrides={"threshold": 0.7}).model.exit_thresholds is None
