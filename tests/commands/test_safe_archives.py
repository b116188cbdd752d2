"""
AllenNLP's own commands extract model archives safely once the plugin is loaded: `allennlp predict` and
`allennlp evaluate` refuse a trained archive with a member `../evil.txt`, an absolute member name, a link
leading outside or a device file, write nothing, and name the member in one error line.
"""
import io
import json
import os
import tarfile

import pytest
from allennlp.models.archival import load_archive

from sledgehammer.common.archive_files import UnsafeArchiveError
from tests.commands.conftest import assert_one_line_error, run_allennlp_cli, run_allennlp_in_process


def with_extra_members(source: str, destination: str, extra) -> str:
    """Copies the archive `source` to `destination`, appending `(TarInfo, bytes or None)` members."""
    with tarfile.open(source, "r:gz") as original, tarfile.open(destination, "w:gz") as copy:
        for member in original.getmembers():
            copy.addfile(member, original.extractfile(member) if member.isfile() else None)
        for info, content in extra:
            if content is not None:
                info.size = len(content)
            copy.addfile(info, None if content is None else io.BytesIO(content))
    return destination


def regular(name: str) -> tarfile.TarInfo:
    return tarfile.TarInfo(name)


def symlink(name: str, target: str) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = tarfile.SYMTYPE, target
    return info


def device(name: str) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = tarfile.CHRTYPE
    return info


@pytest.fixture
def places(tmp_path):
    """A scratch TMPDIR for the command (AllenNLP extracts below it) and the files an attack would write."""
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    return scratch, scratch / "evil.txt", tmp_path / "absolute_evil.txt"


def inputs(tmp_path) -> str:
    path = tmp_path / "in.jsonl"
    path.write_text('{"sentence": "a good film"}\n')
    return str(path)


@pytest.mark.parametrize("command", ["predict", "evaluate"])
def test_the_command_line_refuses_a_member_outside_and_writes_nothing(
    tiny_trained_archive, tmp_path, places, command
):
    scratch, relative_target, absolute_target = places
    # AllenNLP extracts to TMPDIR/tmpXXXXXXXX, so "../evil.txt" would land in scratch/evil.txt. Both
    # archives hold both members; the first unsafe one is named.
    names = ["../evil.txt", str(absolute_target)]
    if command == "evaluate":
        names.reverse()
    extra = [(regular(name), b"owned\n") for name in names]
    archive = with_extra_members(tiny_trained_archive.archive, str(tmp_path / "model.tar.gz"), extra)
    data = inputs(tmp_path) if command == "predict" else tiny_trained_archive.dev_data
    output = tmp_path / "out.json"
    result = run_allennlp_cli(command, archive, data, "--output-file", output, env={"TMPDIR": str(scratch)})
    assert result.returncode != 0
    assert_one_line_error(result.stderr, f"allennlp {command}: error: ", f"member {names[0]!r}")
    assert "unsafe archive" in result.stderr
    assert not relative_target.exists() and not absolute_target.exists()
    assert os.listdir(scratch) == []  # nothing was extracted at all
    assert not output.exists()


@pytest.mark.parametrize(
    "extra, message",
    [
        ([(symlink("weights_link", "../../outside"), None)], "'weights_link' is a symbolic link pointing outside"),
        ([(symlink("escape", "/etc"), None)], "'escape' is a symbolic link to the absolute path '/etc'"),
        ([(symlink("a/b", ".."), None), (symlink("a/b/c", ".."), None), (regular("a/b/c/evil.txt"), b"x")],
         "'a/b/c' lies below the link 'a/b'"),
        ([(device("null"), None)], "'null' is a device or FIFO"),
    ],
    ids=["link-outside", "absolute-link", "through-a-link", "device"],
)
@pytest.mark.parametrize("command", ["predict", "evaluate"])
def test_links_and_devices_are_refused_before_anything_is_written(
    tiny_trained_archive, tmp_path, monkeypatch, places, extra, message, command
):
    scratch, _, _ = places
    monkeypatch.setenv("TMPDIR", str(scratch))
    monkeypatch.setattr("tempfile.tempdir", None)  # TMPDIR is read again
    archive = with_extra_members(tiny_trained_archive.archive, str(tmp_path / "model.tar.gz"), extra)
    data = inputs(tmp_path) if command == "predict" else tiny_trained_archive.dev_data
    with pytest.raises(UnsafeArchiveError, match=message):
        run_allennlp_in_process(monkeypatch, command, archive, data, "--output-file", tmp_path / "out.json")
    assert os.listdir(scratch) == []
    assert not (tmp_path / "out.json").exists() and not (tmp_path / "outside").exists()


def test_a_safe_archive_still_loads_and_its_folder_is_removed(tiny_trained_archive, tmp_path, monkeypatch):
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setenv("TMPDIR", str(scratch))
    monkeypatch.setattr("tempfile.tempdir", None)
    archive = load_archive(tiny_trained_archive.archive)
    assert archive.model.vocab.get_vocab_size("labels") == 2
    assert os.listdir(scratch) == []
    output = tmp_path / "out.jsonl"
    run_allennlp_in_process(monkeypatch, "predict", tiny_trained_archive.archive, inputs(tmp_path), "--output-file", output,
                   "--silent")
    assert json.loads(output.read_text())["label"] in {"pos", "neg"}
