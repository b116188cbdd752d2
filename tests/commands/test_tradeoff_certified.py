"""`allennlp tradeoff` shows the certified setting an archive holds as a `certified` row and point."""
import json

from sledgehammer.evaluation.certified_point import certified_name
from tests.commands.test_calibrate import run_calibrate
from tests.commands.test_calibrate_selection import TARGET, sentences_jsonl
from tests.commands.conftest import write_sentiment_tsv
from tests.commands.test_tradeoff import read_outputs, run_tradeoff


def certified_rows(report):
    return [row for row in report["rows"] if row["kind"] == "certified"]


def test_an_archive_without_a_certified_setting_has_no_certified_row(tiny_trained_archive, tmp_path, capsys):
    run_tradeoff(tiny_trained_archive.archive, tiny_trained_archive.dev_data, "--output-dir", str(tmp_path / "out"))
    report = json.loads((tmp_path / "out" / "tradeoff.json").read_text())
    assert certified_rows(report) == [] and "certified" not in report["meta"]
    assert "Certified (" not in capsys.readouterr().out


def test_the_certified_threshold_and_per_exit_setting_are_rows_beside_the_curves(
    tiny_trained_archive, tiny_archive_copy, tmp_path, capsys
):
    pool = sentences_jsonl(write_sentiment_tsv(str(tmp_path / "pool.tsv"), 80, seed=5), tmp_path / "pool.jsonl")
    for flags, folder in (((), "single"), (("--per-exit-thresholds",), "per_exit")):
        archive = str(tmp_path / f"{folder}.tar.gz")
        run_calibrate(tiny_archive_copy, tiny_trained_archive.dev_data, "--selection-data", pool,
                      "--output-archive", archive, *flags, *TARGET)
        capsys.readouterr()
        out = tmp_path / f"out_{folder}"
        run_tradeoff(archive, tiny_trained_archive.dev_data, "--output-dir", str(out), "--thresholds", "0.5,1.0")
        printed = capsys.readouterr().out
        report = json.loads((out / "tradeoff.json").read_text())
        rows = certified_rows(report)
        certified = report["meta"]["certified"]
        assert len(rows) == 1 and rows[0]["name"] == certified["row"]
        assert certified["agreement_with_last_exit"] == rows[0]["agreement_with_last_exit"]
        assert certified["saved_flops"] == 1.0 - rows[0]["relative_flops"]
        assert "Certified (confidence " in printed and rows[0]["name"] in printed
        if folder == "per_exit":
            assert certified["exit_thresholds"] is not None and rows[0]["threshold"] is None
            assert "exit_thresholds=" in rows[0]["name"]
        else:
            assert rows[0]["threshold"] == certified["threshold"]
            assert rows[0]["name"] == certified_name({"exit_policy": {"type": "confidence"},
                                                      "threshold": certified["threshold"], "exit_thresholds": None})
        _, csv_lines, png = read_outputs(out)
        assert any(line["name"] == rows[0]["name"] and line["kind"] == "certified" for line in csv_lines)
        assert png.startswith(b"\x89PNG")
