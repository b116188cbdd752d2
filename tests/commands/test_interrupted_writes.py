"""
Leftovers of interrupted atomic writes (`.partial-*.tmp` beside the destination) are removed by the next
command that writes there, when stale: untouched for a minute and their writer gone.
"""
import logging
import os
import subprocess
import sys
import time
from pathlib import Path
from unittest import mock

import pytest
from allennlp.commands import main as allennlp_main

from sledgehammer.common import atomic_files
from sledgehammer.common.atomic_files import STALE_AFTER_SECONDS, remove_stale_temporaries, write_bytes_atomically
from tests.commands.conftest import REPO_ROOT


def finished_pid() -> int:
    process = subprocess.Popen(["true"])
    process.wait()
    return process.pid


def leftover(folder, name: str, age: float = 10 * 60, size: int = 1000):
    path = folder / name
    path.write_bytes(b"\0" * size)
    then = time.time() - age
    os.utime(path, (then, then))
    return path


def test_calibrate_removes_a_stale_leftover_beside_the_archive(tiny_archive_copy, tiny_trained_archive, caplog):
    folder = Path(tiny_archive_copy).parent
    dead = finished_pid()
    stale = leftover(folder, f".partial-{dead}-k2j4h5g6.tmp")  # as a killed calibrate leaves it
    young = leftover(folder, f".partial-{dead}-a1b2c3d4.tmp", age=5)
    running = leftover(folder, f".partial-{os.getpid()}-e5f6g7h8.tmp")
    arguments = ["allennlp", "calibrate", tiny_archive_copy, tiny_trained_archive.dev_data]
    with caplog.at_level(logging.WARNING), mock.patch.object(sys, "argv", arguments):
        allennlp_main()
    assert not stale.exists()
    assert young.exists() and running.exists()
    reports = [record.getMessage() for record in caplog.records if "interrupted write" in record.getMessage()]
    assert len(reports) == 1
    assert reports[0].startswith(
        f"removed {stale}, a temporary file left by an interrupted write (of process {dead}, which is gone; "
    )
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        ["model.tar.gz", "calibration.json", young.name, running.name]
    )


def test_split_dataset_removes_a_stale_leftover_in_its_output_folder(tmp_path):
    source = tmp_path / "data.tsv"
    source.write_text("".join(f"row {i}\t{i % 2}\n" for i in range(20)))
    output = tmp_path / "out"
    output.mkdir()
    stale = leftover(output, ".partial-abc123xy.tmp")  # written before names carried a process id
    result = subprocess.run(
        [sys.executable, os.path.join(REPO_ROOT, "scripts", "split_dataset.py"), str(source), "--output-dir",
         str(output)],
        capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert f"removed {stale}, a temporary file left by an interrupted write (of an earlier version" in result.stderr
    assert sorted(p.name for p in output.iterdir()) == ["dev.tsv", "test.tsv", "train.tsv"]


@pytest.mark.parametrize(
    "name, age, removed",
    [
        ("{dead}", STALE_AFTER_SECONDS + 5, True),
        ("{dead}", STALE_AFTER_SECONDS - 5, False),  # too fresh: maybe a writer on another machine
        ("{alive}", 3600, False),  # its writer still runs (e.g. stopped with Ctrl-Z)
        (None, STALE_AFTER_SECONDS + 5, True),
    ],
    ids=["old-writer-gone", "fresh-writer-gone", "old-writer-running", "old-without-pid"],
)
def test_what_is_stale(tmp_path, name, age, removed):
    pid = None if name is None else name.format(dead=finished_pid(), alive=os.getpid())
    file_name = ".partial-x7y8z9w0.tmp" if pid is None else f".partial-{pid}-x7y8z9w0.tmp"
    path = leftover(tmp_path, file_name, age=age)
    assert remove_stale_temporaries(tmp_path) == ([str(path)] if removed else [])
    assert path.exists() is not removed


def test_only_partial_files_are_touched(tmp_path):
    dead = finished_pid()
    others = [leftover(tmp_path, name) for name in ("model.tar.gz", f".partial-{dead}-abc.tar.gz", "partial-1-x.tmp")]
    (tmp_path / f".partial-{dead}-folder00.tmp").mkdir()
    write_bytes_atomically(tmp_path / "new.json", b"{}")
    assert all(path.exists() for path in others)
    assert sorted(os.listdir(tmp_path)) == sorted(
        [p.name for p in others] + [f".partial-{dead}-folder00.tmp", "new.json"]
    )


def test_the_temporary_file_carries_the_writers_pid(tmp_path):
    with atomic_files.atomic_output(tmp_path / "out.bin") as output:
        output.write(b"x")
        (name,) = os.listdir(tmp_path)
        assert name.startswith(f".partial-{os.getpid()}-") and name.endswith(".tmp")
        assert atomic_files.TEMPORARY_NAME.match(name)
    assert os.listdir(tmp_path) == ["out.bin"]
