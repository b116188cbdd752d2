"""
Faults of a corpus job: an actor killed in the middle of a batch is restarted and its batch run again, so every row
is still written once (and counted once in the exit statistics); malformed rows are reported with their file and
line, and every other row is answered.
"""
import json
import os
import signal

from sledgehammer.on_ray.corpus_job import run_corpus_job
from sledgehammer.on_ray.corpus_output import ERRORS_FILE
from sledgehammer.on_ray.corpus_predictor import CorpusPredictor
from tests.on_ray.conftest import INPUTS, predict_lines, read_jsonl, write_jsonl

BATCH_SIZE = 4
# The actor dies in the batch holding this input line, once.
KILL_AT_LINE = 22
MARKER = "SLEDGEHAMMER_TEST_KILL_MARKER"


class ActorThatDiesOnce(CorpusPredictor):
    """Kills its own process (SIGKILL, as the OOM killer would) on the first batch holding `KILL_AT_LINE`; the
    marker file, created just before, records the pid and stops a second kill."""

    def __init__(self, *args, marker: str, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.marker = marker

    def __call__(self, batch):
        lines = [int(line) for line in batch["line"]]
        if KILL_AT_LINE in lines:
            try:
                descriptor = os.open(self.marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
            except FileExistsError:
                pass
            else:
                os.write(descriptor, str(os.getpid()).encode())
                os.close(descriptor)
                os.kill(os.getpid(), signal.SIGKILL)
        return super().__call__(batch)


def test_a_killed_actor_is_replaced_and_every_row_is_written_once(local_ray, tiny_trained_archive, monkeypatch,
                                                                    tmp_path):
    archive = tiny_trained_archive.archive
    corpus = write_jsonl(tmp_path / "corpus.jsonl", INPUTS)
    expected = predict_lines(monkeypatch, tmp_path, archive, corpus, BATCH_SIZE)
    marker = tmp_path / "killed.pid"

    class Actor(ActorThatDiesOnce):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, marker=str(marker), **kwargs)

    summary = run_corpus_job(archive, [corpus], str(tmp_path / "out"), num_actors=2, batch_size=BATCH_SIZE,
                             num_threads=1, actor_class=Actor)
    assert marker.exists(), "no actor was killed"
    killed = int(marker.read_text())
    assert killed != os.getpid()
    rows = read_jsonl(tmp_path / "out" / "corpus.predictions.jsonl")
    assert [row["line"] for row in rows] == list(range(1, len(INPUTS) + 1))
    assert [json.dumps(row["prediction"]) for row in rows] == expected
    assert summary["rows"] == len(INPUTS) and summary["exit_statistics"]["counted"] == len(INPUTS)


def test_malformed_rows_are_reported_with_file_and_line_and_the_rest_are_written(local_ray, tiny_trained_archive,
                                                                                  tmp_path):
    lines = [json.dumps(INPUTS[0]), '{"sentence": "an unclosed object"', json.dumps(INPUTS[1]),
             json.dumps({"id": "no text"}), json.dumps({"sentence": "x", "threshold": 2}), "", json.dumps(INPUTS[2]),
             "[1, 2]"]
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_bytes(("\n".join(lines) + "\n").encode() + b"\xff\xfe not text\n" + json.dumps(INPUTS[3]).encode())
    name = str(corpus)
    summary = run_corpus_job(tiny_trained_archive.archive, [name], str(tmp_path / "out"), batch_size=BATCH_SIZE,
                             num_threads=1)
    rows = read_jsonl(tmp_path / "out" / "corpus.predictions.jsonl")
    assert [(row["line"], row["input"]) for row in rows] == [(1, INPUTS[0]), (3, INPUTS[1]), (7, INPUTS[2]),
                                                              (10, INPUTS[3])]
    errors = read_jsonl(tmp_path / "out" / ERRORS_FILE)
    assert [(error["file"], error["line"]) for error in errors] == [(name, 2), (name, 4), (name, 5), (name, 8),
                                                                    (name, 9)]
    for error in errors:
        assert error["error"].startswith(f"{name}, line {error['line']}: ")
    assert "invalid JSON" in errors[0]["error"] and "expected" in errors[1]["error"]
    assert "threshold" in errors[2]["error"] and "found a JSON list" in errors[3]["error"]
    assert "UTF-8" in errors[4]["error"]
    assert summary["rows"] == 4 and summary["errors"] == 5
    assert summary["files"][name] == {"output": "corpus.predictions.jsonl", "rows": 4, "errors": 5}
