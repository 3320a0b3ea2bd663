"""Model archives and the cache as untrusted bytes (issue 9.10): bombs, corruption, rewrites."""

from __future__ import annotations

import gzip
import io
import os
import tarfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

import pytest

from deployspec import artifacts
from deployspec.applier import Applier, Event
from deployspec.artifacts import (
    ARCHIVE_RATIO_FREE_BYTES,
    MAX_ARCHIVE_RATIO,
    ArtifactError,
    ArtifactSource,
    Layout,
    PackagedArtifact,
    list_entries,
    package,
    verify_archive,
)
from deployspec.errors import ApplyError
from deployspec.plan import Action, Change, Kind, Plan

MIB = 1 << 20


def flat(path: Path) -> ArtifactSource:
    return ArtifactSource(Layout.FLAT, path)


def zeros_member(size: int) -> bytes:
    """One gzip member of `size` zero bytes (gzip readers read members one after another)."""
    return gzip.compress(bytes(size), 9)


def gzip_bomb(path: Path, expanded: int) -> Path:
    """A tar.gz of one file of `expanded` zero bytes, written without ever holding it."""
    info = tarfile.TarInfo("zeros.bin")
    info.size = expanded
    block = zeros_member(16 * MIB)
    with path.open("wb") as out:
        out.write(gzip.compress(info.tobuf(tarfile.PAX_FORMAT)))
        for _ in range(expanded // (16 * MIB)):
            out.write(block)
        out.write(gzip.compress(bytes(2 * tarfile.BLOCKSIZE)))
    return path


@pytest.fixture
def no_extraction(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail the test if any archive member is copied out (the bomb must be refused first)."""

    def forbidden(*args: object) -> None:
        raise AssertionError("a member was extracted")

    monkeypatch.setattr(artifacts, "_extract_member", forbidden)


# --- (a) gzip bombs ---------------------------------------------------------------------------


def test_a_2_mb_archive_expanding_to_2_gib_is_refused_before_extraction(
    tmp_path: Path, no_extraction: None
) -> None:
    bomb = gzip_bomb(tmp_path / "model.tar.gz", 2 << 30)
    assert bomb.stat().st_size < 3 * MIB
    with pytest.raises(ArtifactError, match=r"model archive .*model.tar.gz expands to more than"):
        package(flat(bomb), tmp_path / "cache")
    with pytest.raises(ArtifactError, match=rf"a ratio over {MAX_ARCHIVE_RATIO}:1") as caught:
        list_entries(flat(bomb))
    assert caught.value.hint and "point artifacts at the folder" in caught.value.hint
    assert [p.name for p in (tmp_path / "cache").iterdir()] == []  # no scratch left behind


def test_a_small_very_compressible_archive_is_fine(tmp_path: Path) -> None:
    # Under ARCHIVE_RATIO_FREE_BYTES any ratio is allowed: 8 MiB of zeros is ~1000:1.
    archive = tmp_path / "model.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        info = tarfile.TarInfo("padding.bin")
        info.size = 8 * MIB
        tar.addfile(info, io.BytesIO(bytes(info.size)))
    assert info.size < ARCHIVE_RATIO_FREE_BYTES
    assert archive.stat().st_size * MAX_ARCHIVE_RATIO < info.size
    result = package(flat(archive), tmp_path / "cache")
    with tarfile.open(result.path, "r:gz") as tar:
        assert tar.getmember("padding.bin").size == 8 * MIB


def test_hard_links_count_as_the_copies_they_become(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(artifacts, "ARCHIVE_RATIO_FREE_BYTES", 2 * MIB)
    archive = tmp_path / "model.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        info = tarfile.TarInfo("w.bin")
        info.size = MIB
        tar.addfile(info, io.BytesIO(bytes(MIB)))
        for index in range(5):
            link = tarfile.TarInfo(f"copy{index}.bin")
            link.type = tarfile.LNKTYPE
            link.linkname = "w.bin"
            tar.addfile(link)
    with pytest.raises(ArtifactError, match="expands to more than 2 MiB from"):
        package(flat(archive), tmp_path / "cache")


def test_oversized_pax_header_is_refused_before_it_is_read(
    tmp_path: Path, no_extraction: None
) -> None:
    # tarfile reads a pax header whole into memory: a 2 GiB one would be read before any member.
    header = tarfile.TarInfo("././@PaxHeader")
    header.type = tarfile.XHDTYPE
    header.size = 2 << 30
    bomb = tmp_path / "model.tar.gz"
    block = zeros_member(16 * MIB)
    with bomb.open("wb") as out:
        out.write(gzip.compress(header.tobuf(tarfile.USTAR_FORMAT)))
        for _ in range(128):
            out.write(block)
    with pytest.raises(ArtifactError, match=r"holds a tar header claiming 2,147,483,648 bytes"):
        package(flat(bomb), tmp_path / "cache")


def test_the_decompressed_stream_itself_is_capped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Headers (pax records under the per-header cap) expand without any member size to count.
    monkeypatch.setattr(artifacts, "ARCHIVE_RATIO_FREE_BYTES", 2 * MIB)
    archive = tmp_path / "model.tar.gz"
    with tarfile.open(archive, "w:gz", format=tarfile.PAX_FORMAT) as tar:
        for index in range(4):
            info = tarfile.TarInfo(f"f{index}.txt")
            info.pax_headers = {"comment": "a" * 900_000}
            info.size = 1
            tar.addfile(info, io.BytesIO(b"x"))
    with pytest.raises(ArtifactError, match=r"expands to more than"):
        list_entries(flat(archive))


def test_member_count_is_capped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(artifacts, "MAX_ARCHIVE_MEMBERS", 5)
    archive = tmp_path / "model.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        for index in range(6):
            info = tarfile.TarInfo(f"f{index}.txt")
            tar.addfile(info, io.BytesIO(b""))
    with pytest.raises(ArtifactError, match=r"holds more than 5 members"):
        list_entries(flat(archive))


def test_absolute_expansion_cap(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_extraction: None
) -> None:
    monkeypatch.setattr(artifacts, "MAX_ARCHIVE_RATIO", 1_000_000)
    monkeypatch.setattr(artifacts, "MAX_ARCHIVE_EXPANDED_BYTES", 64 * MIB)
    bomb = gzip_bomb(tmp_path / "model.tar.gz", 128 * MIB)
    with pytest.raises(ArtifactError, match=r"more than 64 MiB, the largest volume"):
        list_entries(flat(bomb))


# --- (b) what the cache holds is checked before it is uploaded -----------------------------------


def packaged_model(tmp_path: Path) -> PackagedArtifact:
    model = tmp_path / "model"
    model.mkdir()
    (model / "w.bin").write_bytes(os.urandom(300_000))
    (model / "vocab.txt").write_text("token\n" * 50_000)
    return package(flat(model), tmp_path / "cache")


def flip_two_bytes(path: Path) -> None:
    data = bytearray(path.read_bytes())
    middle = len(data) // 2
    data[middle] ^= 0xFF
    data[middle + 1] ^= 0xFF
    path.write_bytes(bytes(data))


def test_a_fresh_archive_verifies(tmp_path: Path) -> None:
    result = packaged_model(tmp_path)
    verify_archive(result.path, result.sha256)
    assert result.path.exists()


def test_two_changed_bytes_in_the_cache_are_caught_and_the_copy_dropped(tmp_path: Path) -> None:
    result = packaged_model(tmp_path)
    flip_two_bytes(result.path)
    # The cache still trusts it by its size...
    again = package(flat(tmp_path / "model"), tmp_path / "cache")
    assert again.cached and again.path == result.path
    # ... verification does not, and removes it so that the next run repackages.
    with pytest.raises(ArtifactError, match=r"no longer matches its digest") as caught:
        verify_archive(result.path, result.sha256)
    assert caught.value.hint and "run plan again" in caught.value.hint
    assert not result.path.exists()
    rebuilt = package(flat(tmp_path / "model"), tmp_path / "cache")
    assert not rebuilt.cached and rebuilt.sha256 == result.sha256
    verify_archive(rebuilt.path, rebuilt.sha256)


def test_a_valid_gzip_of_other_content_is_caught(tmp_path: Path) -> None:
    result = packaged_model(tmp_path)
    result.path.write_bytes(gzip.compress(b"something else entirely"))
    with pytest.raises(
        ArtifactError, match=rf"content's sha256 is [0-9a-f]{{64}}, not {result.sha256}"
    ):
        verify_archive(result.path, result.sha256)


class RecordingGateway:
    def __init__(self) -> None:
        self.uploads: list[tuple[Path, str]] = []

    def abort_incomplete_uploads(self, uri: str) -> int:
        return 0

    def upload_file(self, path: Path, uri: str, progress: Callable[[int], None]) -> None:
        self.uploads.append((path, uri))
        progress(path.stat().st_size)


def upload_change(result: PackagedArtifact) -> tuple[Change, Plan]:
    uri = f"s3://bucket/deployspec/iris/{result.sha256}/model.tar.gz"
    after = {
        "sha256": result.sha256,
        "size": result.size,
        "local_path": str(result.path),
        "s3_uri": uri,
        "exists": False,
    }
    change = Change(kind=Kind.ARTIFACT, name=uri, action=Action.CREATE, before=None, after=after)
    plan = Plan(
        spec_name="iris",
        endpoint_name="iris",
        region="us-east-1",
        account="123456789012",
        changes=(change,),
        fingerprint={},
    )
    return change, plan


def test_apply_refuses_to_upload_a_corrupted_cached_archive(tmp_path: Path) -> None:
    result = packaged_model(tmp_path)
    gateway = RecordingGateway()
    applier = Applier(cast(Any, gateway))
    change, plan = upload_change(result)
    events: list[Event] = []
    applier._upload(change, plan, events.append)
    assert gateway.uploads == [(result.path, change.name)]

    flip_two_bytes(result.path)
    with pytest.raises(ApplyError, match=r"no longer matches its digest"):
        applier._upload(change, plan, events.append)
    assert len(gateway.uploads) == 1  # nothing sent under the wrong name


# --- (c) rewrites that put the mtime back --------------------------------------------------------


def rewrite_keeping_mtime(path: Path, data: bytes) -> None:
    before = path.stat()
    # ctime has the kernel's coarse clock: let it move on, as it would for a real rewrite.
    time.sleep(0.05)
    with path.open("r+b") as handle:
        handle.write(data)
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    after = path.stat()
    assert (after.st_size, after.st_mtime_ns, after.st_ino) == (
        before.st_size,
        before.st_mtime_ns,
        before.st_ino,
    )


def test_same_size_rewrite_with_mtime_restored_during_packaging_is_caught(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = tmp_path / "model"
    model.mkdir()
    weights = model / "w.bin"
    weights.write_bytes(b"a" * 1000)
    real_lookup = artifacts._lookup

    def lookup_then_rewrite(cache_dir: Path, key: str, level: int) -> PackagedArtifact | None:
        rewrite_keeping_mtime(weights, b"b" * 1000)  # after the listing, before the read
        return real_lookup(cache_dir, key, level)

    monkeypatch.setattr(artifacts, "_lookup", lookup_then_rewrite)
    with pytest.raises(ArtifactError, match=r"w.bin changed while it was being packaged"):
        package(flat(model), tmp_path / "cache")


def test_same_size_rewrite_with_mtime_restored_after_packaging_misses_the_cache(
    tmp_path: Path,
) -> None:
    model = tmp_path / "model"
    model.mkdir()
    (model / "w.bin").write_bytes(b"a" * 1000)
    first = package(flat(model), tmp_path / "cache")
    rewrite_keeping_mtime(model / "w.bin", b"b" * 1000)
    second = package(flat(model), tmp_path / "cache")
    assert not second.cached and second.sha256 != first.sha256


def test_model_archive_rewritten_while_it_is_unpacked_is_caught(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    archive = tmp_path / "model.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        for name in ("a.bin", "b.bin"):
            info = tarfile.TarInfo(name)
            info.size = 3
            tar.addfile(info, io.BytesIO(b"abc"))
    real_extract = artifacts._extract_member

    def extract_then_rewrite(*args: Any) -> Any:
        rewrite_keeping_mtime(archive, archive.read_bytes())  # same bytes, yet a rewrite
        return real_extract(*args)

    monkeypatch.setattr(artifacts, "_extract_member", extract_then_rewrite)
    with pytest.raises(ArtifactError, match=r"model.tar.gz changed while it was being packaged"):
        package(flat(archive), tmp_path / "cache")
