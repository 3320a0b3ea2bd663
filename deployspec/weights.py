"""Uncompressed model weights: the files a container sees under /opt/ml/model, their digests,
and which of them an upload must send, copy or can skip.

Contract
--------
`tree_of(source, cache_dir)` lays out a local folder (or file) exactly as the framework's
model.tar.gz would (artifacts.list_entries: the same layout rules, code/ for the entry point and
source_dir, the same refusals of links leading outside, special files and name clashes; an
existing .tar.gz is refused: its files would have to be unpacked first) and returns a
`WeightsTree`: each file's relative path, sha256, size and local path, sorted by path, and the
tree digest, `tree_digest(files)`: the sha256 of the canonical JSON of the sorted
[path, sha256, size] rows. Nothing else (mtimes, owners, modes, the host) enters the digest.
File digests are cached in `<cache_dir>/weights-index.json` by (real path, size, mtime_ns,
ctime_ns, inode, device): an unchanged tree is only stat-ed, never read again. Files are hashed
in parallel; a file that changes while it is read is an error.

S3 layout (`prefix_of`, `manifest_uri_of`): the files of a tree go under
`s3://<bucket>/<artifact prefix>/weights/<tree sha256>/<path>` (the model's ModelDataSource
S3Prefix), each with metadata `sha256`; its manifest (`manifest_json`), written last, at
`<artifact prefix>/weights/<tree sha256>.manifest.json`, outside the prefix so the container
never sees it: a manifest present means the prefix is complete.

`plan_transfers(tree, prefix, present, earlier)` is pure: given what the target prefix already
holds (`present`: path -> (size, sha256 metadata), from an interrupted upload) and the
manifests of earlier trees (`earlier`: newest first), each file is "present" (at its key with
its size and digest), "copy" (an earlier tree holds the same digest and size: copied
server-side from there) or "upload". `summary(transfers)` says it in words, for the plan.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import threading
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from .artifacts import ArtifactError, ArtifactSource, list_entries
from .cache import read_json, write_json
from .errors import DeployspecError, NotPackagedError
from .resources import WeightsFile

MANIFEST_FORMAT = 1
MANIFEST_SUFFIX = ".manifest.json"
# How many earlier manifests a plan reads to find files to copy: the newest ones hold what a
# new version most likely shares; older trees' files are in the newer ones too.
EARLIER_MANIFESTS = 3
_INDEX_NAME = "weights-index.json"
_INDEX_VERSION = 1
# Entries kept in the digest index (the newest): enough for a few large models' shards.
_INDEX_LIMIT = 100_000
_INDEX_LOCK = threading.Lock()
# Reads sized to stay in the CPU cache between the copy and the hash: 8 MiB ones cost ~7%.
_READ_BYTES = 1 << 20
_HASH_WORKERS = min(8, os.cpu_count() or 1)
_SHA256_HEX = re.compile(r"[0-9a-f]{64}")

TransferAction = Literal["present", "copy", "upload"]


@dataclass(frozen=True)
class WeightsTree:
    sha256: str
    files: tuple[WeightsFile, ...]

    @property
    def size(self) -> int:
        return sum(f.size for f in self.files)


@dataclass(frozen=True)
class Transfer:
    """What apply does with one file of a tree: the plan carries exactly this."""

    path: str
    sha256: str
    size: int
    action: TransferAction
    source: str | None = None  # the s3:// URI a copy is made from


def tree_digest(files: Iterable[WeightsFile]) -> str:
    rows = sorted([f.path, f.sha256, f.size] for f in files)
    text = json.dumps(rows, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


def prefix_of(bucket: str, artifact_prefix: str, tree_sha256: str) -> str:
    """The S3 prefix a tree's files go under; it ends with "/", as SageMaker's S3Prefix must."""
    return f"s3://{bucket}/{artifact_prefix}/weights/{tree_sha256}/"


def manifest_uri_of(prefix: str) -> str:
    """Where the manifest of the tree at `prefix` goes: beside the prefix, not inside it."""
    return prefix.rstrip("/") + MANIFEST_SUFFIX


def weights_root(bucket: str, artifact_prefix: str) -> str:
    """Where a spec's trees and manifests live (listed for earlier manifests, purged)."""
    return f"s3://{bucket}/{artifact_prefix}/weights/"


def is_weights_prefix(uri: str, root: str) -> bool:
    rest = uri.removeprefix(root) if uri.startswith(root) else ""
    return re.fullmatch(r"[0-9a-f]{64}/", rest) is not None


def is_manifest(uri: str, root: str) -> bool:
    rest = uri.removeprefix(root) if uri.startswith(root) else ""
    return re.fullmatch(r"[0-9a-f]{64}" + re.escape(MANIFEST_SUFFIX), rest) is not None


# ---- the local tree ---------------------------------------------------------------------------


def tree_of(source: ArtifactSource, cache_dir: Path, *, build: bool = True) -> WeightsTree:
    """The files the container sees, hashed (from the cache where unchanged). `build=False`
    only looks in the cache, and raises NotPackagedError when a file's digest is not there:
    read-only commands must not read gigabytes."""
    if Path(source.artifacts).is_file() and str(source.artifacts).endswith((".tar.gz", ".tgz")):
        raise ArtifactError(
            f"artifacts {source.artifacts} is a model archive, and compression: none uploads "
            "files as they are",
            hint="point artifacts: at the folder of model files, or remove compression: none",
        )
    entries = [(name, path) for name, path in list_entries(source) if not name.endswith("/")]
    stats = {name: _stat(path) for name, path in entries}
    index = _read_index(cache_dir)
    known: dict[str, str] = {}
    missing: list[tuple[str, Path]] = []
    for name, path in entries:
        found = index.get(_key(path, stats[name]))
        if found is not None:
            known[name] = found
        else:
            missing.append((name, path))
    if missing and not build:
        raise NotPackagedError(
            f"the weights under {source.artifacts} are not hashed on this machine yet (they "
            "changed since the last plan, or were never planned here)",
            hint="run `deployspec plan` on the spec to hash them",
        )
    if missing:
        with ThreadPoolExecutor(max_workers=_HASH_WORKERS) as pool:
            digests = list(pool.map(lambda item: _hash(item[1], stats[item[0]]), missing))
        fresh = {}
        for (name, path), sha in zip(missing, digests, strict=True):
            known[name] = sha
            fresh[_key(path, stats[name])] = sha
        _remember(cache_dir, fresh)
    files = tuple(
        sorted(
            (
                WeightsFile(
                    path=name,
                    sha256=known[name],
                    size=stats[name].st_size,
                    local_path=str(path),
                )
                for name, path in entries
            ),
            key=lambda f: f.path,
        )
    )
    return WeightsTree(sha256=tree_digest(files), files=files)


def _stat(path: Path) -> os.stat_result:
    try:
        return os.stat(path)
    except OSError as exc:
        raise ArtifactError(f"cannot read {path}: {exc.strerror}") from exc


def _key(path: Path, found: os.stat_result) -> str:
    return "|".join(
        str(v)
        for v in (
            os.path.realpath(path),
            found.st_size,
            found.st_mtime_ns,
            found.st_ctime_ns,
            found.st_ino,
            found.st_dev,
        )
    )


def _hash(path: Path, before: os.stat_result) -> str:
    digest = hashlib.sha256()
    try:
        with open(path, "rb", buffering=0) as handle:
            buffer = bytearray(_READ_BYTES)
            view = memoryview(buffer)
            while count := handle.readinto(view):
                digest.update(view[:count])
            after = os.fstat(handle.fileno())
    except OSError as exc:
        raise ArtifactError(f"cannot read {path}: {exc.strerror}") from exc
    if (after.st_size, after.st_mtime_ns, after.st_ctime_ns) != (
        before.st_size,
        before.st_mtime_ns,
        before.st_ctime_ns,
    ):
        raise ArtifactError(
            f"{path} changed while deployspec read it",
            hint="run again once whatever writes the model files has finished",
        )
    return digest.hexdigest()


def file_sha256(path: Path) -> str:
    """A file's sha256, read now (apply checks what it uploads against the plan)."""
    return _hash(path, _stat(path))


def _read_index(cache_dir: Path) -> dict[str, str]:
    data = read_json(cache_dir / _INDEX_NAME)
    if not isinstance(data, dict) or data.get("version") != _INDEX_VERSION:
        return {}
    entries = data.get("entries")
    if not isinstance(entries, dict):
        return {}
    return {
        k: v
        for k, v in entries.items()
        if isinstance(k, str) and isinstance(v, str) and _SHA256_HEX.fullmatch(v)
    }


def _remember(cache_dir: Path, fresh: Mapping[str, str]) -> None:
    # Read, extended and replaced under a lock: specs hashed by several threads at once would
    # otherwise each write back what they read, losing the others' entries.
    with _INDEX_LOCK:
        entries = _read_index(cache_dir)
        for key in fresh:
            entries.pop(key, None)
        entries.update(fresh)
        kept = dict(list(entries.items())[-_INDEX_LIMIT:])
        write_json(cache_dir / _INDEX_NAME, {"version": _INDEX_VERSION, "entries": kept})


# ---- manifests --------------------------------------------------------------------------------


def manifest_json(tree_sha256: str, files: Sequence[WeightsFile]) -> bytes:
    """The manifest of a complete prefix: its tree digest and each file's digest and size."""
    body = {
        "format": MANIFEST_FORMAT,
        "tree": tree_sha256,
        "files": [{"path": f.path, "sha256": f.sha256, "size": f.size} for f in files],
    }
    return json.dumps(body, sort_keys=True, separators=(",", ":")).encode()


def parse_manifest(data: bytes) -> dict[str, tuple[str, int]] | None:
    """path -> (sha256, size) of a manifest, or None when it is not one this version wrote
    (a foreign or damaged object is never trusted as a copy source)."""
    try:
        body = json.loads(data)
    except ValueError:
        return None
    if not isinstance(body, dict) or body.get("format") != MANIFEST_FORMAT:
        return None
    files = body.get("files")
    if not isinstance(files, list):
        return None
    found: dict[str, tuple[str, int]] = {}
    for item in files:
        if not isinstance(item, dict):
            return None
        path, sha, size = item.get("path"), item.get("sha256"), item.get("size")
        if not isinstance(path, str) or not isinstance(sha, str) or not _SHA256_HEX.fullmatch(sha):
            return None
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            return None
        found[path] = (sha, size)
    rows = [WeightsFile(path=p, sha256=s, size=n, local_path="") for p, (s, n) in found.items()]
    if body.get("tree") != tree_digest(rows):
        return None
    return found


# ---- what to send -----------------------------------------------------------------------------


def plan_transfers(
    files: Sequence[WeightsFile],
    prefix: str,
    present: Mapping[str, tuple[int, str | None]],
    earlier: Sequence[tuple[str, Mapping[str, tuple[str, int]]]],
) -> tuple[Transfer, ...]:
    """Each file's transfer: see the module docstring. `present`: what the target prefix
    holds, by path (size, its sha256 metadata); `earlier`: (prefix, manifest) of earlier trees,
    newest first, whose files may be copied."""
    sources: dict[tuple[str, int], str] = {}
    for earlier_prefix, manifest in earlier:
        if earlier_prefix == prefix:
            continue
        for path, (sha, size) in sorted(manifest.items()):
            sources.setdefault((sha, size), earlier_prefix + path)
    out: list[Transfer] = []
    for item in sorted(files, key=lambda f: f.path):
        if present.get(item.path) == (item.size, item.sha256):
            out.append(Transfer(item.path, item.sha256, item.size, "present"))
        elif (item.sha256, item.size) in sources:
            source = sources[(item.sha256, item.size)]
            out.append(Transfer(item.path, item.sha256, item.size, "copy", source))
        else:
            out.append(Transfer(item.path, item.sha256, item.size, "upload"))
    return tuple(out)


def totals(transfers: Iterable[Transfer]) -> dict[str, dict[str, int]]:
    """Files and bytes per action."""
    found = {action: {"files": 0, "bytes": 0} for action in ("upload", "copy", "present")}
    for item in transfers:
        found[item.action]["files"] += 1
        found[item.action]["bytes"] += item.size
    return found


def size_text(size: int) -> str:
    value = float(size)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            break
        value /= 1000
    if unit == "GB" and size >= 1 << 30:
        return f"{size / (1 << 30):.1f} GiB"
    return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"


def summary(transfers: Sequence[Transfer]) -> str:
    """The transfers in words: uploads 3 files (12.0 MB), copies 40 (9.8 GiB) server-side."""
    count = totals(transfers)

    def files(n: int) -> str:
        return f"{n} file" + ("" if n == 1 else "s")

    parts = [f"uploads {files(count['upload']['files'])} ({size_text(count['upload']['bytes'])})"]
    if count["copy"]["files"]:
        parts.append(
            f"copies {count['copy']['files']} ({size_text(count['copy']['bytes'])}) server-side"
        )
    if count["present"]["files"]:
        parts.append(
            f"{count['present']['files']} already there ({size_text(count['present']['bytes'])})"
        )
    return ", ".join(parts)


def transfers_json(transfers: Sequence[Transfer], local: Mapping[str, str]) -> list[dict[str, Any]]:
    """The transfers as the plan's `after` holds them (with each upload's local file)."""
    out: list[dict[str, Any]] = []
    for item in transfers:
        row: dict[str, Any] = {
            "path": item.path,
            "sha256": item.sha256,
            "size": item.size,
            "action": item.action,
        }
        if item.source is not None:
            row["source"] = item.source
        if item.action == "upload":
            row["local_path"] = local[item.path]
        out.append(row)
    return out


def transfers_from_json(rows: Sequence[Mapping[str, Any]]) -> list[tuple[Transfer, str | None]]:
    """The inverse of transfers_json: each transfer and its local file (uploads only)."""
    try:
        return [
            (
                Transfer(
                    str(row["path"]),
                    str(row["sha256"]),
                    int(row["size"]),
                    row["action"],
                    row.get("source"),
                ),
                row.get("local_path"),
            )
            for row in rows
        ]
    except (KeyError, TypeError, ValueError) as exc:
        raise DeployspecError(
            f"the plan's weights transfers are not readable ({exc})",
            hint="make the plan again with this version of deployspec",
        ) from exc
