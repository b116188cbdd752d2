"""`allennlp calibrate` with exit policies and a target agreement, through the command line."""
import json

import pytest
import torch
from allennlp.models.archival import load_archive

from sledgehammer.commands.archive_inputs import read_labelled_instances
from sledgehammer.evaluation import collect_exit_outputs, compute_tradeoff
from sledgehammer.modules.exit_policies import AgreementPolicy, ConfidencePolicy, calibrated_probs
from tests.commands.test_calibrate import ERROR_PREFIX, archive_contents, expect_calibrate_error, run_calibrate


def test_agreement_predictors_and_a_certified_threshold_round_trip_through_the_archive(
    tiny_trained_archive, tiny_archive_copy, capsys
):
    run_calibrate(tiny_archive_copy, tiny_trained_archive.dev_data, "--exit-policy", "agreement",
                  "--target-agreement", "0.9", "--delta", "0.2", "--batch-size", "16")
    printed = capsys.readouterr().out
    config = json.loads(archive_contents(tiny_archive_copy)["config.json"])
    stored = config["model"]["exit_policy"]
    report = json.loads(archive_contents(tiny_archive_copy)["calibration.json"])
    selection = report["threshold_selection"]
    assert stored["type"] == "agreement" and len(stored["predictors"]) == 3  # 4 exits
    assert stored["threshold"] == selection["threshold"] and "threshold" not in config["model"]
    assert report["fit_rows"] == 20 and selection["selection_rows"] == 20
    assert selection["p_value"] <= 0.2 or selection["threshold"] == 1.0
    assert f"agreement threshold {selection['threshold']:g}" in printed and "Learn-then-Test" in printed

    # The archive's model decides with the stored predictors, exactly as the offline analysis does.
    model = load_archive(tiny_archive_copy).model
    assert isinstance(model.exit_policy, AgreementPolicy)
    assert model.exit_policy.predictors == stored["predictors"]
    assert model.threshold == selection["threshold"]
    archive = load_archive(tiny_archive_copy)
    instances = read_labelled_instances(archive, tiny_trained_archive.dev_data, "DEV", "test", ValueError)
    outputs = collect_exit_outputs(archive.model, instances, batch_size=16)
    probs = calibrated_probs(outputs.exit_logits, torch.tensor(archive.model.temperatures))
    archive.model.exit_policy.threshold = 0.5
    archive.model.eval()
    from allennlp.data import Batch

    batch = Batch(instances)
    batch.index_instances(archive.model.vocab)
    with torch.no_grad():
        online = archive.model(tokens=batch.as_tensor_dict()["tokens"])["exit_index"]
    assert online.tolist() == archive.model.exit_policy.first_exits(probs).tolist()


def test_a_target_the_dev_rows_cannot_certify_is_an_error_naming_the_rows_needed(
    tiny_trained_archive, tiny_archive_copy, capsys
):
    expect_calibrate_error(
        tiny_archive_copy, tiny_trained_archive.dev_data,
        "20 calibration rows cannot certify 99% agreement with probability 0.9: at least 230 rows are needed",
        capsys, "--target-agreement", "0.99",
    )


@pytest.mark.parametrize("flags, message", [
    (["--target-agreement", "1.5"], "--target-agreement must be a share in (0, 1)"),
    (["--target-agreement", "0.9", "--delta", "0"], "--delta must be a probability in (0, 1)"),
])
def test_bad_guarantee_flags_are_one_line_errors(tiny_trained_archive, tiny_archive_copy, capsys, flags, message):
    expect_calibrate_error(tiny_archive_copy, tiny_trained_archive.dev_data, message, capsys, *flags)


def test_an_archive_without_a_policy_key_loads_as_the_confidence_rule_with_its_threshold(tiny_trained_archive):
    config = json.loads(archive_contents(tiny_trained_archive.archive)["config.json"])
    assert "exit_policy" not in config["model"]
    model = load_archive(tiny_trained_archive.archive, overrides='{"model.threshold": 0.7}').model
    assert type(model.exit_policy) is ConfidencePolicy and model.threshold == 0.7
    model = load_archive(tiny_trained_archive.archive, overrides='{"threshold": 0.6}').model
    assert type(model.exit_policy) is ConfidencePolicy and model.threshold == 0.6
    model = load_archive(
        tiny_trained_archive.archive, overrides='{"exit_policy": {"type": "entropy"}, "threshold": 0.4}'
    ).model
    assert model.exit_policy.name == "entropy" and model.threshold == 0.4
