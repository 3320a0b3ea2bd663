"""Deterministic model.tar.gz packaging per framework layout, with a digest cache.

Contract
--------
`package(source, cache_dir)` turns local model artifacts, plus an optional entry point and
source_dir, into the model.tar.gz the SageMaker serving containers expect, stores it as
`<cache_dir>/<sha256>-<level>.tar.gz` and returns its sha256, size and path. The sha256 is the
artifact's identity (its S3 key's folder): the digest of the *uncompressed* tar stream, which
is the same whatever the mtimes, owners, umask, directory listing order, worker count, host,
compression level or zlib build (zlib-ng and zlib write different deflate streams for the
same input, so a digest of the compressed bytes would differ between two CI runners). The
.tar.gz bytes themselves are reproducible for one level and zlib build. `list_entries(source)`
runs the same checks and returns what would be archived, in archive order.
`verify_archive(path, sha256)` checks that a .tar.gz still decompresses to the stream that
digest names, for anything taken from the cache before it is uploaded. Every user mistake
raises ArtifactError naming the path.

Layouts
- FLAT: a folder's contents at the root; a single file at the root under its own name.
- TENSORFLOW: a folder holding saved_model.pb (or .pbtxt) goes under a version folder, its own
  name when numeric (like `00002`), else `1/`; a folder holding numeric version folders (each
  with a saved_model.pb) goes at the root as it is; anything else is an error. Checking for
  saved_model.pb first means a numeric folder of version folders (`2024/1/...`) is not wrapped.
- code/: the contents of source_dir, plus the entry point as `code/<name>` unless it lives inside
  source_dir (then it is already there). `__pycache__` folders and `*.pyc` files are left out of
  code/: they embed build times and interpreter versions and would change the digest.
- An artifacts *file* named `*.tar.gz` / `*.tgz` is an existing model archive: its members go
  through the same layout rules as a folder without a name, code/ is added, and everything is
  re-packed deterministically (even with no code to add). Only regular files, folders and hard
  links to earlier members are accepted; symlinks, devices, absolute or `..` names are errors.
  It is unpacked to be re-packed, so what it may expand to is capped (a gzip bomb is an error
  before its data is written): MAX_ARCHIVE_MEMBERS members, MAX_ARCHIVE_EXPANDED_BYTES in all,
  and past ARCHIVE_RATIO_FREE_BYTES no more than MAX_ARCHIVE_RATIO times its compressed size.
- Two sources for the same file name (say artifacts/code/inference.py and an entry point) are an
  error; folders of the same name merge.

Links and special files: a symlink whose target lies inside the folder being walked (the
artifacts folder or source_dir) is followed and stored as what it points to, a regular file or
folder, so archives never contain links; targets outside, broken links and link loops are
errors. FIFOs, sockets and devices are errors. Read errors name the file.

Archive format (FORMAT_VERSION): POSIX pax tar (plain ustar headers unless a name or size needs
pax), entries in tree order (sorted by path components, folders before their contents), every
folder present; mtime 1980-01-01, uid/gid 0, empty owner names, mode 0755 for folders and
executables, 0644 for other files; padded to 10240-byte records. Compression: artifacts_gzip.

Cache: `<cache_dir>/index.json` maps a fingerprint of (format version, level, layout, and every
entry's archive name, real path, size, mtime_ns, ctime_ns, inode, device, mode) to a digest. When
the fingerprint matches and the cached archive still exists with its size, the result comes back
with `cached=True` after stat() calls only, so its bytes are not re-checked there: whatever
uploads it calls verify_archive first. ctime is in the fingerprint and in the check that a file
did not change while it was read, because rewriting a file and restoring its mtime (same size)
cannot restore its ctime. Writes go to a temp file then an atomic rename, so threads or processes
packaging the same folder at once each write a whole archive and the last rename wins (the
same bytes); within a process the index is updated under a lock, so no thread's entry is lost.
A corrupt or foreign index is ignored. Old archives are not pruned here.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import stat
import tarfile
import tempfile
import threading
import zlib
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, replace
from enum import StrEnum
from gzip import BadGzipFile, GzipFile
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple, Self

from deployspec.artifacts_gzip import CHUNK_SIZE, GzipWriter
from deployspec.errors import DeployspecError

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer

FORMAT_VERSION = 1
DEFAULT_LEVEL = 1  # weights barely compress; on the rest level 1 is several times faster than 6
# One reading thread feeds the workers at about 1 GB/s; more workers than this only add memory.
_MAX_DEFAULT_WORKERS = 16

# 1980-01-01T00:00:00Z: the reproducible-builds convention; older stamps make some tools warn.
_FIXED_MTIME = 315532800
_INDEX_NAME = "index.json"
# 2: digests name the uncompressed tar stream; version 1 indexes held the .tar.gz's sha256.
_INDEX_VERSION = 2
_INDEX_LIMIT = 512
# The index is read, extended and replaced: specs packaged by several threads at once (a plan
# of many specs) would each write back what it read, losing the others' entries.
_INDEX_LOCK = threading.Lock()
_SAVED_MODEL_FILES = ("saved_model.pb", "saved_model.pbtxt")
_VERSION_NAME = re.compile(r"[0-9]+")
_SHA256_HEX = re.compile(r"[0-9a-f]{64}")
_ARCHIVE_SUFFIXES = (".tar.gz", ".tgz")
_BYTECODE_DIR = "__pycache__"

# A model.tar.gz given as artifacts is unpacked into the cache to be re-packed. These bound what
# a crafted one (a gzip bomb: a few MB expanding to terabytes) can make deployspec read, write
# and hold: trained weights compress about 1.1:1 and text about 10:1, while gzip reaches about
# 1000:1 on runs of zeros, so past a size where any ratio is harmless, more than 100:1 is no model.
MAX_ARCHIVE_MEMBERS = 100_000
# SageMaker's largest ML storage volume is 512 GB: an endpoint could not unpack more.
MAX_ARCHIVE_EXPANDED_BYTES = 512 << 30
MAX_ARCHIVE_RATIO = 100
ARCHIVE_RATIO_FREE_BYTES = 256 << 20
# pax and GNU long-name headers are read whole into memory by tarfile; real ones are tiny.
_MAX_META_HEADER = 1 << 20
_ARCHIVE_READ_SIZE = 1 << 20
_META_TYPES = frozenset(
    (
        tarfile.XHDTYPE,
        tarfile.XGLTYPE,
        tarfile.SOLARIS_XHDTYPE,
        tarfile.GNUTYPE_LONGNAME,
        tarfile.GNUTYPE_LONGLINK,
    )
)


class Layout(StrEnum):
    TENSORFLOW = "tensorflow"
    FLAT = "flat"


class ArtifactError(DeployspecError):
    """The model artifacts or code cannot be packaged (missing, unsafe, unreadable, misplaced)."""


@dataclass(frozen=True)
class ArtifactSource:
    layout: Layout
    artifacts: Path
    entry_point: Path | None = None
    source_dir: Path | None = None


@dataclass(frozen=True)
class PackagedArtifact:
    sha256: str
    size: int
    path: Path
    cached: bool


class _Stat(NamedTuple):
    size: int
    mtime_ns: int
    ctime_ns: int
    inode: int
    device: int
    mode: int


def _stat_of(result: os.stat_result) -> _Stat:
    return _Stat(
        result.st_size,
        result.st_mtime_ns,
        result.st_ctime_ns,
        result.st_ino,
        result.st_dev,
        result.st_mode,
    )


@dataclass(frozen=True)
class _File:
    name: str  # archive name
    path: Path  # what is read (symlinks resolved); for list_entries of an archive, the archive
    stat: _Stat
    executable: bool

    @property
    def size(self) -> int:
        return self.stat.size


@dataclass(frozen=True)
class _Dir:
    name: str
    path: Path  # the folder it comes from, for messages and list_entries


_Entry = _File | _Dir


@dataclass(frozen=True)
class _ModelArchive:
    """An existing model.tar.gz given as artifacts; opened only when packaging for real."""

    path: Path
    stat: _Stat


@dataclass(frozen=True)
class _Collected:
    model: list[_Entry] | _ModelArchive
    code: list[_Entry]


# --- public API --------------------------------------------------------------------------------


def package(
    source: ArtifactSource,
    cache_dir: Path,
    *,
    level: int = DEFAULT_LEVEL,
    workers: int | None = None,
) -> PackagedArtifact:
    """The model.tar.gz for `source`, from the cache when nothing changed; see module docstring."""
    if not 0 <= level <= 9:
        raise ArtifactError(f"compression level must be between 0 and 9, not {level}")
    worker_count = _default_workers() if workers is None else workers
    if worker_count < 1:
        raise ArtifactError(f"workers must be at least 1, not {worker_count}")
    cache_dir = Path(os.path.abspath(cache_dir))
    collected, key, hit = _cached(source, cache_dir, level)
    if hit is not None:
        return hit
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise _cache_error(cache_dir, exc) from exc
    sha256, size, path = _build(source.layout, collected, cache_dir, level, worker_count)
    _remember(cache_dir, key, sha256, size)
    return PackagedArtifact(sha256=sha256, size=size, path=path, cached=False)


def cached(
    source: ArtifactSource, cache_dir: Path, *, level: int = DEFAULT_LEVEL
) -> PackagedArtifact | None:
    """The archive `package` would return if it is in the cache already, else None: the files
    are only stat-ed, never packed (for read-only commands such as `status`)."""
    return _cached(source, Path(os.path.abspath(cache_dir)), level)[2]


def _cached(
    source: ArtifactSource, cache_dir: Path, level: int
) -> tuple[_Collected, str, PackagedArtifact | None]:
    collected = _collect(source)
    _check_cache_outside_sources(cache_dir, source)
    key = _fingerprint(source.layout, collected, level)
    return collected, key, _lookup(cache_dir, key, level)


def list_entries(source: ArtifactSource) -> list[tuple[str, Path]]:
    """(archive name, path on disk) of every member, in archive order, after every check.

    Folder names end with "/" and map to the folder they come from; members of an existing
    model archive map to that archive.
    """
    collected = _collect(source)
    if isinstance(collected.model, _ModelArchive):
        model = _archive_entries(collected.model, source.layout, extract_to=None)
    else:
        model = collected.model
    entries = _arrange([*model, *collected.code])
    return [(e.name + "/" if isinstance(e, _Dir) else e.name, e.path) for e in entries]


def verify_archive(path: Path, sha256: str) -> None:
    """Check that the .tar.gz at `path` decompresses to the tar stream whose sha256 is `sha256`.

    For an archive taken from the cache, before it is uploaded under that digest: the cache
    trusts a file by its size, and a disk or a person may have changed bytes since. A file that
    fails is deleted, since it is the cache's copy and the next run would trust it again.
    """
    content = hashlib.sha256()
    try:
        with GzipFile(path, mode="rb") as stream:
            while block := stream.read(CHUNK_SIZE):
                content.update(block)
    except FileNotFoundError as exc:
        raise ArtifactError(
            f"the packaged artifact {path} is gone", hint="run plan again to repackage it"
        ) from exc
    except (BadGzipFile, EOFError, zlib.error) as exc:
        _discard(path)
        raise _corrupt_error(path, f"it is not a whole gzip file any more ({exc})") from exc
    except OSError as exc:
        raise _os_error("cannot read the packaged artifact", path, exc) from exc
    if content.hexdigest() != sha256:
        _discard(path)
        raise _corrupt_error(path, f"its content's sha256 is {content.hexdigest()}, not {sha256}")


def _discard(path: Path) -> None:
    # The error raised next says what is wrong; removing the file only spares the next run.
    with suppress(OSError):
        path.unlink(missing_ok=True)


def _corrupt_error(path: Path, why: str) -> ArtifactError:
    return ArtifactError(
        f"the packaged artifact {path} no longer matches its digest: {why}",
        hint="it was changed in the cache (disk fault or an edit), or the plan was made by "
        "another version of deployspec; it has been removed: run plan again to repackage it",
    )


# --- collecting (stat calls only) --------------------------------------------------------------


def _collect(source: ArtifactSource) -> _Collected:
    artifacts = Path(os.path.abspath(source.artifacts))
    found = _stat(artifacts, "artifacts")
    model: list[_Entry] | _ModelArchive
    if stat.S_ISDIR(found.st_mode):
        tree = _walk(artifacts, "artifacts", skip_bytecode=False)
        if not any(isinstance(e, _File) for e in tree):
            raise ArtifactError(f"artifacts folder {artifacts} holds no files")
        model = _place(tree, source.layout, artifacts.name, artifacts, str(artifacts))
    elif stat.S_ISREG(found.st_mode):
        if artifacts.name.endswith(_ARCHIVE_SUFFIXES):
            model = _ModelArchive(artifacts, _stat_of(found))
        elif source.layout is Layout.TENSORFLOW:
            raise ArtifactError(
                f"tensorflow artifacts must be a SavedModel folder or a model.tar.gz, "
                f"not the file {artifacts}",
                hint="point artifacts at the folder holding saved_model.pb",
            )
        else:
            model = [_file(artifacts.name, artifacts, found)]
    else:
        raise _special_file_error(artifacts, found.st_mode)
    return _Collected(model, _collect_code(source))


def _collect_code(source: ArtifactSource) -> list[_Entry]:
    entries: list[_Entry] = []
    source_dir = Path(os.path.abspath(source.source_dir)) if source.source_dir else None
    if source_dir is not None:
        if not stat.S_ISDIR(_stat(source_dir, "source_dir").st_mode):
            raise ArtifactError(f"source_dir {source_dir} is not a folder")
        entries.append(_Dir("code", source_dir))
        for entry in _walk(source_dir, "source_dir", skip_bytecode=True):
            entries.append(replace(entry, name=f"code/{entry.name}"))
    if source.entry_point is not None:
        entry_point = Path(os.path.abspath(source.entry_point))
        found = _stat(entry_point, "entry_point")
        if not stat.S_ISREG(found.st_mode):
            raise ArtifactError(f"entry_point {entry_point} is not a file")
        if entry_point.suffix != ".py":
            raise ArtifactError(
                f"entry_point {entry_point} is not a .py file",
                hint="the inference toolkits import the entry point as a Python module",
            )
        inside = source_dir is not None and _within(
            os.path.realpath(entry_point), os.path.realpath(source_dir)
        )
        if not inside:
            entries.append(_Dir("code", entry_point.parent))
            entries.append(_file(f"code/{entry_point.name}", entry_point, found))
    return entries


def _place(
    tree: list[_Entry], layout: Layout, folder_name: str | None, origin: Path, where: str
) -> list[_Entry]:
    """Apply the layout's root mapping to entries named relative to the artifacts root."""
    match layout:
        case Layout.FLAT:
            return tree
        case Layout.TENSORFLOW:
            version = _tensorflow_version_folder(tree, folder_name, where)
            if version is None:
                return tree
            return [_Dir(version, origin)] + [replace(e, name=f"{version}/{e.name}") for e in tree]
    raise AssertionError(f"unhandled layout {layout!r}")


def _tensorflow_version_folder(
    tree: list[_Entry], folder_name: str | None, where: str
) -> str | None:
    """The version folder to wrap the tree in, or None when it already has version folders."""
    files = {e.name for e in tree if isinstance(e, _File)}
    if any(name in files for name in _SAVED_MODEL_FILES):
        if folder_name is not None and _VERSION_NAME.fullmatch(folder_name):
            return folder_name
        return "1"
    versions = sorted(
        e.name for e in tree if isinstance(e, _Dir) and _VERSION_NAME.fullmatch(e.name)
    )
    if not versions:
        raise ArtifactError(
            f"{where} is not a TensorFlow SavedModel: it holds neither saved_model.pb "
            f"nor numeric version folders (1/, 2/, ...)",
            hint="point artifacts at the folder holding saved_model.pb",
        )
    for version in versions:
        if not any(f"{version}/{name}" in files for name in _SAVED_MODEL_FILES):
            raise ArtifactError(
                f"version folder {version}/ in {where} holds no saved_model.pb",
                hint="TensorFlow Serving loads each numeric folder as a SavedModel",
            )
    return None


def _walk(root: Path, role: str, *, skip_bytecode: bool) -> list[_Entry]:
    """Every folder and file under `root`, named relative to it, links inside it followed."""
    root_real = os.path.realpath(root)
    out: list[_Entry] = []

    def visit(folder: str, folder_real: str, prefix: str, active: frozenset[str]) -> None:
        try:
            with os.scandir(folder) as listing:
                children = sorted(listing, key=lambda child: child.name)
        except OSError as exc:
            raise _os_error("cannot list the folder", Path(folder), exc) from exc
        for child in children:
            name = f"{prefix}{child.name}"
            path = Path(child.path)
            _check_name(name, path)
            if skip_bytecode and (child.name == _BYTECODE_DIR or child.name.endswith(".pyc")):
                continue
            linked = child.is_symlink()
            if linked:
                real = os.path.realpath(child.path)
                if not _within(real, root_real):
                    raise ArtifactError(
                        f"symlink {path} points outside the {role} folder {root} "
                        f"(to {os.readlink(child.path)})",
                        hint="copy the target into the folder, or replace the link by the file",
                    )
            else:
                real = os.path.join(folder_real, child.name)
            try:
                found = os.stat(child.path)
            except FileNotFoundError as exc:
                if linked:
                    raise ArtifactError(
                        f"symlink {path} points to {os.readlink(child.path)}, which does not exist"
                    ) from exc
                raise _os_error("cannot read", path, exc) from exc
            except OSError as exc:
                raise _os_error("cannot read", path, exc) from exc
            if stat.S_ISDIR(found.st_mode):
                if real in active:
                    raise ArtifactError(f"symlink {path} makes a loop (it points to {real})")
                out.append(_Dir(name, path))
                visit(child.path, real, f"{name}/", active | {real})
            elif stat.S_ISREG(found.st_mode):
                out.append(_file(name, Path(real) if linked else path, found))
            else:
                raise _special_file_error(path, found.st_mode)

    visit(str(root), root_real, "", frozenset({root_real}))
    return out


def _file(name: str, path: Path, found: os.stat_result) -> _File:
    return _File(name, path, _stat_of(found), executable=bool(found.st_mode & 0o111))


def _stat(path: Path, role: str) -> os.stat_result:
    try:
        return os.stat(path)
    except FileNotFoundError as exc:
        raise ArtifactError(f"{role} {path} does not exist") from exc
    except OSError as exc:
        raise _os_error(f"cannot read {role}", path, exc) from exc


def _within(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


def _check_name(name: str, path: Path) -> None:
    try:
        name.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ArtifactError(
            f"file name {str(path)!r} is not valid UTF-8", hint="rename the file"
        ) from exc


def _check_cache_outside_sources(cache_dir: Path, source: ArtifactSource) -> None:
    cache_real = os.path.realpath(cache_dir)
    roots = [("artifacts", source.artifacts), ("source_dir", source.source_dir)]
    for role, root in roots:
        if root is None or not os.path.isdir(root):
            continue
        if _within(cache_real, os.path.realpath(root)):
            raise ArtifactError(
                f"the artifact cache {cache_dir} is inside the {role} folder {root}, "
                f"so the archive would contain itself",
                hint="use a cache folder outside the model and code folders",
            )


def _special_file_error(path: Path, mode: int) -> ArtifactError:
    if stat.S_ISFIFO(mode):
        kind = "a named pipe (FIFO)"
    elif stat.S_ISSOCK(mode):
        kind = "a socket"
    elif stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        kind = "a device"
    else:
        kind = "a special file"
    return ArtifactError(
        f"{path} is {kind}; only regular files and folders can go into model.tar.gz"
    )


def _os_error(what: str, path: Path, exc: OSError) -> ArtifactError:
    reason = exc.strerror or str(exc)
    return ArtifactError(f"{what} {path}: {reason}")


def _cache_error(cache_dir: Path, exc: OSError) -> ArtifactError:
    return ArtifactError(
        f"cannot write to the artifact cache {cache_dir}: {exc.strerror or exc}",
        hint="check free space and permissions, or set DEPLOYSPEC_CACHE_DIR",
    )


def _default_workers() -> int:
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not on every platform (macOS)
        cpus = os.cpu_count() or 1
    return min(cpus, _MAX_DEFAULT_WORKERS)


# --- existing model archives -------------------------------------------------------------------


def _archive_entries(
    archive: _ModelArchive, layout: Layout, extract_to: Path | None
) -> list[_Entry]:
    """The members of an existing model.tar.gz, validated and placed by the layout rules.

    With `extract_to`, regular members are copied there (one pass over the archive), since the
    output order differs from the archive's; without it, only names and sizes are read.
    """
    where = f"model archive {archive.path}"
    limit = _ExpansionLimit(archive.stat.size, where)
    tree: dict[str, _Entry] = {}
    try:
        with (
            _open_archive(archive, limit) as stream,
            tarfile.open(
                fileobj=stream, mode="r|", tarinfo=_BoundedTarInfo, bufsize=_ARCHIVE_READ_SIZE
            ) as tar,
        ):
            for index, member in enumerate(tar):
                if index >= MAX_ARCHIVE_MEMBERS:
                    raise ArtifactError(
                        f"{where} holds more than {MAX_ARCHIVE_MEMBERS:,} members",
                        hint=_UNPACK_HINT,
                    )
                name = _member_name(member, where)
                if name is None:
                    continue
                if name in tree:
                    raise ArtifactError(f"{where} holds {name!r} twice")
                _check_name(name, archive.path)
                if member.isdir():
                    tree[name] = _Dir(name, archive.path)
                elif member.isreg():
                    # Counted from the header, before a byte of it is read or written.
                    limit.add(member.size)
                    tree[name] = _extract_member(tar, member, name, archive, index, extract_to)
                elif member.islnk():
                    link = _hard_link(member, name, tree, where)
                    # Re-packed as a copy: a thousand links to one big file are a bomb too.
                    limit.add(link.size)
                    tree[name] = link
                elif member.issym():
                    raise ArtifactError(
                        f"{where} holds the symlink {name!r} -> {member.linkname!r}",
                        hint="re-create the archive with links dereferenced (tar -h)",
                    )
                else:
                    raise ArtifactError(
                        f"{where} holds {name!r}, which is not a regular file or folder"
                    )
            if extract_to is not None:
                # What was extracted goes under the key made from the archive's stat.
                _check_archive_unchanged(archive, stream.fstat())
    except _OversizedHeader as exc:
        raise ArtifactError(
            f"{where} holds a tar header claiming {exc.size:,} bytes of metadata "
            f"(real pax and long-name headers are a few hundred; at most "
            f"{_MAX_META_HEADER:,} are read)",
            hint=_UNPACK_HINT,
        ) from None
    except (tarfile.TarError, EOFError, zlib.error, BadGzipFile) as exc:
        raise ArtifactError(f"cannot read {where}: {exc}") from exc
    except OSError as exc:
        raise _os_error("cannot read", archive.path, exc) from exc
    entries = list(tree.values())
    # Folders implied by member names but absent from the archive, so layout checks see them.
    for name in list(tree):
        parts = name.split("/")
        for depth in range(1, len(parts)):
            parent = "/".join(parts[:depth])
            if parent not in tree:
                tree[parent] = _Dir(parent, archive.path)
                entries.append(tree[parent])
    if not any(isinstance(e, _File) for e in entries):
        raise ArtifactError(f"{where} holds no files")
    return _place(entries, layout, None, archive.path, where)


_UNPACK_HINT = (
    "if it really is the model, unpack it and point artifacts at the folder; "
    "otherwise check where the archive came from"
)


class _ExpansionLimit:
    """How far one model archive may expand (see the module docstring); over it is an error."""

    def __init__(self, compressed_size: int, where: str) -> None:
        by_ratio = max(ARCHIVE_RATIO_FREE_BYTES, MAX_ARCHIVE_RATIO * compressed_size)
        self.limit = min(MAX_ARCHIVE_EXPANDED_BYTES, by_ratio)
        self._compressed_size = compressed_size
        self._where = where
        self._total = 0

    def add(self, size: int) -> None:
        """Count `size` more bytes of what the archive expands to."""
        self._total += size
        if self._total > self.limit:
            raise self.error()

    def error(self) -> ArtifactError:
        if self.limit == MAX_ARCHIVE_EXPANDED_BYTES:
            why = (
                f"more than {_size_text(self.limit)}, the largest volume a SageMaker instance "
                "can unpack it to"
            )
        else:
            why = (
                f"more than {_size_text(self.limit)} from {self._compressed_size:,} bytes "
                f"compressed, a ratio over {MAX_ARCHIVE_RATIO}:1 that model files never reach "
                "(a gzip bomb?)"
            )
        return ArtifactError(f"{self._where} expands to {why}", hint=_UNPACK_HINT)


def _size_text(size: int) -> str:
    if size >= 1 << 30:
        return f"{size / (1 << 30):g} GiB"
    return f"{size / (1 << 20):g} MiB"


class _BoundedStream(io.RawIOBase):
    """A model archive's decompressed bytes, as tarfile reads them, counted against the limit.

    Headers count too: tarfile reads pax and long-name headers whole, before any member is
    seen, so a header claiming gigabytes would otherwise be decompressed into memory.
    """

    def __init__(self, raw: io.FileIO, limit: _ExpansionLimit) -> None:
        super().__init__()
        self._raw = raw
        self._stream = GzipFile(
            fileobj=io.BufferedReader(raw, buffer_size=_ARCHIVE_READ_SIZE), mode="rb"
        )
        self._limit = limit
        self._read = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: WriteableBuffer, /) -> int:
        room = self._limit.limit - self._read + 1
        got = self._stream.readinto(memoryview(buffer).cast("B")[:room])
        self._read += got
        if self._read > self._limit.limit:
            raise self._limit.error()
        return got

    def fstat(self) -> os.stat_result:
        return os.fstat(self._raw.fileno())


@contextmanager
def _open_archive(archive: _ModelArchive, limit: _ExpansionLimit) -> Iterator[_BoundedStream]:
    with _open_file(
        archive.path, "rb", lambda exc: _os_error("cannot read", archive.path, exc)
    ) as raw:
        yield _BoundedStream(raw, limit)


class _OversizedHeader(Exception):
    def __init__(self, size: int) -> None:
        super().__init__(size)
        self.size = size


class _BoundedTarInfo(tarfile.TarInfo):
    """Refuses oversized pax and GNU long-name headers before tarfile reads them into memory."""

    @classmethod
    def frombuf(cls, buf: bytes | bytearray, encoding: str, errors: str) -> Self:
        info = super().frombuf(buf, encoding, errors)
        if info.type in _META_TYPES and info.size > _MAX_META_HEADER:
            raise _OversizedHeader(info.size)
        return info


def _check_archive_unchanged(archive: _ModelArchive, now: os.stat_result) -> None:
    if not _same_stat(archive.stat, now):
        raise _changed_error(archive.path)


def _member_name(member: tarfile.TarInfo, where: str) -> str | None:
    """The normalised member name, None for the archive root; unsafe names are errors."""
    raw = member.name
    if raw.startswith("/"):
        raise ArtifactError(f"{where} holds the absolute path {raw!r}")
    parts = [part for part in raw.split("/") if part not in ("", ".")]
    if ".." in parts:
        raise ArtifactError(f"{where} holds {raw!r}, which escapes the archive root")
    return "/".join(parts) if parts else None


def _extract_member(
    tar: tarfile.TarFile,
    member: tarfile.TarInfo,
    name: str,
    archive: _ModelArchive,
    index: int,
    extract_to: Path | None,
) -> _File:
    executable = bool(member.mode & 0o111)
    if extract_to is None:
        return _File(name, archive.path, archive.stat._replace(size=member.size), executable)
    reader = tar.extractfile(member)
    if reader is None:
        raise ArtifactError(f"cannot read {name!r} from model archive {archive.path}")
    target = extract_to / str(index)
    # Errors reading the archive propagate to the caller; errors writing are the cache disk's.
    with _open_file(target, "wb", lambda exc: _cache_error(extract_to, exc)) as out:
        while block := reader.read(1 << 20):
            try:
                out.write(block)
            except OSError as exc:
                raise _cache_error(extract_to, exc) from exc
    return _File(name, target, _stat_of(os.stat(target)), executable)


def _hard_link(member: tarfile.TarInfo, name: str, tree: dict[str, _Entry], where: str) -> _File:
    target_name = _member_name(tarfile.TarInfo(member.linkname), where)
    target = tree.get(target_name or "")
    if not isinstance(target, _File):
        raise ArtifactError(
            f"{where} holds the hard link {name!r} to {member.linkname!r}, "
            f"which is not an earlier file in the archive"
        )
    return replace(target, name=name, executable=bool(member.mode & 0o111))


# --- writing -----------------------------------------------------------------------------------


def _arrange(entries: Iterable[_Entry]) -> list[_Entry]:
    """Entries in archive order, with every parent folder; name clashes are errors."""
    by_name: dict[str, _Entry] = {}
    for entry in entries:
        previous = by_name.get(entry.name)
        if previous is None:
            by_name[entry.name] = entry
        elif not (isinstance(previous, _Dir) and isinstance(entry, _Dir)):
            raise ArtifactError(
                f"two sources for {entry.name!r} in model.tar.gz: {previous.path} and {entry.path}",
                hint="remove one of them (a code/ folder inside the artifacts clashes with "
                "entry_point/source_dir)",
            )
    for name, entry in list(by_name.items()):
        parts = name.split("/")
        for depth in range(1, len(parts)):
            parent = "/".join(parts[:depth])
            existing = by_name.get(parent)
            if existing is None:
                by_name[parent] = _Dir(parent, entry.path)
            elif isinstance(existing, _File):
                raise ArtifactError(
                    f"{parent!r} is both a file ({existing.path}) and a folder ({entry.path}) "
                    f"in model.tar.gz"
                )
    return sorted(by_name.values(), key=lambda e: e.name.split("/"))


def _build(
    layout: Layout, collected: _Collected, cache_dir: Path, level: int, workers: int
) -> tuple[str, int, Path]:
    with _scratch(cache_dir, needed=isinstance(collected.model, _ModelArchive)) as scratch:
        if isinstance(collected.model, _ModelArchive):
            model = _archive_entries(collected.model, layout, extract_to=scratch)
        else:
            model = collected.model
        entries = _arrange([*model, *collected.code])
        try:
            fd, temp_name = tempfile.mkstemp(dir=cache_dir, prefix=".pack-", suffix=".tar.gz")
        except OSError as exc:
            raise _cache_error(cache_dir, exc) from exc
        temp = Path(temp_name)
        try:
            with os.fdopen(fd, "wb") as out:
                with GzipWriter(out, level=level, workers=workers) as gzip:
                    _write_tar(entries, gzip)
                    sha256, size = gzip.close()
                out.flush()
                # The digest names the file: it must never refer to half-written bytes.
                os.fsync(out.fileno())
            final = _archive_path(cache_dir, sha256, level)
            os.replace(temp, final)
        except OSError as exc:
            temp.unlink(missing_ok=True)
            raise _cache_error(cache_dir, exc) from exc
        except BaseException:
            temp.unlink(missing_ok=True)
            raise
    return sha256, size, final


@contextmanager
def _scratch(cache_dir: Path, *, needed: bool) -> Iterator[Path | None]:
    if not needed:
        yield None
        return
    try:
        temp = tempfile.TemporaryDirectory(dir=cache_dir, prefix=".extract-")
    except OSError as exc:
        raise _cache_error(cache_dir, exc) from exc
    with temp as name:
        yield Path(name)


def _write_tar(entries: list[_Entry], gzip: GzipWriter) -> None:
    for entry in entries:
        info = tarfile.TarInfo(entry.name)
        info.mtime = _FIXED_MTIME
        info.uid = info.gid = 0
        info.uname = info.gname = ""
        if isinstance(entry, _Dir):
            info.type = tarfile.DIRTYPE
            info.mode = 0o755
            gzip.write(info.tobuf(tarfile.PAX_FORMAT, "utf-8", "strict"))
            continue
        info.type = tarfile.REGTYPE
        info.mode = 0o755 if entry.executable else 0o644
        info.size = entry.size
        gzip.write(info.tobuf(tarfile.PAX_FORMAT, "utf-8", "strict"))
        _copy_file(entry, gzip)
        _pad(gzip, tarfile.BLOCKSIZE)
    gzip.write(bytes(2 * tarfile.BLOCKSIZE))
    _pad(gzip, tarfile.RECORDSIZE)


def _pad(gzip: GzipWriter, multiple: int) -> None:
    remainder = gzip.uncompressed_size % multiple
    if remainder:
        gzip.write(bytes(multiple - remainder))


def _copy_file(entry: _File, gzip: GzipWriter) -> None:
    with _open_file(
        entry.path, "rb", lambda exc: _os_error("cannot read", entry.path, exc)
    ) as handle:
        reader = _SourceReader(handle, entry.path)
        _check_unchanged(entry, reader.fstat())
        # OSErrors escaping write_from come from the output side: reads are translated here.
        copied = gzip.write_from(reader, entry.size)
        if copied != entry.size or reader.readinto(memoryview(bytearray(1))):
            raise _changed_error(entry.path)
        _check_unchanged(entry, reader.fstat())


def _open_file(path: Path, mode: str, error: Callable[[OSError], ArtifactError]) -> io.FileIO:
    """An unbuffered file; failing to open it raises `error(exc)`."""
    try:
        return io.FileIO(path, mode)
    except OSError as exc:
        raise error(exc) from exc


class _SourceReader:
    """A source file whose read errors become ArtifactErrors naming it."""

    def __init__(self, handle: io.FileIO, path: Path) -> None:
        self._handle = handle
        self._path = path

    def readinto(self, buffer: memoryview, /) -> int | None:
        try:
            return self._handle.readinto(buffer)
        except OSError as exc:
            raise _os_error("cannot read", self._path, exc) from exc

    def fstat(self) -> os.stat_result:
        try:
            return os.fstat(self._handle.fileno())
        except OSError as exc:
            raise _os_error("cannot read", self._path, exc) from exc


def _check_unchanged(entry: _File, now: os.stat_result) -> None:
    # The header already holds the listed size, and the cache key the listed stat. ctime too:
    # a same-size rewrite can put the mtime back (touch -d, os.utime), never the ctime.
    if not _same_stat(entry.stat, now):
        raise _changed_error(entry.path)


def _same_stat(then: _Stat, now: os.stat_result) -> bool:
    return (now.st_size, now.st_mtime_ns, now.st_ctime_ns, now.st_ino, now.st_dev) == (
        then.size,
        then.mtime_ns,
        then.ctime_ns,
        then.inode,
        then.device,
    )


def _changed_error(path: Path) -> ArtifactError:
    return ArtifactError(
        f"{path} changed while it was being packaged", hint="run again once it is complete"
    )


# --- digest cache ------------------------------------------------------------------------------


def _fingerprint(layout: Layout, collected: _Collected, level: int) -> str:
    def rows(entries: list[_Entry]) -> list[list[object]]:
        return [
            ["file", e.name, str(e.path), *e.stat] if isinstance(e, _File) else ["dir", e.name]
            for e in entries
        ]

    model = collected.model
    document = {
        "format": FORMAT_VERSION,
        "chunk": CHUNK_SIZE,
        "level": level,
        "layout": layout.value,
        "model": (
            ["archive", str(model.path), *model.stat]
            if isinstance(model, _ModelArchive)
            else rows(model)
        ),
        "code": rows(collected.code),
    }
    text = json.dumps(document, separators=(",", ":"), sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


def _read_index(cache_dir: Path) -> dict[str, tuple[str, int]]:
    """The index entries; an unreadable, corrupt or foreign index reads as empty."""
    try:
        document = json.loads((cache_dir / _INDEX_NAME).read_bytes())
    except (OSError, ValueError):
        return {}
    if not isinstance(document, dict) or document.get("version") != _INDEX_VERSION:
        return {}
    raw = document.get("entries")
    if not isinstance(raw, dict):
        return {}
    entries: dict[str, tuple[str, int]] = {}
    for key, value in raw.items():
        if not isinstance(value, dict):
            continue
        sha256, size = value.get("sha256"), value.get("size")
        if isinstance(sha256, str) and _SHA256_HEX.fullmatch(sha256) and type(size) is int:
            entries[key] = (sha256, size)
    return entries


def _archive_path(cache_dir: Path, sha256: str, level: int) -> Path:
    # The level is in the name: one content compressed at two levels is two different files.
    return cache_dir / f"{sha256}-{level}.tar.gz"


def _lookup(cache_dir: Path, key: str, level: int) -> PackagedArtifact | None:
    found = _read_index(cache_dir).get(key)
    if found is None:
        return None
    sha256, size = found
    path = _archive_path(cache_dir, sha256, level)
    try:
        if os.stat(path).st_size != size:
            return None
    except OSError:
        return None
    return PackagedArtifact(sha256=sha256, size=size, path=path, cached=True)


def _remember(cache_dir: Path, key: str, sha256: str, size: int) -> None:
    with _INDEX_LOCK:
        _remember_locked(cache_dir, key, sha256, size)


def _remember_locked(cache_dir: Path, key: str, sha256: str, size: int) -> None:
    # Re-read just before writing, to keep what a concurrent run added meanwhile.
    entries = _read_index(cache_dir)
    entries.pop(key, None)
    entries[key] = (sha256, size)
    kept = list(entries.items())[-_INDEX_LIMIT:]
    document = {
        "version": _INDEX_VERSION,
        "entries": {k: {"sha256": s, "size": n} for k, (s, n) in kept},
    }
    try:
        fd, temp_name = tempfile.mkstemp(dir=cache_dir, prefix=".index-", suffix=".json")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                json.dump(document, out, separators=(",", ":"))
            os.replace(temp_name, cache_dir / _INDEX_NAME)
        except BaseException:
            Path(temp_name).unlink(missing_ok=True)
            raise
    except OSError as exc:
        raise _cache_error(cache_dir, exc) from exc


def s3_etag(path: Path, part_bytes: int) -> str:
    """The ETag S3 gives this file uploaded as the gateway uploads it: the MD5 of its bytes, or,
    from `part_bytes` on (multipart), the MD5 of its parts' MD5s and `-<parts>`. (Not what S3
    reports for SSE-KMS objects: those are then uploaded again once, never trusted.)"""
    import hashlib

    digests: list[bytes] = []
    size = 0
    with path.open("rb") as handle:
        while True:
            part = hashlib.md5(usedforsecurity=False)
            taken = 0
            while taken < part_bytes:
                block = handle.read(min(1 << 20, part_bytes - taken))
                if not block:
                    break
                part.update(block)
                taken += len(block)
            if taken == 0 and digests:
                break
            digests.append(part.digest())
            size += taken
            if taken < part_bytes:
                break
    if size < part_bytes:
        return digests[0].hex()
    combined = hashlib.md5(b"".join(digests), usedforsecurity=False).hexdigest()
    return f"{combined}-{len(digests)}"
