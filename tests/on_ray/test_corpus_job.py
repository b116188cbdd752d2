"""
`run_corpus_job` on a local Ray: every output row holds its input and, byte for byte, what `allennlp predict` writes
for it with the same batches; CSV and Parquet inputs are read as well; the exit statistics are the corpus'.
"""
import json
import os

import pandas

from sledgehammer.on_ray.corpus_job import run_corpus_job
from sledgehammer.on_ray.corpus_output import ERRORS_FILE, STATISTICS_FILE
from tests.on_ray.conftest import INPUTS, predict_lines, read_jsonl, write_jsonl

BATCH_SIZE = 4


def test_the_corpus_rows_are_what_allennlp_predict_writes(local_ray, tiny_trained_archive, monkeypatch, tmp_path):
    archive = tiny_trained_archive.archive
    jsonl = write_jsonl(tmp_path / "corpus.jsonl", INPUTS, blank_after=9)
    expected = predict_lines(monkeypatch, tmp_path, archive, jsonl, BATCH_SIZE)
    first = [{"sentence": record.get("sentence", record.get("text")), "id": str(number)}
             for number, record in enumerate(INPUTS[:12])]
    csv = tmp_path / "first_rows.csv"
    pandas.DataFrame(first).to_csv(csv, index=False)
    parquet = tmp_path / "first_rows_again.parquet"
    pandas.DataFrame(first).to_parquet(parquet)
    expected_first = predict_lines(monkeypatch, tmp_path, archive, write_jsonl(tmp_path / "first.jsonl", first),
                                   BATCH_SIZE)

    output_dir = tmp_path / "out"
    summary = run_corpus_job(archive, [jsonl, str(csv), str(parquet)], str(output_dir), num_actors=2,
                             batch_size=BATCH_SIZE, num_threads=1)

    rows = read_jsonl(output_dir / "corpus.predictions.jsonl")
    assert [row["line"] for row in rows] == [number if number < 10 else number + 1 for number in range(1, 41)]
    assert [row["input"] for row in rows] == INPUTS
    assert {row["file"] for row in rows} == {jsonl}
    assert [json.dumps(row["prediction"]) for row in rows] == expected
    for name, source, first_line in (("first_rows", str(csv), 2), ("first_rows_again", str(parquet), 1)):
        table_rows = read_jsonl(output_dir / f"{name}.predictions.jsonl")
        assert [row["line"] for row in table_rows] == list(range(first_line, first_line + len(first)))
        assert [row["input"] for row in table_rows] == first and {row["file"] for row in table_rows} == {source}
        assert [json.dumps(row["prediction"]) for row in table_rows] == expected_first
    assert (output_dir / ERRORS_FILE).read_text() == ""
    assert not [name for name in os.listdir(output_dir) if name.startswith(".")]

    predictions = [json.loads(line) for line in expected + expected_first * 2]
    statistics = summary["exit_statistics"]
    assert summary["rows"] == len(predictions) == statistics["counted"] and summary["errors"] == 0
    for layer, count in statistics["exit_counts"].items():
        assert count == sum(1 for p in predictions if p["exit_layer"] == int(layer))
        assert statistics[f"exit_fraction_{layer}"] == count / len(predictions)
    mean_layers = sum(p["layers_run"] for p in predictions) / len(predictions)
    assert abs(statistics["layers_run"] - mean_layers) < 1e-9
    assert 0.0 < statistics["relative_flops"] < 1.0  # some rows answer early (threshold 0.0)
    assert json.loads((output_dir / STATISTICS_FILE).read_text()) == summary
