"""
Safe extraction of model archives for every AllenNLP command run with the plugin.

AllenNLP's `load_archive` (used by `allennlp predict`, `allennlp evaluate`, `from_archive` models and
sledgehammer's own commands) and the `pretrained` initializer extract archives through
`allennlp.models.archival.extracted_archive`, which calls `TarFile.extractall` without a filter: a
member named `../evil.txt` or `/tmp/evil.txt`, a link pointing outside, or a device file would be
written wherever it says, and nothing limits what it writes. `install()` replaces that one function
with `extracted_archive_safely`, which reads the members' headers within the size and number limits
of `sledgehammer.common.archive_files.read_members` and checks every member with `check_members`,
before anything is written; it refuses the archive with an `UnsafeArchiveError` (an
`ArchiveLimitError` for the limits) naming the archive and the first unsafe member or the limit.

`cached_path(..., extract_archive=True)` (AllenNLP's vocabulary `from_files` on an archive, as a self-sampling
config's `"vocabulary": {"type": "from_files", "directory": <the stage-1 archive>}` reads it, sharded dataset
readers, `allennlp diff`) checks a tar file's members with the same limits and rules first (`check_tar_file`), and
code that imported `extracted_archive` before the plugin extracts safely too (its generator is replaced in place).

`extraction_source(path)` tells which archive and member a file of an extraction folder comes from,
so that later errors (an unsafe `weights.th`, see `safe_weights`) can name them.
"""
import contextlib
import logging
import os
import shutil
import tarfile
import tempfile
from typing import Dict, Iterator, Optional, Tuple, Union

import cached_path as cached_path_module
from allennlp.models import archival

from sledgehammer.common.archive_files import ArchiveError, check_members, read_members

logger = logging.getLogger(__name__)

_allennlp_extracted_archive = archival.extracted_archive

# Extraction folder -> the archive extracted to it, for the folders that may still exist.
_extraction_folders: Dict[str, str] = {}


def extraction_source(path: Union[str, "os.PathLike[str]"]) -> Optional[Tuple[str, str]]:
    """
    `(archive, member name)` when `path` lies in a folder `extracted_archive_safely` extracted an
    archive to (and that still exists), `None` otherwise.
    """
    path = os.path.abspath(os.fspath(path))
    for folder, archive in _extraction_folders.items():
        if path.startswith(folder + os.sep) and os.path.isdir(folder):
            return archive, os.path.relpath(path, folder).replace(os.sep, "/")
    return None


@contextlib.contextmanager
def extracted_archive_safely(
    resolved_archive_file: Union[str, "os.PathLike[str]"], cleanup: bool = True
) -> Iterator[str]:
    """
    A drop-in replacement of AllenNLP's `extracted_archive`: extracts a gzipped tar archive to a new
    temporary folder and yields the folder's path, after checking every member.

    # Parameters

    resolved_archive_file : `Union[str, os.PathLike]`
        A local `.tar.gz` file.
    cleanup : `bool`, optional (default = `True`)
        Whether to remove the folder when the block ends. AllenNLP's `load_archive` passes `False`
        and removes it itself. The folder is always removed when extraction fails.

    # Raises

    `UnsafeArchiveError` (nothing written) when a member would be extracted outside the folder, is a
    link leading outside or is a device or FIFO, `ArchiveLimitError` (nothing written) when the members
    are more or larger than `archive_files.extraction_limits` allow; `ArchiveError` when the file is not
    a readable gzipped tar archive.
    """
    archive_name = os.fspath(resolved_archive_file)
    try:
        archive = tarfile.open(archive_name, "r:gz")
    except (tarfile.TarError, EOFError, OSError) as error:
        raise ArchiveError(f"{archive_name} is not a model archive (.tar.gz file): {error}") from None
    tempdir = None
    try:
        with archive:
            members = read_members(archive, archive_name)
            check_members(members, archive_name)
            tempdir = tempfile.mkdtemp()
            _remember_extraction(tempdir, archive_name)
            logger.info(f"extracting archive file {archive_name} to temp dir {tempdir}")
            # Python's own "data" filter (3.10.12 and later) as a second line of defence.
            options = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
            archive.extractall(tempdir, members=members, **options)
    except BaseException:
        if tempdir is not None:
            _extraction_folders.pop(os.path.abspath(tempdir), None)
            shutil.rmtree(tempdir, ignore_errors=True)
        raise
    try:
        yield tempdir
    finally:
        if cleanup:
            logger.info(f"removing temporary unarchived model dir at {tempdir}")
            _extraction_folders.pop(os.path.abspath(tempdir), None)
            shutil.rmtree(tempdir, ignore_errors=True)


def _remember_extraction(folder: str, archive_name: str) -> None:
    # AllenNLP's load_archive removes its folder itself: forget the folders that are gone.
    for gone in [known for known in _extraction_folders if not os.path.isdir(known)]:
        del _extraction_folders[gone]
    _extraction_folders[os.path.abspath(folder)] = archive_name


def check_tar_file(tar_file: tarfile.TarFile) -> None:
    """
    The member check `cached_path(..., extract_archive=True)` runs before it extracts a tar file, replaced by
    `read_members` (size and number limits) and `check_members`: an `ArchiveLimitError` or `UnsafeArchiveError`
    naming the archive, before anything is extracted.
    """
    archive_name = tar_file.name or "archive"
    check_members(read_members(tar_file, archive_name), archive_name)


def install() -> None:
    """
    Makes AllenNLP extract every model archive with `extracted_archive_safely` (also through code that imported
    `extracted_archive` before the plugin: the original's generator is replaced in place), and `cached_path` check
    tar files with `check_tar_file`.
    """
    archival.extracted_archive = extracted_archive_safely
    original = _allennlp_extracted_archive
    cells = dict(zip(original.__code__.co_freevars, original.__closure__ or ()))
    if "func" in cells and getattr(cells["func"].cell_contents, "__name__", "") == "extracted_archive":
        cells["func"].cell_contents = extracted_archive_safely.__wrapped__  # type: ignore[attr-defined]
    cached_path_module._cached_path.check_tarfile = check_tar_file
