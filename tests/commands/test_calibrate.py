"""
End-to-end tests of `allennlp calibrate` (run through AllenNLP's command-line entry point) and of the
safe archive reading and atomic rewriting it relies on.
"""
import hashlib
import io
import json
import os
import signal
import subprocess
import sys
import tarfile
import tempfile
import textwrap
import time
import uuid
from typing import Dict
from unittest import mock

import pytest

from tests.commands.conftest import assert_one_line_error
import torch

import sledgehammer  # noqa: F401  (registers the subcommand)
from allennlp.commands import main
from allennlp.models.archival import load_archive

from sledgehammer.commands.archive_inputs import read_labelled_instances
from sledgehammer.common import archive_files
from sledgehammer.common.archive_files import (
    ArchiveError,
    UnsafeArchiveError,
    check_member,
    read_archive_config,
    write_archive_with_replacements,
)
from sledgehammer.evaluation.exit_outputs import collect_exit_outputs

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ALLENNLP = os.path.join(os.path.dirname(sys.executable), "allennlp")
ERROR_PREFIX = "allennlp calibrate: error: "


def run_calibrate(*args: str) -> None:
    with mock.patch.object(sys, "argv", ["allennlp", "calibrate", *map(str, args)]):
        main()


def sha256(path) -> str:
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def archive_contents(path) -> Dict[str, bytes]:
    """Member name -> content (b"" for folders, link target for links)."""
    contents = {}
    with tarfile.open(path, "r:gz") as archive:
        for member in archive.getmembers():
            if member.isfile():
                contents[member.name] = archive.extractfile(member).read()
            else:
                contents[member.name] = member.linkname.encode()
    return contents


def exit_negative_log_likelihoods(archive_path, dev_data):
    """Per exit: (NLL of the raw logits, NLL of the model's own calibrated `exit_probs`) on `dev_data`."""
    archive = load_archive(archive_path)
    model = archive.model
    instances = read_labelled_instances(archive, dev_data, "DEV_DATA")
    outputs = collect_exit_outputs(model, instances, batch_size=16)
    logits, labels = outputs.exit_logits, outputs.labels
    temperatures = torch.tensor(model.temperatures)[None, :, None]
    raw = torch.log_softmax(logits.double(), dim=-1)
    calibrated = torch.log_softmax(logits.double() / temperatures, dim=-1)
    rows = torch.arange(len(labels))
    return [
        (-raw[rows, k, labels].mean().item(), -calibrated[rows, k, labels].mean().item())
        for k in range(logits.shape[1])
    ]


# ---- the command on a trained archive ------------------------------------------------------------


def test_allennlp_help_lists_calibrate():
    result = subprocess.run(
        [ALLENNLP, "--help"], cwd=REPO_ROOT, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert any(line.split()[:1] == ["calibrate"] for line in result.stdout.splitlines()), result.stdout


def test_calibrate_to_output_archive(tiny_trained_archive, tiny_archive_copy, tmp_path, capsys):
    source_hash = sha256(tiny_archive_copy)
    output = tmp_path / "out" / "calibrated.tar.gz"
    plot = tmp_path / "plots" / "reliability.png"
    run_calibrate(
        tiny_archive_copy, tiny_trained_archive.dev_data, "--output-archive", output, "--plot", plot,
        "--batch-size", "16",
    )
    assert sha256(tiny_archive_copy) == source_hash  # ARCHIVE untouched

    report = json.loads((output.parent / "calibration.json").read_text())
    contents = archive_contents(output)
    assert json.loads(contents["calibration.json"]) == report
    temperatures = report["temperatures"]
    model = load_archive(output).model
    assert len(temperatures) == len(model.exit_layers) == 4
    assert model.temperatures == pytest.approx(temperatures, rel=1e-6)
    assert json.loads(contents["config.json"])["model"]["temperatures"] == temperatures
    assert [e["exit_layer"] for e in report["exits"]] == model.exit_layers
    assert report["num_instances"] == 40
    for result in report["exits"]:
        assert result["nll_after"] <= result["nll_before"]

    # Every other member is byte-for-byte the same, and nothing went missing.
    original = archive_contents(tiny_archive_copy)
    for name in set(original) - {"config.json"}:
        assert contents[name] == original[name], name
    assert set(contents) == set(original) | {"calibration.json"}
    old_config = json.loads(original["config.json"])
    new_config = json.loads(contents["config.json"])
    new_config["model"].pop("temperatures")
    old_config["model"].pop("temperatures", None)
    assert new_config == old_config

    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    printed = capsys.readouterr().out
    assert "exit layer" in printed and "temperature" in printed and "ECE before" in printed
    for result in report["exits"]:
        assert f"{result['temperature']:.4f}" in printed


def test_calibration_does_not_raise_the_dev_nll_at_any_exit(
    tiny_trained_archive, tiny_archive_copy, tmp_path
):
    output = tmp_path / "calibrated.tar.gz"
    run_calibrate(tiny_archive_copy, tiny_trained_archive.dev_data, "--output-archive", output)
    for raw, calibrated in exit_negative_log_likelihoods(output, tiny_trained_archive.dev_data):
        assert calibrated <= raw + 1e-6


def test_calibrating_in_place_twice_replaces_the_temperatures(tiny_trained_archive, tiny_archive_copy):
    before = sha256(tiny_archive_copy)
    run_calibrate(tiny_archive_copy, tiny_trained_archive.dev_data)
    assert sha256(tiny_archive_copy) != before
    first = read_archive_config(tiny_archive_copy)["model"]["temperatures"]
    beside = os.path.join(os.path.dirname(tiny_archive_copy), "calibration.json")
    with open(beside) as f:
        assert json.load(f)["temperatures"] == first

    run_calibrate(tiny_archive_copy, tiny_trained_archive.dev_data)
    second = read_archive_config(tiny_archive_copy)["model"]["temperatures"]
    assert second == pytest.approx(first, rel=1e-9)  # fitted from raw logits, not stacked
    assert load_archive(tiny_archive_copy).model.temperatures == pytest.approx(second, rel=1e-6)
    leftovers = [name for name in os.listdir(os.path.dirname(tiny_archive_copy)) if name.endswith(".tmp")]
    assert leftovers == []


# ---- errors ---------------------------------------------------------------------------------------


def write_tar_gz(path, members: Dict[str, bytes], extra=()) -> str:
    """Writes a tar.gz of regular files, plus `extra` ready-made (TarInfo, content-or-None) members."""
    with tarfile.open(path, "w:gz") as archive:
        for name, content in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(content)
            archive.addfile(info, io.BytesIO(content))
        for info, content in extra:
            archive.addfile(info, None if content is None else io.BytesIO(content))
    return str(path)


def archive_with_extra_member(source, destination, info, content=None) -> str:
    contents = archive_contents(source)
    return write_tar_gz(destination, contents, extra=[(info, content)])


def regular(name: str, content: bytes = b"owned\n") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size = len(content)
    return info


def link(name: str, target: str, kind=tarfile.SYMTYPE) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = target
    return info


def expect_calibrate_error(archive, dev_data, message, capsys, *extra):
    before = sha256(archive) if os.path.isfile(archive) else None
    capsys.readouterr()
    with pytest.raises(SystemExit) as raised:
        run_calibrate(archive, dev_data, *extra)
    assert raised.value.code == 2
    assert_one_line_error(capsys.readouterr().err, ERROR_PREFIX, message)
    if before is not None:
        assert sha256(archive) == before
    assert not os.path.exists(os.path.join(os.path.dirname(archive), "calibration.json"))


def test_missing_archive_is_an_error(tiny_trained_archive, tmp_path, capsys):
    missing = str(tmp_path / "nowhere.tar.gz")
    expect_calibrate_error(missing, tiny_trained_archive.dev_data, "does not exist", capsys)


def test_a_file_that_is_not_an_archive_is_an_error(tiny_trained_archive, tmp_path, capsys):
    not_archive = tmp_path / "model.tar.gz"
    not_archive.write_text("this is not a tar file\n")
    expect_calibrate_error(str(not_archive), tiny_trained_archive.dev_data, "is not a model archive", capsys)


def test_an_archive_without_config_is_an_error(tiny_trained_archive, tmp_path, capsys):
    archive = write_tar_gz(tmp_path / "model.tar.gz", {"weights.th": b"0"})
    expect_calibrate_error(archive, tiny_trained_archive.dev_data, "has no config.json", capsys)


def test_another_model_type_is_an_error(tiny_trained_archive, tmp_path, capsys):
    config = json.dumps({"model": {"type": "basic_classifier"}}).encode()
    archive = write_tar_gz(tmp_path / "model.tar.gz", {"config.json": config, "weights.th": b"0"})
    expect_calibrate_error(archive, tiny_trained_archive.dev_data, "'basic_classifier'", capsys)


@pytest.mark.parametrize(
    "content, message",
    [
        (None, "does not exist"),
        ("sentence\tlabel\n", "has no instances"),
        ("", "has no instances"),
        ("sentence\nthe film is good\n", "label"),
        ("sentence\tlabel\nthe film is good\tmaybe\n", "'maybe'"),
    ],
    ids=["missing", "header-only", "empty-file", "no-labels", "unknown-label"],
)
def test_unusable_dev_data_is_an_error(tiny_archive_copy, tmp_path, capsys, content, message):
    dev_data = tmp_path / "dev.tsv"
    if content is not None:
        dev_data.write_text(content)
    expect_calibrate_error(tiny_archive_copy, str(dev_data), message, capsys)
    output = tmp_path / "new-folder" / "calibrated.tar.gz"
    expect_calibrate_error(tiny_archive_copy, str(dev_data), message, capsys, "--output-archive", output)
    assert not output.parent.exists()  # nothing is created before calibration succeeds


def test_unsafe_archive_members_are_refused(tiny_trained_archive, tmp_path, capsys):
    escaped_name = f"evil-{uuid.uuid4().hex}.txt"
    cases = [
        (regular(f"../{escaped_name}"), b"owned\n", f"'../{escaped_name}' has a '..' path component"),
        (regular("/abs.txt"), b"owned\n", "'/abs.txt' has an absolute path"),
        (regular("vocabulary/../../x.txt"), b"owned\n", "'vocabulary/../../x.txt'"),
        (link("vocabulary/escape", "../../etc/passwd"), None, "symbolic link pointing outside"),
        (link("passwd", "/etc/passwd"), None, "symbolic link to the absolute path"),
        (link("hard", "../outside", tarfile.LNKTYPE), None, "hard link pointing outside"),
    ]
    for number, (info, content, message) in enumerate(cases):
        archive = archive_with_extra_member(
            tiny_trained_archive.archive, tmp_path / f"unsafe{number}.tar.gz", info, content
        )
        expect_calibrate_error(archive, tiny_trained_archive.dev_data, "unsafe archive", capsys)
        with pytest.raises(UnsafeArchiveError, match=message):
            read_archive_config(archive)
    assert not os.path.exists(os.path.join(tempfile.gettempdir(), escaped_name))


def test_check_member_accepts_ordinary_members():
    check_member(regular("config.json"))
    check_member(regular("./vocabulary/labels.txt"))
    check_member(link("vocabulary/latest", "labels.txt"))
    check_member(link("a/b/up", "../c.txt"))  # stays inside
    check_member(link("copy", "vocabulary/labels.txt", tarfile.LNKTYPE))
    device = tarfile.TarInfo("dev")
    device.type = tarfile.CHRTYPE
    with pytest.raises(UnsafeArchiveError, match="'dev' is a device"):
        check_member(device)


def test_command_line_error_is_one_line_without_traceback(tmp_path):
    missing = str(tmp_path / "missing.tar.gz")
    result = subprocess.run(
        [ALLENNLP, "calibrate", missing, str(tmp_path / "dev.tsv")],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1] == f"{ERROR_PREFIX}archive {missing} does not exist"
    assert "Traceback" not in result.stderr


# ---- archive rewriting ----------------------------------------------------------------------------


def test_write_archive_with_replacements_copies_the_rest_unchanged(tmp_path):
    source = write_tar_gz(
        tmp_path / "source.tar.gz",
        {"config.json": b"{}", "weights.th": os.urandom(1000), "vocabulary/labels.txt": b"a\nb\n"},
        extra=[(link("vocabulary/latest", "labels.txt"), None)],
    )
    os.chmod(source, 0o640)
    write_archive_with_replacements(source, source, {"./config.json": b'{"new": 1}', "extra.json": b"[]"})
    assert oct(os.stat(source).st_mode & 0o777) == oct(0o640)
    with tarfile.open(source, "r:gz") as archive:
        names = archive.getnames()
        assert names == [
            "config.json", "weights.th", "vocabulary/labels.txt", "vocabulary/latest", "extra.json"
        ]
        assert archive.getmember("vocabulary/latest").linkname == "labels.txt"
        assert archive.extractfile("config.json").read() == b'{"new": 1}'
    assert os.listdir(tmp_path) == ["source.tar.gz"]


def test_write_archive_with_replacements_leaves_nothing_on_error(tmp_path):
    source = write_tar_gz(
        tmp_path / "source.tar.gz", {"config.json": b"{}"}, extra=[(regular("/abs"), b"owned\n")]
    )
    destination = tmp_path / "out.tar.gz"
    with pytest.raises(UnsafeArchiveError):
        write_archive_with_replacements(source, destination, {"config.json": b"[]"})
    assert sorted(os.listdir(tmp_path)) == ["source.tar.gz"]
    with pytest.raises(ArchiveError, match="does not exist"):
        write_archive_with_replacements(tmp_path / "missing.tar.gz", destination, {})


CHILD_WRITER = textwrap.dedent(
    """
    import importlib.util, os, sys, time

    def load(name, path):
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
        return module

    # Both modules use the standard library only: loaded by path, without the sledgehammer package.
    load("sledgehammer.common.atomic_files", os.path.join(os.path.dirname(sys.argv[1]), "atomic_files.py"))
    archive_files = load("archive_files", sys.argv[1])
    assert "allennlp" not in sys.modules

    class SlowFile:
        # A source archive that trickles in, so the write takes a while.
        def __init__(self, path):
            self._file = open(path, "rb")
            self.name = path
        def read(self, size=-1):
            time.sleep(0.004)
            return self._file.read(size)
        def seek(self, *args):
            return self._file.seek(*args)
        def tell(self):
            return self._file.tell()

    destination = sys.argv[2]
    print("ready", flush=True)
    archive_files.write_archive_with_replacements(
        SlowFile(destination), destination, {"config.json": b'{"rewritten": true}'}
    )
    print("done", flush=True)
    """
)


def start_writer(script, archive):
    process = subprocess.Popen(
        [sys.executable, str(script), archive_files.__file__, str(archive)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout.readline().strip() == "ready"
    return process


def test_killing_the_writer_never_leaves_a_partial_archive(tmp_path):
    folder = tmp_path / "models"
    folder.mkdir()
    archive = folder / "model.tar.gz"
    # About 1.5 MB of incompressible weights: a few hundred slow reads.
    write_tar_gz(archive, {"config.json": b"{}", "weights.th": os.urandom(1_500_000), "meta.json": b"{}"})
    original = sha256(archive)
    script = tmp_path / "writer.py"
    script.write_text(CHILD_WRITER)

    for delay in (0.05, 0.1, 0.2, 0.4):
        process = start_writer(script, archive)
        time.sleep(delay)
        assert process.poll() is None, "the writer finished before it could be killed"
        os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=30)
        process.stdout.close()
        assert sha256(archive) == original, f"archive changed after a kill at {delay} s"
        for name in os.listdir(folder):
            if name != "model.tar.gz":  # leftovers must not look like an archive
                assert name.startswith(".partial-") and name.endswith(".tmp"), name
                assert ".tar" not in name and "model" not in name

    # Left alone, the same writer completes and replaces the archive in one step.
    for name in os.listdir(folder):
        if name != "model.tar.gz":
            os.unlink(folder / name)
    process = start_writer(script, archive)
    assert process.stdout.readline().strip() == "done"
    process.wait(timeout=60)
    process.stdout.close()
    assert process.returncode == 0
    contents = archive_contents(archive)
    assert contents["config.json"] == b'{"rewritten": true}'
    assert len(contents["weights.th"]) == 1_500_000
    assert os.listdir(folder) == ["model.tar.gz"]
