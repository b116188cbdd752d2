"""
A user's registered subclass of `EarlyExitClassifier` works with `allennlp calibrate`, `allennlp tradeoff`
and the `{"model": {...}}` overrides; another model type is refused, by class rather than by name.
"""
import json
import sys
from unittest import mock

import pytest
from allennlp.commands import main as allennlp_main
from allennlp.models import Model

from sledgehammer.common.archive_files import read_archive_config, write_archive_with_replacements
from sledgehammer.models import EarlyExitClassifier
from tests.commands.conftest import assert_one_line_error

SUBCLASS_NAME = "test_subclassed_early_exit_classifier"


@Model.register(SUBCLASS_NAME)
class SubclassedClassifier(EarlyExitClassifier):
    """A user's own early-exit classifier, registered under its own name."""


def with_model_type(source: str, destination: str, model_type: str) -> str:
    config = read_archive_config(source)
    config["model"]["type"] = model_type
    write_archive_with_replacements(source, destination, {"config.json": json.dumps(config).encode("utf-8")})
    return destination


def run(*arguments):
    with mock.patch.object(sys, "argv", ["allennlp", *map(str, arguments)]):
        allennlp_main()


@pytest.fixture
def subclass_archive(tiny_trained_archive, tmp_path):
    return with_model_type(tiny_trained_archive.archive, str(tmp_path / "model.tar.gz"), SUBCLASS_NAME)


def test_calibrate_accepts_a_registered_subclass(subclass_archive, tiny_trained_archive, one_torch_thread):
    run("calibrate", subclass_archive, tiny_trained_archive.dev_data)
    config = read_archive_config(subclass_archive)
    assert config["model"]["type"] == SUBCLASS_NAME
    assert len(config["model"]["temperatures"]) == 4


def test_tradeoff_accepts_a_registered_subclass(subclass_archive, tiny_trained_archive, tmp_path, one_torch_thread):
    output = tmp_path / "tradeoff"
    run("tradeoff", subclass_archive, tiny_trained_archive.dev_data, "--output-dir", output,
        "--thresholds", "0.5,1", "--policies", "confidence")
    assert (output / "tradeoff.json").is_file()


def test_a_model_override_without_type_merges_for_a_subclass(subclass_archive, tmp_path, one_torch_thread):
    inputs = tmp_path / "in.jsonl"
    inputs.write_text('{"sentence": "a good film"}\n{"sentence": "a dull plot"}\n')
    output = tmp_path / "out.jsonl"
    run("predict", subclass_archive, inputs, "--output-file", output, "--silent",
        "--overrides", '{"model": {"threshold": 0.0}}')
    assert [json.loads(line)["exit_index"] for line in output.read_text().splitlines()] == [0, 0]


@pytest.mark.parametrize(
    "model_type, message",
    [
        ("basic_classifier", "holds a model of type 'basic_classifier' (BasicClassifier); tradeoff expected "
                             "'sledgehammer_classifier' (or a registered subclass of EarlyExitClassifier)"),
        ("no_such_model", "holds a model of type 'no_such_model', which is not a registered Model"),
    ],
)
def test_other_model_types_are_refused(tiny_trained_archive, tmp_path, capsys, model_type, message):
    archive = with_model_type(tiny_trained_archive.archive, str(tmp_path / "model.tar.gz"), model_type)
    with pytest.raises(SystemExit) as exit_info:
        run("tradeoff", archive, tiny_trained_archive.dev_data, "--output-dir", str(tmp_path / "out"))
    assert exit_info.value.code == 2
    assert_one_line_error(capsys.readouterr().err, "allennlp tradeoff: error: ", message)
