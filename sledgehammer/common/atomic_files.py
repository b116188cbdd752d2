"""
Atomic file writes, for the package and the scripts alike, and the removal of what interrupted ones leave.

`atomic_output(path)` gives a binary file to write `path`'s new content to: a temporary file in the same
folder, named `.partial-<pid>-XXXXXXXX.tmp` (never like the destination), flushed to disk and renamed
onto `path` when the block ends, so `path` is always either its old content or the complete new one.
An exception removes the temporary file; only a killed process leaves it behind.

Such a leftover is removed by the next atomic write to the same folder, when it is stale: not modified
for `STALE_AFTER_SECONDS` and its writer, whose process id is part of the name, no longer runs on this
machine. A running writer modifies its file all the time and keeps it; a leftover named without a
process id (written before names carried one) only needs the age. Each removal is logged as a warning
naming the file.

This module uses the standard library only.
"""
import contextlib
import logging
import os
import re
import stat
import tempfile
import time
from typing import IO, Iterator, List, Optional, Union

logger = logging.getLogger(__name__)

# Prefix and suffix of the temporary files; deliberately unlike the name of an archive or a data file.
TEMPORARY_PREFIX = ".partial-"
TEMPORARY_SUFFIX = ".tmp"
# `.partial-<pid>-XXXXXXXX.tmp`, or `.partial-XXXXXXXX.tmp` from before names carried the writer's pid.
TEMPORARY_NAME = re.compile(r"^\.partial-(?:(\d+)-)?[A-Za-z0-9_]+\.tmp$")
# A leftover untouched for this long, whose writer is gone, is removed.
STALE_AFTER_SECONDS = 60.0

PathType = Union[str, "os.PathLike[str]"]


@contextlib.contextmanager
def atomic_output(destination: PathType, make_folder: bool = False) -> Iterator[IO[bytes]]:
    """
    A binary file to write `destination`'s new content to. When the block ends without an exception,
    the file is flushed to disk, given `destination`'s permissions (or the default ones for a new
    file, `0o666` less the umask) and renamed onto it, and the rename itself is made durable where the
    platform allows; on any exception it is removed and `destination` is left as it was. Stale
    leftovers of interrupted writes in the folder are removed first (`remove_stale_temporaries`).

    # Parameters

    destination : `Union[str, os.PathLike]`
        The file to write. An existing file keeps its permissions.
    make_folder : `bool`, optional (default = `False`)
        Whether to create `destination`'s folder (and its parents) when it does not exist; otherwise a
        missing folder is a `FileNotFoundError`.
    """
    destination = os.fspath(destination)
    folder = os.path.dirname(os.path.abspath(destination))
    if make_folder:
        os.makedirs(folder, exist_ok=True)
    remove_stale_temporaries(folder)
    mode = _file_mode(destination)
    descriptor, temporary = tempfile.mkstemp(
        prefix=f"{TEMPORARY_PREFIX}{os.getpid()}-", suffix=TEMPORARY_SUFFIX, dir=folder
    )
    try:
        with os.fdopen(descriptor, "wb") as output:
            yield output
            output.flush()
            os.fsync(output.fileno())
        os.chmod(temporary, mode)
        os.replace(temporary, destination)
    except BaseException:
        try:
            os.unlink(temporary)
        except OSError:
            pass
        raise
    _fsync_folder(folder)


def write_bytes_atomically(path: PathType, content: bytes, make_folder: bool = False) -> None:
    """
    Writes `content` to `path` through `atomic_output`, so `path` is always either its old content or
    the new one.

    # Parameters

    path : `Union[str, os.PathLike]`
        The file to write. An existing file keeps its permissions.
    content : `bytes`
    make_folder : `bool`, optional (default = `False`)
        Whether to create `path`'s folder when it does not exist.
    """
    with atomic_output(path, make_folder=make_folder) as output:
        output.write(content)


def remove_stale_temporaries(folder: PathType, now: Optional[float] = None) -> List[str]:
    """
    Removes the stale `.partial-*.tmp` files of interrupted atomic writes in `folder` (see the module
    docstring for what is stale) and returns their paths. Every removal is logged as a warning; files
    that cannot be removed are left alone.

    # Parameters

    folder : `Union[str, os.PathLike]`
    now : `float`, optional (default = `None`)
        The current time (`time.time()`), for tests.
    """
    folder = os.fspath(folder)
    now = time.time() if now is None else now
    try:
        names = sorted(os.listdir(folder))
    except OSError:
        return []
    removed = []
    for name in names:
        match = TEMPORARY_NAME.match(name)
        if not match:
            continue
        path = os.path.join(folder, name)
        try:
            info = os.lstat(path)
        except OSError:
            continue
        if not stat.S_ISREG(info.st_mode) or now - info.st_mtime < STALE_AFTER_SECONDS:
            continue
        writer = None if match.group(1) is None else int(match.group(1))
        if writer is not None and process_running(writer):
            continue
        try:
            os.unlink(path)
        except OSError:
            continue
        removed.append(path)
        whose = "an earlier version" if writer is None else f"process {writer}, which is gone"
        logger.warning(
            "removed %s, a temporary file left by an interrupted write (of %s; %.0f s old)",
            path,
            whose,
            now - info.st_mtime,
        )
    return removed


def process_running(pid: int) -> bool:
    """Whether a process with id `pid` runs on this machine (a zombie, killed but not yet reaped, does not)."""
    if pid <= 0:
        return False
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # it exists but belongs to someone else
        return True
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as f:
            return f.read().rsplit(")", 1)[-1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def _file_mode(path: str) -> int:
    try:
        return stat.S_IMODE(os.stat(path).st_mode)
    except FileNotFoundError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


def _fsync_folder(folder: str) -> None:
    """Makes a rename durable where the platform allows opening a folder."""
    try:
        descriptor = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)
