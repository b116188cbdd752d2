"""
`allennlp predict-corpus` as a user runs it: Ray started by the command on this machine, the outputs and the
summary, status 1 and the file and line of a row that could not be used; unusable options and inputs are refused
(one line, status 2) before Ray starts.
"""
import json

import pytest

from sledgehammer.commands.archive_inputs import CommandInputError
from sledgehammer.on_ray.corpus_job import check_job_inputs
from tests.commands.conftest import assert_one_line_error, run_allennlp_cli, run_allennlp_in_process
from tests.on_ray.conftest import INPUTS, read_jsonl, write_jsonl

PREFIX = "allennlp predict-corpus:"


def test_the_command_writes_the_outputs_and_reports_an_unusable_row(tiny_trained_archive, tmp_path):
    corpus = write_jsonl(tmp_path / "corpus.jsonl", INPUTS[:6] + [{"id": "no text"}] + INPUTS[6:10])
    result = run_allennlp_cli("predict-corpus", tiny_trained_archive.archive, corpus, "--output-dir",
                              tmp_path / "out", "--num-actors", "2", "--batch-size", "4", "--num-threads", "1")
    assert result.returncode == 1, result.stderr
    assert f"{corpus}, line 7: " in result.stderr
    assert f"{PREFIX} 1 rows could not be used" in result.stderr and "Traceback" not in result.stderr
    assert "10 rows answered, 1 not usable" in result.stdout and "relative FLOPs" in result.stdout
    rows = read_jsonl(tmp_path / "out" / "corpus.predictions.jsonl")
    assert [row["input"] for row in rows] == INPUTS[:10]
    statistics = json.loads((tmp_path / "out" / "exit_statistics.json").read_text())
    assert statistics["rows"] == 10 and statistics["errors"] == 1 and statistics["num_actors"] == 2


@pytest.mark.parametrize("options, message", [
    (dict(num_actors=0), "--num-actors must be an integer of at least 1, got 0"),
    (dict(min_fill=1.5), "--min-fill must be in [0, 1], got 1.5"),
    (dict(batch_size=0), "--batch-size must be an integer of at least 1, got 0"),
    (dict(num_threads=0), "--num-threads must be an integer of at least 1, got 0"),
    (dict(max_restarts=-1), "--max-restarts must be an integer of at least 0, got -1"),
    (dict(inputs=[]), "expected at least one INPUT file"),
    (dict(inputs=["missing.jsonl"]), "INPUT missing.jsonl does not exist"),
])
def test_unusable_options_are_refused_before_ray_starts(tiny_trained_archive, tmp_path, options, message):
    arguments = dict(inputs=[write_jsonl(tmp_path / "corpus.jsonl", INPUTS[:2])], num_actors=1, batch_size=4,
                     num_threads=None, min_fill=None, max_restarts=3)
    arguments.update(options)
    with pytest.raises(CommandInputError) as error:
        check_job_inputs(tiny_trained_archive.archive, **arguments)
    assert str(error.value) == message


def test_an_input_of_another_format_is_one_line_and_status_2(tiny_trained_archive, monkeypatch, capsys, tmp_path):
    other = tmp_path / "corpus.xml"
    other.write_text("<rows/>")
    with pytest.raises(SystemExit) as status:
        run_allennlp_in_process(monkeypatch, "predict-corpus", tiny_trained_archive.archive, other, "--output-dir",
                                tmp_path / "out")
    assert status.value.code == 2
    assert_one_line_error(capsys.readouterr().err, PREFIX, f"{other}: expected a corpus file ending in one of .jsonl")
    assert not (tmp_path / "out").exists()
