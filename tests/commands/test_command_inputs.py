"""
`allennlp predict` and `allennlp evaluate` with unusable inputs, run with the plugin: one error line that
names the file (and the physical line), no traceback, no output written.
"""
import json

import pytest

from sledgehammer.dataset_readers.transformer_classification_reader import DatasetFormatError
from tests.commands.conftest import assert_one_line_error, run_allennlp_cli, run_allennlp_in_process


def test_evaluate_on_a_file_without_instances_is_one_line_naming_it(tiny_trained_archive, tmp_path):
    data = tmp_path / "empty.tsv"
    data.write_text("sentence\tlabel\n\n")
    output = tmp_path / "metrics.json"
    result = run_allennlp_cli("evaluate", tiny_trained_archive.archive, data, "--output-file", output)
    assert result.returncode == 1
    assert_one_line_error(result.stderr, "allennlp evaluate: error: ", f"{data}: has no instances")
    assert "AssertionError" not in result.stderr
    assert not output.exists()


@pytest.mark.parametrize(
    "name, content, message",
    [("empty.tsv", "", "empty.tsv: has no instances"), ("missing.tsv", None, "missing.tsv: does not exist")],
)
def test_evaluate_names_the_unusable_file(tiny_trained_archive, tmp_path, monkeypatch, name, content, message):
    data = tmp_path / name
    if content is not None:
        data.write_text(content)
    with pytest.raises(DatasetFormatError, match=message):
        run_allennlp_in_process(monkeypatch, "evaluate", tiny_trained_archive.archive, data)


def test_predict_on_a_blank_input_is_an_error_and_writes_no_output(tiny_trained_archive, tmp_path):
    inputs = tmp_path / "in.jsonl"
    inputs.write_text("\n   \n")
    output = tmp_path / "out.jsonl"
    result = run_allennlp_cli("predict", tiny_trained_archive.archive, inputs, "--output-file", output, "--silent")
    assert result.returncode == 1
    assert_one_line_error(
        result.stderr, "allennlp predict: error: ", f"{inputs}: has no input lines (it is empty or blank)"
    )
    assert not output.exists()


def test_predict_names_the_file_and_the_physical_line(tiny_trained_archive, tmp_path, monkeypatch):
    inputs = tmp_path / "in.jsonl"
    inputs.write_text('{"sentence": "a good film"}\n\n\n{"text": 5}\n')
    with pytest.raises(DatasetFormatError) as raised:
        run_allennlp_in_process(monkeypatch, "predict", tiny_trained_archive.archive, inputs, "--silent",
                       "--output-file", tmp_path / "out.jsonl")
    assert str(raised.value) == f"{inputs}, line 4: expected a non-empty string in the field 'text', found 5"


def test_predict_accepts_a_utf8_byte_order_mark(tiny_trained_archive, tmp_path, monkeypatch):
    inputs = tmp_path / "in.jsonl"
    inputs.write_bytes('\ufeff{"sentence": "a good film"}\n{"sentence": "a dull plot"}\n'.encode("utf-8"))
    output = tmp_path / "out.jsonl"
    run_allennlp_in_process(monkeypatch, "predict", tiny_trained_archive.archive, inputs, "--silent", "--output-file", output)
    predictions = [json.loads(line) for line in output.read_text().splitlines()]
    assert len(predictions) == 2 and all(p["label"] in {"pos", "neg"} for p in predictions)


def test_predict_on_a_missing_file_names_it(tiny_trained_archive, tmp_path, monkeypatch):
    missing = tmp_path / "missing.jsonl"
    with pytest.raises(DatasetFormatError, match=f"{missing}: does not exist"):
        run_allennlp_in_process(monkeypatch, "predict", tiny_trained_archive.archive, missing, "--silent",
                       "--output-file", tmp_path / "out.jsonl")
    assert not (tmp_path / "out.jsonl").exists()
