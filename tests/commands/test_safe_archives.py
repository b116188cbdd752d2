"""
AllenNLP's own commands extract model archives safely once the plugin is loaded: `allennlp predict` and
`allennlp evaluate` refuse a trained archive with a member `../evil.txt`, an absolute member name, a link
leading outside or a device file, or members that would extract to more bytes or files than the limits
allow, write nothing, and name the member (or the limit) in one error line.
"""
import gzip
import io
import json
import os
import tarfile

import pytest
from allennlp.common import Params
from allennlp.data import Vocabulary
from allennlp.models.archival import load_archive

from sledgehammer.common.archive_files import (
    ArchiveError,
    ArchiveLimitError,
    UnsafeArchiveError,
    extraction_limits,
    read_archive_config,
)
from tests.commands.conftest import (
    assert_one_line_error,
    run_allennlp_cli,
    run_allennlp_cli_watching,
    run_allennlp_in_process,
)


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


# ---- limits of size and number ----------------------------------------------------------------------------------

def zeros(name: str, size: int):
    """A member of `size` zero bytes: megabytes of it compress to kilobytes."""
    return regular(name), bytes(size)


def archive_total(archive: str) -> int:
    with tarfile.open(archive, "r:gz") as opened:
        return sum(member.size for member in opened.getmembers() if member.isfile())


@pytest.mark.parametrize("command", ["predict", "evaluate"])
def test_an_archive_bomb_is_refused_before_its_folder_grows(tiny_trained_archive, tmp_path, places, command):
    scratch, _, _ = places
    limit = archive_total(tiny_trained_archive.archive) + 2**20  # the archive's own members fit
    bomb = 16 * 2**20
    archive = with_extra_members(tiny_trained_archive.archive, str(tmp_path / "model.tar.gz"),
                                 [zeros("vocabulary/huge.txt", bomb)])
    assert os.path.getsize(archive) < limit  # a small file...
    data = inputs(tmp_path) if command == "predict" else tiny_trained_archive.dev_data
    result, largest = run_allennlp_cli_watching(
        scratch, command, archive, data, "--output-file", tmp_path / "out.json",
        env={"TMPDIR": str(scratch), "SLEDGEHAMMER_MAX_ARCHIVE_BYTES": str(limit)},
    )
    assert result.returncode != 0
    assert largest == 0 and os.listdir(scratch) == []  # ...that would extract to more than the limit: nothing is
    total = archive_total(archive)
    assert_one_line_error(
        result.stderr, f"allennlp {command}: error: ",
        f"unsafe archive {archive}: its members extract to at least {total / 2**20:.1f} MiB ({total} bytes) by "
        f"member 'vocabulary/huge.txt', more than the limit of 1.2 MiB ({limit} bytes) set by "
        f"SLEDGEHAMMER_MAX_ARCHIVE_BYTES (raise it for larger archives); nothing was extracted",
    )
    assert not (tmp_path / "out.json").exists()


def test_a_member_declaring_2_gib_is_refused_from_its_header(tiny_trained_archive, tmp_path, monkeypatch):
    # The header claims 2 GiB that the file does not even hold: reading past it would fail; the limit refuses first.
    raw = io.BytesIO()
    with tarfile.open(tiny_trained_archive.archive, "r:gz") as original, tarfile.open(fileobj=raw, mode="w") as copy:
        for member in original.getmembers():
            copy.addfile(member, original.extractfile(member) if member.isfile() else None)
        huge = regular("vocabulary/huge.txt")
        huge.size = 2**31
        header = huge.tobuf(copy.format, copy.encoding, copy.errors)
        copy.fileobj.write(header)
        copy.offset += len(header)
    archive = tmp_path / "model.tar.gz"
    with gzip.open(archive, "wb") as compressed:
        compressed.write(raw.getvalue())
    monkeypatch.setenv("SLEDGEHAMMER_MAX_ARCHIVE_BYTES", "1G")
    with pytest.raises(ArchiveLimitError, match=r"at least 2\.0 GiB .* the limit of 1\.0 GiB \(1073741824 bytes\)"):
        load_archive(str(archive))
    with pytest.raises(ArchiveLimitError, match="'vocabulary/huge.txt'"):
        read_archive_config(archive)
    # With the default limits, the archive is refused for what it would expand to against its own size.
    monkeypatch.delenv("SLEDGEHAMMER_MAX_ARCHIVE_BYTES")
    with pytest.raises(ArchiveLimitError, match=r"more than 100 times the archive's size .*a compression bomb"):
        load_archive(str(archive))
    monkeypatch.setenv("SLEDGEHAMMER_MAX_ARCHIVE_BYTES", "3G")
    monkeypatch.setenv("SLEDGEHAMMER_MAX_ARCHIVE_EXPANSION", "1000000")
    with pytest.raises(ArchiveError, match="not a readable model archive"):
        load_archive(str(archive))


def test_too_many_members_are_refused(tiny_trained_archive, tmp_path, monkeypatch, places):
    scratch, _, _ = places
    monkeypatch.setenv("TMPDIR", str(scratch))
    monkeypatch.setattr("tempfile.tempdir", None)
    with tarfile.open(tiny_trained_archive.archive, "r:gz") as opened:
        count = len(opened.getmembers())
    many = [(regular(f"notes/extra{i}.txt"), b"") for i in range(3)]
    archive = with_extra_members(tiny_trained_archive.archive, str(tmp_path / "model.tar.gz"), many)
    monkeypatch.setenv("SLEDGEHAMMER_MAX_ARCHIVE_MEMBERS", str(count + 2))
    with pytest.raises(ArchiveLimitError, match=f"{archive}: it has more than {count + 2} members, the limit set by "
                                                "SLEDGEHAMMER_MAX_ARCHIVE_MEMBERS"):
        load_archive(archive)
    assert os.listdir(scratch) == []
    monkeypatch.setenv("SLEDGEHAMMER_MAX_ARCHIVE_MEMBERS", str(count + 3))
    assert load_archive(archive).model.vocab.get_vocab_size("labels") == 2


def test_a_hard_link_counts_the_size_of_its_target(tiny_trained_archive, tmp_path, monkeypatch):
    link = regular("vocabulary/copy.txt")
    link.type, link.linkname = tarfile.LNKTYPE, "vocabulary/big.txt"
    archive = with_extra_members(tiny_trained_archive.archive, str(tmp_path / "model.tar.gz"),
                                 [zeros("vocabulary/big.txt", 2**20), (link, None)])
    own = archive_total(tiny_trained_archive.archive)
    monkeypatch.setenv("SLEDGEHAMMER_MAX_ARCHIVE_BYTES", str(own + 2**21 - 1))
    with pytest.raises(ArchiveLimitError, match="'vocabulary/copy.txt'"):
        read_archive_config(archive)
    monkeypatch.setenv("SLEDGEHAMMER_MAX_ARCHIVE_BYTES", str(own + 2**21))
    assert read_archive_config(archive)["model"]["type"] == "sledgehammer_classifier"


@pytest.mark.parametrize(
    "bytes_value, members_value, expected",
    [(None, None, (8 * 2**30, 10_000)), ("512M", "20000", (2**29, 20_000)), ("2 GiB", None, (2**31, 10_000)),
     ("123", "7", (123, 7)), ("1t", None, (2**40, 10_000))],
)
def test_the_limits_are_read_from_the_environment(monkeypatch, bytes_value, members_value, expected):
    for variable, value in (("SLEDGEHAMMER_MAX_ARCHIVE_BYTES", bytes_value),
                            ("SLEDGEHAMMER_MAX_ARCHIVE_MEMBERS", members_value)):
        if value is None:
            monkeypatch.delenv(variable, raising=False)
        else:
            monkeypatch.setenv(variable, value)
    assert extraction_limits() == expected


@pytest.mark.parametrize(
    "variable, value",
    [("SLEDGEHAMMER_MAX_ARCHIVE_BYTES", "lots"), ("SLEDGEHAMMER_MAX_ARCHIVE_BYTES", "0"),
     ("SLEDGEHAMMER_MAX_ARCHIVE_BYTES", "-5"), ("SLEDGEHAMMER_MAX_ARCHIVE_MEMBERS", "5K"),
     ("SLEDGEHAMMER_MAX_ARCHIVE_MEMBERS", "1.5")],
)
def test_a_bad_limit_is_an_error_naming_the_variable(tiny_trained_archive, monkeypatch, variable, value):
    monkeypatch.setenv(variable, value)
    with pytest.raises(ArchiveError, match=f"{variable} must be a number of .*, found {value!r}"):
        load_archive(tiny_trained_archive.archive)


def test_a_vocabulary_read_from_an_archive_is_checked_before_extraction(tiny_trained_archive, tmp_path, monkeypatch):
    # A self-sampling config reads its vocabulary from the stage-1 archive, which cached_path extracts to its cache.
    cache = tmp_path / "cache"
    monkeypatch.setattr("allennlp.common.file_utils.CACHE_DIRECTORY", str(cache))
    limit = archive_total(tiny_trained_archive.archive) + 2**20
    monkeypatch.setenv("SLEDGEHAMMER_MAX_ARCHIVE_BYTES", str(limit))
    bomb = with_extra_members(tiny_trained_archive.archive, str(tmp_path / "bomb.tar.gz"),
                              [zeros("vocabulary/huge.txt", 4 * 2**20)])
    escape = with_extra_members(tiny_trained_archive.archive, str(tmp_path / "escape.tar.gz"),
                                [(regular("../evil.txt"), b"owned\n")])
    for archive, error, message in ((bomb, ArchiveLimitError, "more than the limit"),
                                    (escape, UnsafeArchiveError, "'../evil.txt' has a '..' path component")):
        for directory in (archive, f"{archive}!vocabulary"):
            with pytest.raises(error, match=message):
                Vocabulary.from_params(Params({"type": "from_files", "directory": directory}))
    # cached_path may leave its lock files; nothing of either archive was extracted.
    extracted = [path for path in cache.rglob("*") if path.is_file() and not path.name.endswith(".lock")]
    assert extracted == [] and not (tmp_path / "evil.txt").exists()
    vocab = Vocabulary.from_params(Params({"type": "from_files", "directory": tiny_trained_archive.archive}))
    assert vocab.get_vocab_size("labels") == 2
