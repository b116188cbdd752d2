import importlib.util
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "split_dataset.py"
spec = importlib.util.spec_from_file_location("split_dataset", SCRIPT)
split_dataset = importlib.util.module_from_spec(spec)
spec.loader.exec_module(split_dataset)


def test_parts_are_disjoint_complete_sized_and_seeded():
    lines = [f"row {i}\n" for i in range(100)]
    parts = split_dataset.split_lines(lines, dev=0.1, test=0.2, seed=13)
    assert [len(parts[p]) for p in ("train", "dev", "test")] == [70, 10, 20]
    assert sorted(sum(parts.values(), [])) == sorted(lines)
    assert parts == split_dataset.split_lines(lines, dev=0.1, test=0.2, seed=13)
    assert parts != split_dataset.split_lines(lines, dev=0.1, test=0.2, seed=14)


def test_the_header_goes_to_every_part(tmp_path, monkeypatch):
    source = tmp_path / "data.csv"
    source.write_text("premise,hypothesis,label\n" + "".join(f"a {i},b,neutral\n" for i in range(20)))
    monkeypatch.setattr(sys, "argv", ["split", str(source), "--output-dir", str(tmp_path / "out"), "--header"])
    assert split_dataset.main() == 0
    for part in ("train", "dev", "test"):
        lines = (tmp_path / "out" / f"{part}.csv").read_text().splitlines()
        assert lines[0] == "premise,hypothesis,label" and len(lines) > 1
    assert sum(len((tmp_path / "out" / f"{p}.csv").read_text().splitlines()) - 1 for p in ("train", "dev", "test")) == 20


def test_bad_fractions_are_refused(tmp_path, monkeypatch, capsys):
    source = tmp_path / "data.tsv"
    source.write_text("x\t1\n")
    monkeypatch.setattr(sys, "argv", ["split", str(source), "--output-dir", str(tmp_path), "--dev", "0.6", "--test", "0.5"])
    assert split_dataset.main() == 2
    assert "sum to less than 1" in capsys.readouterr().err
