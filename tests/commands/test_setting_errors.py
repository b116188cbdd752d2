"""
A bad runtime setting of a trained model (`threshold`, `temperatures`, `exit_policy`, `window`, `exit_mode`) given
with `--overrides` or `--predictor-args` ends `allennlp predict` and `allennlp evaluate` with one error line that
names the key, not a traceback; other errors keep theirs.
"""
import json
import sys

import pytest
from allennlp.common.checks import ConfigurationError
from allennlp.models.archival import load_archive
from allennlp.predictors import Predictor

from sledgehammer.common import cli_errors
from tests.commands.conftest import assert_one_line_error, run_allennlp_cli
from tests.conftest import FIXTURE_DATA

CONLL = FIXTURE_DATA / "conll2003.txt"


@pytest.mark.parametrize(
    "command, model, option, setting, message",
    [
        ("predict", "classifier", "--overrides", {"threshold": 2}, "threshold must be a number in [0, 1], got 2"),
        ("evaluate", "classifier", "--overrides", {"temperatures": [1, 2]},
         "expected 4 temperatures (one per exit layer [0, 1, 2, 3]), got 2: [1, 2]"),
        ("predict", "tagger", "--predictor-args", {"window": 2},
         "window must be a positive odd integer (1, 3, 5, ...), got 2"),
    ],
    ids=["predict-threshold", "evaluate-temperatures", "predict-window-argument"],
)
def test_a_bad_setting_is_one_error_line(tiny_trained_archive, tiny_tagger_archive, tmp_path, command, model,
                                         option, setting, message):
    archive = tiny_trained_archive.archive if model == "classifier" else tiny_tagger_archive
    if command == "evaluate":
        data = tiny_trained_archive.dev_data if model == "classifier" else CONLL
    else:
        data = tmp_path / "in.jsonl"
        data.write_text('{"sentence": "the company says no"}\n')
    output = tmp_path / "out.json"
    result = run_allennlp_cli(command, archive, data, option, json.dumps(setting), "--output-file", output)
    assert result.returncode == 1
    assert_one_line_error(result.stderr, f"allennlp {command}: error: ", message)
    assert not output.exists()


def raised(load, *arguments, **options) -> BaseException:
    with pytest.raises(Exception) as caught:
        load(*arguments, **options)
    return caught.value


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"exit_policy": "nonexistent"}, "nonexistent not in acceptable choices"),
        ({"exit_policy": {"type": "patience", "bogus": 1}}, "Extra parameters passed to PatiencePolicy"),
        ({"threshold": "high"}, "Expected threshold to be numeric."),
        ({"model": {"threshold": -0.5}}, "got -0.5"),
        ({"temperatures": [1, 1, 1, 0]}, "temperatures must be positive finite numbers"),
    ],
)
def test_errors_of_settings_given_to_a_trained_model_are_recognised(tiny_trained_archive, overrides, message):
    error = raised(load_archive, tiny_trained_archive.archive, overrides=overrides)
    assert message in str(error)
    assert cli_errors.is_setting_error(error, error.__traceback__)


@pytest.mark.parametrize(
    "overrides, message",
    [({"exit_mode": "tokens"}, "exit_mode must be one of sentence, token, got 'tokens'"),
     ({"window": 4}, "window must be a positive odd integer"), ({"threshold": 1.01}, "got 1.01")],
)
def test_errors_of_settings_given_to_a_trained_tagger_are_recognised(tiny_tagger_archive, overrides, message):
    error = raised(load_archive, str(tiny_tagger_archive), overrides=overrides)
    assert message in str(error)
    assert cli_errors.is_setting_error(error, error.__traceback__)


def test_a_predictor_argument_error_is_recognised(tiny_trained_archive):
    archive = load_archive(tiny_trained_archive.archive)
    error = raised(Predictor.from_archive, archive, "sledgehammer_classifier", extra_args={"threshold": 1.5})
    assert isinstance(error, ConfigurationError)
    assert cli_errors.is_setting_error(error, error.__traceback__)


def test_other_errors_keep_their_traceback(tiny_trained_archive, capsys, monkeypatch):
    def elsewhere():
        raise ConfigurationError("raised outside model loading")

    not_loading = raised(elsewhere)
    assert not cli_errors.is_setting_error(not_loading, not_loading.__traceback__)

    def broken_predictor():  # a TypeError of the code, not of parameter parsing
        archive = load_archive(tiny_trained_archive.archive)
        return Predictor.from_archive(archive, "sledgehammer_classifier", extra_args={"no_such_argument": 1})

    code_error = raised(broken_predictor)
    assert isinstance(code_error, TypeError)
    assert not cli_errors.is_setting_error(code_error, code_error.__traceback__)
    seen = []
    monkeypatch.setattr(sys, "excepthook", lambda *arguments: seen.append(arguments))
    cli_errors.install()
    sys.excepthook(type(code_error), code_error, code_error.__traceback__)
    assert seen and seen[0][1] is code_error  # handed on to the previous hook: a traceback
    setting = raised(load_archive, tiny_trained_archive.archive, overrides={"threshold": 3})
    sys.excepthook(type(setting), setting, setting.__traceback__)
    assert len(seen) == 1
    assert capsys.readouterr().err.endswith(": error: threshold must be a number in [0, 1], got 3\n")
