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

AllenNLP's vocabulary `from_files` (a self-sampling config's `"vocabulary": {"type": "from_files",
"directory": <the stage-1 archive>}`) extracts an archive through `cached_path(..., extract_archive=True)`
instead; `install()` makes it check a local archive the same way first (`cached_path_checking_archives`).

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

from allennlp.common import file_utils
from allennlp.data import vocabulary
from allennlp.models import archival

from sledgehammer.common.archive_files import ArchiveError, check_archive_members, check_members, read_members

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


def cached_path_checking_archives(
    url_or_filename: Union[str, "os.PathLike[str]"],
    cache_dir=None,
    extract_archive: bool = False,
    force_extract: bool = False,
) -> str:
    """
    AllenNLP's `cached_path` (same parameters and result) that, before extracting a local tar file
    (`extract_archive=True`, also for `archive.tar.gz!member`), checks its members and their size and
    number with `archive_files.check_archive_members`, as `extracted_archive_safely` does.
    """
    local = os.fspath(url_or_filename).split("!", 1)[0]
    if extract_archive and os.path.isfile(local) and tarfile.is_tarfile(local):
        check_archive_members(local)
    return file_utils.cached_path(url_or_filename, cache_dir, extract_archive, force_extract)


def install() -> None:
    """
    Makes AllenNLP extract every model archive with `extracted_archive_safely`, and its vocabulary
    loading check archives with `cached_path_checking_archives`.
    """
    archival.extracted_archive = extracted_archive_safely
    vocabulary.cached_path = cached_path_checking_archives
