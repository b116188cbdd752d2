"""
Safe reading and atomic rewriting of AllenNLP model archives (`model.tar.gz`).

AllenNLP's `load_archive` extracts an archive with `TarFile.extractall` and no filter, so a crafted
archive could write outside its temporary folder, or fill the disk from a small file (a member of
gigabytes of zeros compresses to a few megabytes). `read_members` reads the members' headers within
limits of size and number (`extraction_limits`) and `check_members` refuses unsafe members, both
before anything is extracted; `sledgehammer.common.safe_extraction` makes every `load_archive` call
them once the plugin is imported, and `check_archive_members` (used by `read_archive_config` before
reading `config.json`) calls them too.

`write_archive_with_replacements` rewrites an archive with some members replaced or added and every other
member copied unchanged, through `sledgehammer.common.atomic_files.atomic_output`, so an interrupted
write never leaves a partial archive behind (`write_bytes_atomically`, from there too, writes any
other file the same way).

This module and `atomic_files` use the standard library only.
"""
import io
import json
import os
import posixpath
import re
import tarfile
import time
from typing import IO, Any, Dict, Iterable, List, Optional, Tuple, Union

from sledgehammer.common.atomic_files import atomic_output, write_bytes_atomically  # noqa: F401

CONFIG_NAME = "config.json"

# Limits of what extracting one archive may write; the environment variables raise (or lower) them.
MAX_BYTES_VARIABLE = "SLEDGEHAMMER_MAX_ARCHIVE_BYTES"
MAX_MEMBERS_VARIABLE = "SLEDGEHAMMER_MAX_ARCHIVE_MEMBERS"
DEFAULT_MAX_BYTES = 8 * 2**30  # 8 GiB: several times the largest encoder checkpoints in use
DEFAULT_MAX_MEMBERS = 10_000  # an AllenNLP archive has a config, weights and one file per vocabulary namespace
MAX_EXPANSION_VARIABLE = "SLEDGEHAMMER_MAX_ARCHIVE_EXPANSION"
# Trained weights barely compress (a model archive extracts to about 1.1 times its size); a gzipped run of zeros
# extracts to about 1,000 times. Past EXPANSION_FLOOR bytes, an archive may extract to at most this many times its
# own size.
DEFAULT_MAX_EXPANSION = 100
EXPANSION_FLOOR = 256 * 2**20
_SIZE_SUFFIXES = {"": 1, "K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40}
_SIZE = re.compile(r"^(\d+)\s*([KMGT]?)(?:I?B)?$", re.IGNORECASE)
_COUNT = re.compile(r"^(\d+)()$")

PathOrFile = Union[str, "os.PathLike[str]", IO[bytes]]


class ArchiveError(Exception):
    """A file is not a readable model archive (missing, not a gzipped tar file, no `config.json`, ...)."""


class UnsafeArchiveError(ArchiveError):
    """An archive member would be extracted outside the extraction folder, or is not a plain file/folder."""


class ArchiveLimitError(UnsafeArchiveError):
    """Extracting an archive would write more bytes or members than `extraction_limits` allow."""


def member_name(name: str) -> str:
    """The normalised name of an archive member: `./config.json` and `config.json` are the same member."""
    normalised = posixpath.normpath(name)
    return "" if normalised == "." else normalised


def check_member(member: tarfile.TarInfo, archive_name: str = "archive") -> None:
    """
    Raises `UnsafeArchiveError`, naming the member, unless extracting `member` stays inside the folder
    it is extracted to: its name must be relative without `..` components, a symbolic link must point
    inside the archive's folder tree, a hard link must name a safe member, and devices and FIFOs are
    refused.

    # Parameters

    member : `tarfile.TarInfo`
    archive_name : `str`, optional (default = `"archive"`)
        How to name the archive in the error message.
    """

    def unsafe(reason: str) -> UnsafeArchiveError:
        return UnsafeArchiveError(f"unsafe archive {archive_name}: member {member.name!r} {reason}")

    _check_relative_path(member.name, unsafe, "has an absolute path", "has a '..' path component")
    if member.issym():
        target = member.linkname
        if _is_absolute(target):
            raise unsafe(f"is a symbolic link to the absolute path {target!r}")
        resolved = posixpath.normpath(posixpath.join(posixpath.dirname(member.name), target))
        if resolved == ".." or resolved.startswith("../"):
            raise unsafe(f"is a symbolic link pointing outside the archive ({target!r})")
    elif member.islnk():
        _check_relative_path(
            member.linkname,
            unsafe,
            f"is a hard link to the absolute path {member.linkname!r}",
            f"is a hard link pointing outside the archive ({member.linkname!r})",
        )
    elif not (member.isfile() or member.isdir()):
        raise unsafe("is a device or FIFO, not a regular file or folder")


def check_members(members: Iterable[tarfile.TarInfo], archive_name: str = "archive") -> None:
    """
    Checks every member with `check_member`, and that no member lies below a symbolic link of the
    archive: a link that stays inside on its own (`a/b -> ..`) can still lead outside through the
    members extracted below it (`a/b/c -> ..`, then `a/b/c/evil.txt`).

    # Parameters

    members : `Iterable[tarfile.TarInfo]`
    archive_name : `str`, optional (default = `"archive"`)
        How to name the archive in the error message.

    # Raises

    `UnsafeArchiveError` for the first unsafe member, naming it.
    """
    members = list(members)
    for member in members:
        check_member(member, archive_name)
    links = {member_name(member.name) for member in members if member.issym() or member.islnk()}
    for member in members:
        parents = member_name(member.name).split("/")[:-1]
        for depth in range(1, len(parents) + 1):
            parent = "/".join(parents[:depth])
            if parent in links:
                raise UnsafeArchiveError(
                    f"unsafe archive {archive_name}: member {member.name!r} lies below the link {parent!r}"
                )


def extraction_limits() -> Tuple[int, int]:
    """
    The most bytes and the most members that extracting one archive may write: the environment
    variables `SLEDGEHAMMER_MAX_ARCHIVE_BYTES` (a number of bytes, optionally with a binary suffix: `512M`,
    `32G`, `1T`; default 8 GiB) and `SLEDGEHAMMER_MAX_ARCHIVE_MEMBERS` (default 10,000), read at every call.

    # Raises

    `ArchiveError` naming the variable when it is set to something else than a positive number.
    """
    return (
        _limit(MAX_BYTES_VARIABLE, DEFAULT_MAX_BYTES, "a number of bytes such as 4000000000 or 32G", sizes=True),
        _limit(MAX_MEMBERS_VARIABLE, DEFAULT_MAX_MEMBERS, "a number of members such as 20000", sizes=False),
    )


def read_members(archive: tarfile.TarFile, archive_name: Any = "archive") -> List[tarfile.TarInfo]:
    """
    The members of an open archive, read header by header in order, refusing the archive as soon as
    they are more, or would extract to more bytes, than `extraction_limits` allow: a member whose
    header declares too large a size is refused before its content is read, so the check costs no
    more than reading the headers up to it. A hard link counts the size of the member it copies.

    # Parameters

    archive : `tarfile.TarFile`
        Opened for reading, not read yet.
    archive_name : `Any`, optional (default = `"archive"`)
        How to name the archive in error messages.

    # Raises

    `ArchiveLimitError` naming the archive, the total so far and the limit; `ArchiveError` when the
    archive cannot be read.
    """
    max_bytes, max_members = extraction_limits()
    max_expansion = _limit(MAX_EXPANSION_VARIABLE, DEFAULT_MAX_EXPANSION, "a whole number such as 1000", sizes=False)
    compressed = _compressed_size(archive)
    members: List[tarfile.TarInfo] = []
    sizes: Dict[str, int] = {}
    total = 0
    for member in _iterate_members(archive, archive_name):
        members.append(member)
        if len(members) > max_members:
            raise ArchiveLimitError(
                f"unsafe archive {archive_name}: it has more than {max_members} members, the limit set by "
                f"{MAX_MEMBERS_VARIABLE} (raise it for larger archives); nothing was extracted"
            )
        if member.isfile():
            size = member.size
        elif member.islnk():
            size = sizes.get(member_name(member.linkname), 0)
        else:
            size = 0
        sizes[member_name(member.name)] = size
        total += size
        if total > max_bytes:
            raise ArchiveLimitError(
                f"unsafe archive {archive_name}: its members extract to at least {_bytes(total)} by member "
                f"{member.name!r}, more than the limit of {_bytes(max_bytes)} set by {MAX_BYTES_VARIABLE} "
                f"(raise it for larger archives); nothing was extracted"
            )
        if compressed and total > EXPANSION_FLOOR and total > max_expansion * compressed:
            raise ArchiveLimitError(
                f"unsafe archive {archive_name}: its {_bytes(compressed)} extract to at least {_bytes(total)} by "
                f"member {member.name!r}, more than {max_expansion} times the archive's size (the limit set by "
                f"{MAX_EXPANSION_VARIABLE}; a compression bomb?); nothing was extracted"
            )
    return members


def _compressed_size(archive: tarfile.TarFile) -> Optional[int]:
    """The size of the file an archive is read from, when it is one (`None` for other streams)."""
    name = archive.name
    if isinstance(name, (str, bytes, os.PathLike)) and os.path.isfile(name):
        return os.path.getsize(name)
    return None


def check_archive_members(archive_path: Union[str, "os.PathLike[str]"]) -> List[tarfile.TarInfo]:
    """
    Reads the members of a gzipped tar archive with `read_members`, checks them with `check_members`
    and returns them.

    # Parameters

    archive_path : `Union[str, os.PathLike]`

    # Raises

    `ArchiveError` when the file does not exist or is not a gzipped tar archive,
    `ArchiveLimitError` for an archive beyond the limits and `UnsafeArchiveError` for the first
    unsafe member.
    """
    with _open_archive(archive_path) as archive:
        members = read_members(archive, archive_path)
    check_members(members, str(archive_path))
    return members


def read_archive_member(archive_path: Union[str, "os.PathLike[str]"], name: str) -> bytes:
    """
    The content of the regular-file member `name` of an archive, after checking every member is safe.

    # Raises

    `ArchiveError` when the archive cannot be read or has no such file; `UnsafeArchiveError`.
    """
    check_archive_members(archive_path)
    wanted = member_name(name)
    with _open_archive(archive_path) as archive:
        for member in read_members(archive, archive_path):
            if member_name(member.name) == wanted and member.isfile():
                file = archive.extractfile(member)
                assert file is not None
                return file.read()
    raise ArchiveError(f"{archive_path} is not a model archive: it has no {name}")


def read_archive_config(archive_path: Union[str, "os.PathLike[str]"]) -> Dict[str, Any]:
    """
    The parsed `config.json` of a model archive, after checking every member is safe.

    # Raises

    `ArchiveError` when the archive cannot be read, has no `config.json` or it is not a JSON object;
    `UnsafeArchiveError`.
    """
    content = read_archive_member(archive_path, CONFIG_NAME)
    try:
        config = json.loads(content.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ArchiveError(f"{archive_path}: {CONFIG_NAME} is not valid JSON ({error})") from None
    if not isinstance(config, dict):
        raise ArchiveError(f"{archive_path}: {CONFIG_NAME} is not a JSON object")
    return config


def write_archive_with_replacements(
    source: PathOrFile,
    destination: Union[str, "os.PathLike[str]"],
    replacements: Dict[str, bytes],
) -> None:
    """
    Writes to `destination` a gzipped tar archive holding every member of `source` (same names, same
    metadata, byte-for-byte the same content), except that each member named in `replacements` gets the
    given content instead; names that `source` lacks are added at the end.

    The archive is written to a temporary file in `destination`'s folder (named
    `.partial-XXXXXXXX.tmp`, never like an archive), flushed to disk with `fsync` and renamed onto
    `destination` with `os.replace`, so that whenever the process stops, `destination` is either its
    old content or the complete new archive. `destination` may be `source` itself. The temporary file
    is removed on any Python exception; only a killed process leaves it behind.

    # Parameters

    source : `Union[str, os.PathLike, IO[bytes]]`
        The archive to copy, as a path or a readable binary file object. Every member is checked with
        `check_member` as it is copied.
    destination : `Union[str, os.PathLike]`
        Where to write the new archive. Its folder must exist. An existing file keeps its permissions.
    replacements : `Dict[str, bytes]`
        Member name -> new content.
    """
    source_name = source if isinstance(source, (str, os.PathLike)) else getattr(source, "name", "archive")
    destination = os.fspath(destination)
    pending = {member_name(name): (name, content) for name, content in replacements.items()}
    for name in replacements:
        check_member(tarfile.TarInfo(name), "replacement")
    with atomic_output(destination) as output:
        with _open_archive(source) as original, tarfile.open(
            fileobj=output, mode="w:gz", format=original.format
        ) as copy:
            written = set()
            for member in _iterate_members(original, source_name):
                check_member(member, str(source_name))
                name = member_name(member.name)
                if name in pending or name in written:
                    if name not in written:  # the first occurrence of a replaced member
                        copy.addfile(*_replacement(member, pending.pop(name)[1]))
                        written.add(name)
                    continue
                if member.isfile():
                    copy.addfile(member, original.extractfile(member))
                else:
                    copy.addfile(member)
            for name, content in pending.values():
                copy.addfile(*_replacement(tarfile.TarInfo(name), content))


def _check_relative_path(path: str, unsafe, absolute_reason: str, parent_reason: str) -> None:
    if _is_absolute(path):
        raise unsafe(absolute_reason)
    if ".." in path.replace("\\", "/").split("/"):
        raise unsafe(parent_reason)


def _is_absolute(path: str) -> bool:
    # A Windows drive ("C:...") or a leading (back)slash is absolute somewhere.
    return path.startswith(("/", "\\")) or (len(path) >= 2 and path[1] == ":" and path[0].isalpha())


def _open_archive(source: PathOrFile) -> tarfile.TarFile:
    try:
        if isinstance(source, (str, os.PathLike)):
            if not os.path.exists(source):
                raise ArchiveError(f"archive {os.fspath(source)} does not exist")
            if not os.path.isfile(source):
                raise ArchiveError(f"{os.fspath(source)} is not a model archive (.tar.gz file)")
            return tarfile.open(source, mode="r:gz")
        return tarfile.open(fileobj=source, mode="r:gz")
    except (tarfile.TarError, EOFError, OSError) as error:
        name = source if isinstance(source, (str, os.PathLike)) else getattr(source, "name", "archive")
        raise ArchiveError(f"{os.fspath(name)} is not a model archive (.tar.gz file): {error}") from None


def _limit(variable: str, default: int, expected: str, sizes: bool) -> int:
    value = os.environ.get(variable, "").strip()
    if not value:
        return default
    match = (_SIZE if sizes else _COUNT).match(value)
    limit = int(match.group(1)) * _SIZE_SUFFIXES[match.group(2).upper()] if match else 0
    if limit <= 0:
        raise ArchiveError(f"{variable} must be {expected}, found {value!r}")
    return limit


def _bytes(count: int) -> str:
    for unit, size in (("TiB", 2**40), ("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if count >= size:
            return f"{count / size:.1f} {unit} ({count} bytes)"
    return f"{count} bytes"


def _iterate_members(archive: tarfile.TarFile, name: Any):
    try:
        member = archive.next()
        while member is not None:
            yield member
            member = archive.next()
    except (tarfile.TarError, EOFError, OSError) as error:
        raise ArchiveError(f"{name} is not a readable model archive (.tar.gz file): {error}") from None


def _replacement(template: tarfile.TarInfo, content: bytes):
    info = tarfile.TarInfo(template.name)
    info.mode = template.mode if template.isfile() else 0o644
    info.uid, info.gid, info.uname, info.gname = template.uid, template.gid, template.uname, template.gname
    info.mtime = int(time.time())
    info.size = len(content)
    return info, io.BytesIO(content)
