"""
Safe extraction of model archives for every AllenNLP command run with the plugin.

AllenNLP's `load_archive` (used by `allennlp predict`, `allennlp evaluate`, `from_archive` models and
sledgehammer's own commands) and the `pretrained` initializer extract archives through
`allennlp.models.archival.extracted_archive`, which calls `TarFile.extractall` without a filter: a
member named `../evil.txt` or `/tmp/evil.txt`, a link pointing outside, or a device file would be
written wherever it says. `install()` replaces that one function with `extracted_archive_safely`,
which checks every member with `sledgehammer.common.archive_files.check_members` before anything is
written and refuses the archive with an `UnsafeArchiveError` naming the first unsafe member. The same check
covers `cached_path(..., extract_archive=True)` and code that imported `extracted_archive` before the plugin.
"""
import contextlib
import logging
import os
import shutil
import tarfile
import tempfile
from typing import Iterator, Union

import cached_path as cached_path_module
from allennlp.models import archival

from sledgehammer.common.archive_files import ArchiveError, check_members

logger = logging.getLogger(__name__)

_allennlp_extracted_archive = archival.extracted_archive


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
    link leading outside or is a device or FIFO; `ArchiveError` when the file is not a readable
    gzipped tar archive.
    """
    archive_name = os.fspath(resolved_archive_file)
    try:
        archive = tarfile.open(archive_name, "r:gz")
    except (tarfile.TarError, EOFError, OSError) as error:
        raise ArchiveError(f"{archive_name} is not a model archive (.tar.gz file): {error}") from None
    tempdir = None
    try:
        with archive:
            try:
                members = archive.getmembers()
            except (tarfile.TarError, EOFError, OSError) as error:
                raise ArchiveError(f"{archive_name} is not a readable model archive: {error}") from None
            check_members(members, archive_name)
            tempdir = tempfile.mkdtemp()
            logger.info(f"extracting archive file {archive_name} to temp dir {tempdir}")
            # Python's own "data" filter (3.10.12 and later) as a second line of defence.
            options = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
            archive.extractall(tempdir, members=members, **options)
    except BaseException:
        if tempdir is not None:
            shutil.rmtree(tempdir, ignore_errors=True)
        raise
    try:
        yield tempdir
    finally:
        if cleanup:
            logger.info(f"removing temporary unarchived model dir at {tempdir}")
            shutil.rmtree(tempdir, ignore_errors=True)


def check_tar_file(tar_file: tarfile.TarFile) -> None:
    """
    The member check of `cached_path(..., extract_archive=True)` (AllenNLP's vocabularies from archives, sharded
    dataset readers, `allennlp diff`), replaced by `check_members`: an `UnsafeArchiveError` naming the first
    unsafe member, before anything is extracted.
    """
    check_members(tar_file.getmembers(), tar_file.name or "archive")


def install() -> None:
    """
    Makes AllenNLP extract every model archive with `extracted_archive_safely`, and `cached_path` check tar files
    with `check_tar_file`.

    Code that imported AllenNLP's `extracted_archive` before the plugin holds the original function; its
    generator is replaced in place too, so that such code extracts safely as well.
    """
    archival.extracted_archive = extracted_archive_safely
    original = _allennlp_extracted_archive
    cells = dict(zip(original.__code__.co_freevars, original.__closure__ or ()))
    if "func" in cells and getattr(cells["func"].cell_contents, "__name__", "") == "extracted_archive":
        cells["func"].cell_contents = extracted_archive_safely.__wrapped__  # type: ignore[attr-defined]
    cached_path_module._cached_path.check_tarfile = check_tar_file
