"""deployspec.artifacts: layouts, determinism, the digest cache, safety checks, readability."""

from __future__ import annotations

import builtins
import gzip
import hashlib
import io
import os
import random
import shutil
import socket
import stat
import subprocess
import sys
import tarfile
import zlib
from array import array
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest

from deployspec import artifacts, artifacts_gzip
from deployspec.artifacts import (
    ArtifactError,
    ArtifactSource,
    Layout,
    PackagedArtifact,
    list_entries,
    package,
)
from deployspec.artifacts_gzip import Compressor, GzipWriter, choose_method, isal_level
from deployspec.errors import DeployspecError

FIXED_MTIME = 315532800


def make_tree(root: Path, files: Mapping[str, bytes | str]) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, str):
            path.write_text(content)
        else:
            path.write_bytes(content)
    return root


def names(source: ArtifactSource) -> list[str]:
    return [name for name, _ in list_entries(source)]


def members(archive: Path) -> dict[str, bytes | None]:
    """Archive contents read back with tarfile "r:gz": name -> bytes (None for folders)."""
    out: dict[str, bytes | None] = {}
    with tarfile.open(archive, "r:gz") as tar:
        for member in tar.getmembers():
            reader = tar.extractfile(member) if member.isreg() else None
            out[member.name] = reader.read() if reader else None
    return out


def flat(artifacts: Path, **code: Path) -> ArtifactSource:
    return ArtifactSource(Layout.FLAT, artifacts, code.get("entry_point"), code.get("source_dir"))


def tensorflow(artifacts: Path, entry_point: Path | None = None) -> ArtifactSource:
    return ArtifactSource(Layout.TENSORFLOW, artifacts, entry_point, None)


@pytest.fixture
def sklearn_project(tmp_path: Path) -> ArtifactSource:
    model = make_tree(tmp_path / "model", {"model.joblib": b"\x80\x04weights", "meta.json": "{}"})
    src = make_tree(
        tmp_path / "src",
        {"inference.py": "def model_fn(d):\n    return d\n", "requirements.txt": "numpy\n"},
    )
    return flat(model, entry_point=src / "inference.py", source_dir=src)


def savedmodel(root: Path) -> Path:
    return make_tree(
        root,
        {
            "saved_model.pb": b"pb",
            "variables/variables.index": b"idx",
            "variables/variables.data-00000-of-00001": b"data",
        },
    )


# --- layouts ------------------------------------------------------------------------------------


def test_flat_folder_with_code_in_source_dir(sklearn_project: ArtifactSource) -> None:
    assert names(sklearn_project) == [
        "code/",
        "code/inference.py",
        "code/requirements.txt",
        "meta.json",
        "model.joblib",
    ]


def test_list_entries_maps_names_to_files_on_disk(sklearn_project: ArtifactSource) -> None:
    entries = dict(list_entries(sklearn_project))
    assert entries["model.joblib"] == sklearn_project.artifacts / "model.joblib"
    assert entries["code/"] == sklearn_project.source_dir
    assert entries["code/inference.py"] == sklearn_project.entry_point


def test_flat_single_file_goes_at_the_root_under_its_name(tmp_path: Path) -> None:
    model = tmp_path / "model.joblib"
    model.write_bytes(b"weights")
    entry = make_tree(tmp_path / "code", {"inference.py": "x = 1\n"}) / "inference.py"
    source = flat(model, entry_point=entry)
    assert names(source) == ["code/", "code/inference.py", "model.joblib"]
    result = package(source, tmp_path / "cache")
    assert members(result.path) == {
        "code": None,
        "code/inference.py": b"x = 1\n",
        "model.joblib": b"weights",
    }


def test_entry_point_outside_source_dir_is_added_beside_it(tmp_path: Path) -> None:
    model = make_tree(tmp_path / "model", {"w.bin": b"w"})
    src = make_tree(tmp_path / "src", {"utils.py": "", "requirements.txt": "torch\n"})
    entry = make_tree(tmp_path / "elsewhere", {"serve.py": ""}) / "serve.py"
    source = flat(model, entry_point=entry, source_dir=src)
    assert names(source) == [
        "code/",
        "code/requirements.txt",
        "code/serve.py",
        "code/utils.py",
        "w.bin",
    ]


def test_entry_point_in_a_subfolder_of_source_dir_is_not_duplicated(tmp_path: Path) -> None:
    model = make_tree(tmp_path / "model", {"w.bin": b"w"})
    src = make_tree(tmp_path / "src", {"pkg/serve.py": "", "pkg/__init__.py": ""})
    source = flat(model, entry_point=src / "pkg" / "serve.py", source_dir=src)
    assert names(source) == [
        "code/",
        "code/pkg/",
        "code/pkg/__init__.py",
        "code/pkg/serve.py",
        "w.bin",
    ]


def test_bytecode_is_left_out_of_code(tmp_path: Path) -> None:
    model = make_tree(tmp_path / "model", {"w.bin": b"w", "__pycache__/kept.pyc": b"model's"})
    src = make_tree(
        tmp_path / "src",
        {"inference.py": "", "__pycache__/inference.cpython-311.pyc": b"\x00", "old.pyc": b""},
    )
    source = flat(model, entry_point=src / "inference.py", source_dir=src)
    assert names(source) == [
        "__pycache__/",
        "__pycache__/kept.pyc",
        "code/",
        "code/inference.py",
        "w.bin",
    ]


def test_tensorflow_numeric_folder_keeps_its_name(tmp_path: Path) -> None:
    model = savedmodel(tmp_path / "export" / "00002")
    entry = make_tree(tmp_path / "code", {"inference.py": ""}) / "inference.py"
    assert names(tensorflow(model, entry)) == [
        "00002/",
        "00002/saved_model.pb",
        "00002/variables/",
        "00002/variables/variables.data-00000-of-00001",
        "00002/variables/variables.index",
        "code/",
        "code/inference.py",
    ]


def test_tensorflow_saved_model_directly_goes_under_1(tmp_path: Path) -> None:
    model = savedmodel(tmp_path / "my_model")
    assert names(tensorflow(model)) == [
        "1/",
        "1/saved_model.pb",
        "1/variables/",
        "1/variables/variables.data-00000-of-00001",
        "1/variables/variables.index",
    ]


def test_tensorflow_version_folders_stay_at_the_root(tmp_path: Path) -> None:
    model = tmp_path / "model"
    savedmodel(model / "1")
    savedmodel(model / "2")
    make_tree(model, {"code/inference.py": "", "code/requirements.txt": "pillow\n"})
    listed = names(tensorflow(model))
    assert listed[:3] == ["1/", "1/saved_model.pb", "1/variables/"]
    assert "2/saved_model.pb" in listed
    assert listed[-3:] == ["code/", "code/inference.py", "code/requirements.txt"]


def test_tensorflow_numeric_folder_of_versions_is_not_wrapped(tmp_path: Path) -> None:
    model = tmp_path / "2024"
    savedmodel(model / "1")
    assert names(tensorflow(model))[:2] == ["1/", "1/saved_model.pb"]


def test_tensorflow_without_saved_model_is_an_error(tmp_path: Path) -> None:
    model = make_tree(tmp_path / "model", {"weights.h5": b"keras"})
    with pytest.raises(ArtifactError, match=r"not a TensorFlow SavedModel") as info:
        list_entries(tensorflow(model))
    assert str(model) in str(info.value)


def test_tensorflow_version_folder_without_saved_model_is_an_error(tmp_path: Path) -> None:
    model = tmp_path / "model"
    savedmodel(model / "1")
    make_tree(model, {"2/variables/variables.index": b""})
    with pytest.raises(ArtifactError, match=r"version folder 2/ .* holds no saved_model.pb"):
        list_entries(tensorflow(model))


def test_tensorflow_single_file_is_an_error(tmp_path: Path) -> None:
    model = tmp_path / "model.h5"
    model.write_bytes(b"")
    with pytest.raises(ArtifactError, match=r"SavedModel folder or a model.tar.gz"):
        list_entries(tensorflow(model))


# --- existing model archives ------------------------------------------------------------------


def write_archive(path: Path, entries: list[tuple[str, bytes | None, int]]) -> Path:
    """A deliberately messy archive: given order, odd owners and times."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(path, "w:gz") as tar:
        for name, data, mode in entries:
            info = tarfile.TarInfo(name)
            info.mode = mode
            info.mtime = random.randint(1, 2**31)
            info.uid, info.uname = 1234, "someone"
            if data is None:
                info.type = tarfile.DIRTYPE
                tar.addfile(info)
            else:
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    return path


def test_model_archive_is_repacked_like_the_equivalent_folder(tmp_path: Path) -> None:
    folder = make_tree(tmp_path / "model", {"model.pth": b"weights", "sub/vocab.txt": b"a b c"})
    (folder / "run.sh").write_bytes(b"#!/bin/sh\n")
    (folder / "run.sh").chmod(0o755)
    archive = write_archive(
        tmp_path / "model.tar.gz",
        [
            ("./sub/vocab.txt", b"a b c", 0o600),
            ("./model.pth", b"weights", 0o640),
            ("./run.sh", b"#!/bin/sh\n", 0o700),
        ],
    )
    entry = make_tree(tmp_path / "code", {"inference.py": ""}) / "inference.py"
    from_folder = package(flat(folder, entry_point=entry), tmp_path / "cache")
    from_archive = package(flat(archive, entry_point=entry), tmp_path / "cache")
    assert from_archive.sha256 == from_folder.sha256
    assert not from_archive.cached
    assert names(flat(archive)) == ["model.pth", "run.sh", "sub/", "sub/vocab.txt"]
    assert dict(list_entries(flat(archive)))["model.pth"] == archive


def test_model_archive_hard_links_are_resolved(tmp_path: Path) -> None:
    archive = tmp_path / "model.tgz"
    with tarfile.open(archive, "w:gz") as tar:
        data = b"shared"
        info = tarfile.TarInfo("a.bin")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
        link = tarfile.TarInfo("b.bin")
        link.type = tarfile.LNKTYPE
        link.linkname = "a.bin"
        tar.addfile(link)
    result = package(flat(archive), tmp_path / "cache")
    assert members(result.path) == {"a.bin": b"shared", "b.bin": b"shared"}


def test_tensorflow_archive_with_saved_model_at_the_root_goes_under_1(tmp_path: Path) -> None:
    archive = write_archive(
        tmp_path / "model.tar.gz",
        [("saved_model.pb", b"pb", 0o644), ("variables/variables.index", b"i", 0o644)],
    )
    assert names(tensorflow(archive)) == [
        "1/",
        "1/saved_model.pb",
        "1/variables/",
        "1/variables/variables.index",
    ]


@pytest.mark.parametrize(
    ("member", "message"),
    [
        ("/etc/passwd", "absolute path"),
        ("../escape.txt", "escapes the archive root"),
        ("ok/../../escape.txt", "escapes the archive root"),
    ],
)
def test_model_archive_unsafe_names_are_errors(tmp_path: Path, member: str, message: str) -> None:
    archive = write_archive(tmp_path / "model.tar.gz", [(member, b"x", 0o644)])
    with pytest.raises(ArtifactError, match=message):
        package(flat(archive), tmp_path / "cache")


def test_model_archive_symlink_member_is_an_error(tmp_path: Path) -> None:
    archive = tmp_path / "model.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        info = tarfile.TarInfo("weights.bin")
        info.type = tarfile.SYMTYPE
        info.linkname = "/data/weights.bin"
        tar.addfile(info)
    with pytest.raises(ArtifactError, match=r"symlink 'weights.bin'") as info_:
        package(flat(archive), tmp_path / "cache")
    assert info_.value.hint and "tar -h" in info_.value.hint


def test_corrupt_model_archive_is_an_error(tmp_path: Path) -> None:
    archive = tmp_path / "model.tar.gz"
    archive.write_bytes(b"this is not gzip")
    with pytest.raises(ArtifactError, match=r"cannot read model archive .*model.tar.gz"):
        package(flat(archive), tmp_path / "cache")
    assert not [p for p in (tmp_path / "cache").iterdir() if p.name.startswith(".")]


# --- determinism --------------------------------------------------------------------------------


def test_same_inputs_give_the_same_bytes(sklearn_project: ArtifactSource, tmp_path: Path) -> None:
    first = package(sklearn_project, tmp_path / "cache1")
    second = package(sklearn_project, tmp_path / "cache2")
    assert first.sha256 == second.sha256
    assert first.path.read_bytes() == second.path.read_bytes()
    assert first.size == first.path.stat().st_size


def test_digest_ignores_mtimes_owners_and_read_permissions(
    sklearn_project: ArtifactSource, tmp_path: Path
) -> None:
    before = package(sklearn_project, tmp_path / "cache")
    weights = sklearn_project.artifacts / "model.joblib"
    os.utime(weights, (1, 1))
    os.utime(sklearn_project.artifacts, (2, 2))
    weights.chmod(0o600)
    if os.geteuid() == 0:
        os.chown(weights, 4321, 4321)
    after = package(sklearn_project, tmp_path / "cache")
    assert not after.cached  # the fingerprint saw the change, yet the bytes are the same
    assert after.sha256 == before.sha256


def test_digest_ignores_creation_order(tmp_path: Path) -> None:
    files = {f"f{i}/{j}.txt": f"{i}-{j}" for i in range(5) for j in range(5)}
    shuffled = list(files.items())
    random.Random(7).shuffle(shuffled)
    a = make_tree(tmp_path / "a" / "model", files)
    b = make_tree(tmp_path / "b" / "model", dict(shuffled))
    assert package(flat(a), tmp_path / "c1").sha256 == package(flat(b), tmp_path / "c2").sha256


def test_digest_does_not_depend_on_worker_count(tmp_path: Path) -> None:
    model = make_tree(tmp_path / "model", {"w.bin": random.Random(1).randbytes(9 << 20)})
    one = package(flat(model), tmp_path / "c1", workers=1)
    three = package(flat(model), tmp_path / "c3", workers=3)
    assert one.sha256 == three.sha256
    assert one.path.read_bytes() == three.path.read_bytes()


# --- the digest names the content, not one compressor's output ---------------------------------


def test_digest_is_the_sha256_of_the_uncompressed_tar_stream(
    sklearn_project: ArtifactSource, tmp_path: Path
) -> None:
    result = package(sklearn_project, tmp_path / "cache")
    stream = gzip.decompress(result.path.read_bytes())
    assert result.sha256 == hashlib.sha256(stream).hexdigest()
    assert result.sha256 != hashlib.sha256(result.path.read_bytes()).hexdigest()
    assert result.path.name == f"{result.sha256}-{artifacts.DEFAULT_LEVEL}.tar.gz"


@pytest.fixture
def compressible_model(tmp_path: Path) -> Path:
    text = "".join(f"token_{i % 977}\t{i}\n" for i in range(150_000))
    return make_tree(
        tmp_path / "model",
        {"vocab.txt": text, "w.bin": random.Random(4).randbytes(1 << 20), "config.json": "{}"},
    )


@pytest.mark.parametrize("level", [0, 6, 9])
def test_digest_does_not_depend_on_the_compression_level(
    compressible_model: Path, tmp_path: Path, level: int
) -> None:
    fast = package(flat(compressible_model), tmp_path / "cache", level=1)
    other = package(flat(compressible_model), tmp_path / "cache", level=level)
    assert other.sha256 == fast.sha256
    assert other.path.read_bytes() != fast.path.read_bytes()
    assert gzip.decompress(other.path.read_bytes()) == gzip.decompress(fast.path.read_bytes())


def test_digest_does_not_depend_on_the_compressor(
    compressible_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ours = package(flat(compressible_model), tmp_path / "ours")

    # Another deflate implementation (as zlib-ng is to zlib): same input, other bytes.
    def other_deflate(
        data: memoryview, previous: bytes, level: int, final: bool, compressor: str = "zlib"
    ) -> bytes:
        coder = zlib.compressobj(9, zlib.DEFLATED, -15, 8, zlib.Z_FILTERED)
        return coder.compress(data) + coder.flush(zlib.Z_FINISH if final else zlib.Z_SYNC_FLUSH)

    monkeypatch.setattr(artifacts_gzip, "deflate_chunk", other_deflate)
    theirs = package(flat(compressible_model), tmp_path / "theirs")
    assert theirs.sha256 == ours.sha256
    assert theirs.path.read_bytes() != ours.path.read_bytes()
    artifacts.verify_archive(theirs.path, ours.sha256)


def test_the_same_stream_from_another_gzip_writer_verifies_under_the_same_name(
    compressible_model: Path, tmp_path: Path
) -> None:
    ours = package(flat(compressible_model), tmp_path / "cache")
    stream = gzip.decompress(ours.path.read_bytes())
    theirs = tmp_path / "python-gzip.tar.gz"
    theirs.write_bytes(gzip.compress(stream, compresslevel=5, mtime=123))
    assert theirs.read_bytes() != ours.path.read_bytes()
    artifacts.verify_archive(theirs, ours.sha256)


def test_one_changed_byte_changes_the_digest(
    sklearn_project: ArtifactSource, tmp_path: Path
) -> None:
    before = package(sklearn_project, tmp_path / "cache")
    weights = sklearn_project.artifacts / "model.joblib"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 1
    weights.write_bytes(bytes(data))
    after = package(sklearn_project, tmp_path / "cache")
    assert not after.cached
    assert after.sha256 != before.sha256


def test_executable_bit_is_kept_and_changes_the_digest(
    sklearn_project: ArtifactSource, tmp_path: Path
) -> None:
    before = package(sklearn_project, tmp_path / "cache")
    (sklearn_project.artifacts / "model.joblib").chmod(0o751)
    after = package(sklearn_project, tmp_path / "cache")
    assert after.sha256 != before.sha256
    with tarfile.open(after.path, "r:gz") as tar:
        assert tar.getmember("model.joblib").mode == 0o755


def test_headers_are_normalised(sklearn_project: ArtifactSource, tmp_path: Path) -> None:
    os.chmod(sklearn_project.artifacts / "meta.json", 0o600)
    result = package(sklearn_project, tmp_path / "cache")
    raw = result.path.read_bytes()
    assert raw[:4] == b"\x1f\x8b\x08\x00"  # deflate, no FNAME/FEXTRA/FCOMMENT
    assert raw[4:8] == b"\x00\x00\x00\x00"  # gzip mtime 0
    assert raw[9] == 255  # OS unknown
    with tarfile.open(result.path, "r:gz") as tar:
        assert tar.getnames()[0] == "code"  # folders come before their contents
        for member in tar.getmembers():
            assert (member.mtime, member.uid, member.gid) == (FIXED_MTIME, 0, 0)
            assert (member.uname, member.gname) == ("", "")
            assert member.mode == (0o755 if member.isdir() else 0o644)
    assert len(gzip.decompress(raw)) % tarfile.RECORDSIZE == 0


# --- readability by other tools -----------------------------------------------------------------


def mixed_model(root: Path) -> Path:
    """A few MB spanning several 4 MiB chunks: random weights and compressible text."""
    rng = random.Random(3)
    text = "".join(f"token_{i}\t{rng.random():.6f}\n" for i in range(200_000)).encode()
    return make_tree(
        root,
        {
            "a_vocab.txt": text,
            "b_weights.bin": rng.randbytes(5 << 20),
            "c_vocab_copy.txt": text,
            "config.json": '{"hidden": 64}',
        },
    )


@pytest.fixture(scope="module")
def mixed_archive(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, PackagedArtifact]:
    root = tmp_path_factory.mktemp("mixed")
    model = mixed_model(root / "model")
    return model, package(flat(model), root / "cache")


def test_multi_chunk_archive_reads_back_with_tarfile(
    mixed_archive: tuple[Path, PackagedArtifact],
) -> None:
    model, result = mixed_archive
    expected = {p.name: p.read_bytes() for p in model.iterdir()}
    assert members(result.path) == expected
    assert result.size < sum(len(v) for v in expected.values())  # text did compress


@pytest.mark.skipif(shutil.which("tar") is None, reason="GNU tar not installed")
def test_multi_chunk_archive_extracts_with_gnu_tar(
    mixed_archive: tuple[Path, PackagedArtifact], tmp_path: Path
) -> None:
    model, result = mixed_archive
    run = subprocess.run(
        ["tar", "xzf", str(result.path), "-C", str(tmp_path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    assert run.stderr == ""
    for path in model.iterdir():
        assert (tmp_path / path.name).read_bytes() == path.read_bytes()


@pytest.mark.skipif(shutil.which("gzip") is None, reason="gzip not installed")
def test_multi_chunk_archive_passes_gzip_integrity_check(
    mixed_archive: tuple[Path, PackagedArtifact],
) -> None:
    _, result = mixed_archive
    run = subprocess.run(["gzip", "-t", str(result.path)], capture_output=True, check=False)
    assert run.returncode == 0, run.stderr
    decompressed = subprocess.run(["gzip", "-dc", str(result.path)], capture_output=True)
    assert decompressed.stdout == gzip.decompress(result.path.read_bytes())


# --- the parallel gzip writer ------------------------------------------------------------------


def gzip_bytes(
    pieces: list[bytes],
    *,
    chunk_size: int,
    workers: int,
    level: int = 1,
    compressor: Compressor | None = None,
) -> bytes:
    out = io.BytesIO()
    with GzipWriter(
        out, level=level, workers=workers, chunk_size=chunk_size, compressor=compressor
    ) as writer:
        for index, piece in enumerate(pieces):
            if index % 2:
                assert writer.write_from(io.BytesIO(piece), len(piece)) == len(piece)
            else:
                writer.write(piece)
        sha256, size = writer.close()
    data = out.getvalue()
    assert size == len(data)
    # The digest names what went in, not one compressor's output.
    assert sha256 == hashlib.sha256(b"".join(pieces)).hexdigest()
    return data


@pytest.mark.parametrize("chunk_size", [1000, 40_000, 1 << 16])
def test_gzip_writer_round_trips_whatever_the_chunking(chunk_size: int) -> None:
    rng = random.Random(chunk_size)
    text = b"".join(b"line %d of a vocabulary\n" % (i % 97) for i in range(20_000))
    pieces = [text[:70_000], rng.randbytes(90_000), text, b"", rng.randbytes(5), text[:12_345]]
    expected = b"".join(pieces)
    one = gzip_bytes(pieces, chunk_size=chunk_size, workers=1)
    assert gzip.decompress(one) == expected
    assert gzip_bytes(pieces, chunk_size=chunk_size, workers=4) == one
    assert len(one) < len(expected)  # the text really was compressed across chunks


def test_chunk_method_follows_the_data() -> None:
    rng = random.Random(5)
    weights = array("f", (rng.gauss(0, 0.02) for _ in range(1 << 18))).tobytes()
    text = b"".join(b"%d: token_%d\n" % (i, rng.randrange(5000)) for i in range(60_000))
    assert choose_method(memoryview(weights), 6) == (6, zlib.Z_HUFFMAN_ONLY)
    assert choose_method(memoryview(rng.randbytes(1 << 20)), 6) == (0, zlib.Z_DEFAULT_STRATEGY)
    assert choose_method(memoryview(text), 6) == (6, zlib.Z_DEFAULT_STRATEGY)


def test_gzip_writer_handles_a_stream_ending_on_a_chunk_boundary() -> None:
    data = bytes(range(256)) * 16
    assert gzip.decompress(gzip_bytes([data], chunk_size=1024, workers=2)) == data
    assert gzip.decompress(gzip_bytes([], chunk_size=1024, workers=2)) == b""


def test_gzip_writer_level_0_stores() -> None:
    data = random.Random(0).randbytes(10_000)
    stored = gzip_bytes([data], chunk_size=4096, workers=2, level=0)
    assert gzip.decompress(stored) == data and len(stored) > len(data)


def test_gzip_writer_write_from_reports_a_short_source() -> None:
    with GzipWriter(io.BytesIO(), level=1, workers=1) as writer:
        assert writer.write_from(io.BytesIO(b"abc"), 10) == 3
        assert writer.uncompressed_size == 3


# --- ISA-L and zlib -----------------------------------------------------------------------------

needs_isal = pytest.mark.skipif(not artifacts_gzip.ISAL_AVAILABLE, reason="isal not installed")


def float_weights(count: int, seed: int) -> bytes:
    rng = random.Random(seed)
    return array("f", (rng.gauss(0, 0.02) for _ in range(count))).tobytes()


@needs_isal
def test_isal_is_the_default_compressor_when_it_imports() -> None:
    assert artifacts_gzip.DEFAULT_COMPRESSOR == "isal"
    with GzipWriter(io.BytesIO(), level=1, workers=1) as writer:
        assert writer.compressor == "isal"


@needs_isal
@pytest.mark.parametrize("level", [1, 6, 9])
def test_isal_and_zlib_give_the_same_stream_under_the_same_digest(level: int) -> None:
    rng = random.Random(level)
    text = b"".join(b"%d: token_%d\n" % (i, rng.randrange(5000)) for i in range(30_000))
    # Text, weights, incompressible bytes and a tail shorter than the window, across chunks.
    pieces = [text, float_weights(150_000, 1), rng.randbytes(200_000), text[:1000]]
    fast = gzip_bytes(pieces, chunk_size=1 << 17, workers=2, level=level, compressor="isal")
    slow = gzip_bytes(pieces, chunk_size=1 << 17, workers=2, level=level, compressor="zlib")
    assert fast != slow
    assert gzip.decompress(fast) == gzip.decompress(slow) == b"".join(pieces)
    # Deterministic whatever the worker count, as the zlib path is.
    single = gzip_bytes(pieces, chunk_size=1 << 17, workers=1, level=level, compressor="isal")
    assert single == fast
    assert len(fast) < len(b"".join(pieces))


@needs_isal
def test_isal_codes_weights_as_small_as_zlib_and_stores_random_bytes() -> None:
    weights = float_weights(1 << 18, 2)
    fast = gzip_bytes([weights], chunk_size=1 << 18, workers=2, compressor="isal")
    slow = gzip_bytes([weights], chunk_size=1 << 18, workers=2, compressor="zlib")
    assert len(fast) < len(weights) * 0.95
    assert len(fast) <= len(slow) * 1.01
    noise = random.Random(6).randbytes(1 << 20)
    stored = gzip_bytes([noise], chunk_size=1 << 18, workers=2, compressor="isal")
    # Stored blocks cost 5 bytes each (a chunk may take a few) plus the gzip framing.
    assert len(noise) < len(stored) < len(noise) + 200
    assert gzip.decompress(stored) == noise


def test_isal_levels_map_deployspec_levels() -> None:
    assert [isal_level(level) for level in range(1, 10)] == [1, 2, 2, 2, 2, 3, 3, 3, 3]
    with pytest.raises(ValueError, match="1-9"):
        isal_level(0)


@needs_isal
def test_an_archive_from_either_compressor_is_the_same_artifact(
    compressible_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = tmp_path / "cache"
    monkeypatch.setattr(artifacts_gzip, "DEFAULT_COMPRESSOR", "zlib")
    slow = package(flat(compressible_model), cache)
    zlib_bytes = slow.path.read_bytes()
    monkeypatch.setattr(artifacts_gzip, "DEFAULT_COMPRESSOR", "isal")
    # The cache keeps what zlib wrote (same content, same name), and it still verifies.
    again = package(flat(compressible_model), cache)
    assert again.cached and again.path == slow.path and again.path.read_bytes() == zlib_bytes
    artifacts.verify_archive(again.path, slow.sha256)
    fast = package(flat(compressible_model), tmp_path / "fresh")
    assert fast.sha256 == slow.sha256 and fast.path.name == slow.path.name
    assert fast.path.read_bytes() != zlib_bytes
    artifacts.verify_archive(fast.path, slow.sha256)
    assert members(fast.path) == members(slow.path)


def test_zlib_is_the_fallback_without_isal(compressible_model: Path, tmp_path: Path) -> None:
    # A fresh interpreter in which `import isal` fails, as on a platform without its wheel.
    script = (
        "import io, sys; sys.modules['isal'] = None\n"
        "from pathlib import Path\n"
        "from deployspec import artifacts_gzip\n"
        "from deployspec.artifacts import ArtifactSource, Layout, package\n"
        "assert artifacts_gzip.DEFAULT_COMPRESSOR == 'zlib', artifacts_gzip.DEFAULT_COMPRESSOR\n"
        "try:\n"
        "    artifacts_gzip.GzipWriter(io.BytesIO(), level=1, workers=1, compressor='isal')\n"
        "except ValueError as exc:\n"
        "    assert 'pip install isal' in str(exc)\n"
        "else:\n"
        "    raise AssertionError('isal accepted without isal')\n"
        "result = package(ArtifactSource(Layout.FLAT, Path(sys.argv[1])), Path(sys.argv[2]))\n"
        "print(result.sha256)\n"
    )
    run = subprocess.run(
        [sys.executable, "-c", script, str(compressible_model), str(tmp_path / "cache")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == package(flat(compressible_model), tmp_path / "ours").sha256


def test_gzip_writer_refuses_an_unknown_compressor() -> None:
    with pytest.raises(ValueError, match="'isal' or 'zlib'"):
        GzipWriter(io.BytesIO(), level=1, workers=1, compressor="brotli")  # type: ignore[arg-type]


# --- digest cache -------------------------------------------------------------------------------


@pytest.fixture
def forbid_reading(monkeypatch: pytest.MonkeyPatch) -> Callable[[Path], None]:
    """Make every way of opening files under a folder fail loudly."""

    def install(root: Path) -> None:
        def guard(path: Any) -> None:
            if isinstance(path, int):
                return
            if Path(os.fsdecode(path)).resolve().is_relative_to(root.resolve()):
                raise AssertionError(f"opened {path} on a cache hit")

        real_open, real_os_open, real_fileio = builtins.open, os.open, io.FileIO

        def guarded_open(file: Any, *args: Any, **kwargs: Any) -> Any:
            guard(file)
            return real_open(file, *args, **kwargs)

        def guarded_os_open(path: Any, *args: Any, **kwargs: Any) -> int:
            guard(path)
            return real_os_open(path, *args, **kwargs)

        class GuardedFileIO(real_fileio):  # type: ignore[misc,valid-type]
            def __init__(self, file: Any, *args: Any, **kwargs: Any) -> None:
                guard(file)
                super().__init__(file, *args, **kwargs)

        monkeypatch.setattr(builtins, "open", guarded_open)
        monkeypatch.setattr(io, "open", guarded_open)
        monkeypatch.setattr(os, "open", guarded_os_open)
        monkeypatch.setattr(io, "FileIO", GuardedFileIO)

    return install


def test_unchanged_source_comes_from_the_cache_without_reading_files(
    tmp_path: Path, forbid_reading: Callable[[Path], None]
) -> None:
    model = make_tree(tmp_path / "model", {"w.bin": b"w" * 1000, "sub/x.txt": "x"})
    src = make_tree(tmp_path / "src", {"inference.py": ""})
    source = flat(model, entry_point=src / "inference.py", source_dir=src)
    first = package(source, tmp_path / "cache")
    forbid_reading(tmp_path / "model")
    forbid_reading(tmp_path / "src")
    second = package(source, tmp_path / "cache")
    assert second == PackagedArtifact(first.sha256, first.size, first.path, cached=True)


def test_the_guard_does_catch_reads(tmp_path: Path, forbid_reading: Callable[[Path], None]) -> None:
    model = make_tree(tmp_path / "model", {"w.bin": b"w"})
    forbid_reading(model)
    with pytest.raises(AssertionError, match="on a cache hit"):
        package(flat(model), tmp_path / "cache")


def test_model_archive_comes_from_the_cache_without_reading_it(
    tmp_path: Path, forbid_reading: Callable[[Path], None]
) -> None:
    archive = write_archive(tmp_path / "in" / "model.tar.gz", [("w.bin", b"w", 0o644)])
    first = package(flat(archive), tmp_path / "cache")
    forbid_reading(tmp_path / "in")
    assert package(flat(archive), tmp_path / "cache").cached
    assert first.path.exists()


def test_cache_misses_when_a_file_is_added(sklearn_project: ArtifactSource, tmp_path: Path) -> None:
    before = package(sklearn_project, tmp_path / "cache")
    (sklearn_project.artifacts / "extra.txt").write_text("new")
    after = package(sklearn_project, tmp_path / "cache")
    assert not after.cached and after.sha256 != before.sha256
    assert {before.path.name, after.path.name} <= {p.name for p in (tmp_path / "cache").iterdir()}


def test_cache_misses_when_the_level_changes(tmp_path: Path) -> None:
    model = make_tree(tmp_path / "model", {"vocab.txt": "the same words again " * 5000})
    fast = package(flat(model), tmp_path / "cache", level=1)
    small = package(flat(model), tmp_path / "cache", level=9)
    # Other bytes, the same content: the same name, in a file of its own.
    assert not small.cached and small.sha256 == fast.sha256
    assert small.path != fast.path and small.path.read_bytes() != fast.path.read_bytes()
    assert package(flat(model), tmp_path / "cache", level=1) == PackagedArtifact(
        fast.sha256, fast.size, fast.path, cached=True
    )


def test_deleted_cached_archive_is_rebuilt(sklearn_project: ArtifactSource, tmp_path: Path) -> None:
    first = package(sklearn_project, tmp_path / "cache")
    first.path.unlink()
    again = package(sklearn_project, tmp_path / "cache")
    assert not again.cached and again.sha256 == first.sha256 and again.path.exists()


@pytest.mark.parametrize(
    "index",
    [b"{not json", b"[]", b'{"version": 1, "entries": {"k": {"sha256": "../x", "size": 1}}}', b""],
)
def test_corrupt_index_is_ignored_and_replaced(
    sklearn_project: ArtifactSource, tmp_path: Path, index: bytes
) -> None:
    cache = tmp_path / "cache"
    first = package(sklearn_project, cache)
    (cache / "index.json").write_bytes(index)
    again = package(sklearn_project, cache)
    assert not again.cached and again.sha256 == first.sha256
    assert package(sklearn_project, cache).cached


def test_no_temporary_files_are_left_behind(
    sklearn_project: ArtifactSource, tmp_path: Path
) -> None:
    package(sklearn_project, tmp_path / "cache")
    leftovers = [p.name for p in (tmp_path / "cache").iterdir() if p.name.startswith(".")]
    assert leftovers == []


# --- errors -------------------------------------------------------------------------------------


def test_errors_are_deployspec_errors() -> None:
    assert issubclass(ArtifactError, DeployspecError)


@pytest.mark.parametrize("role", ["artifacts", "entry_point", "source_dir"])
def test_missing_paths_are_named(tmp_path: Path, role: str) -> None:
    model = make_tree(tmp_path / "model", {"w.bin": b"w"})
    missing = tmp_path / "nowhere" / "thing.py"
    paths: dict[str, Path | None] = {"artifacts": model, "entry_point": None, "source_dir": None}
    paths[role] = missing
    source = ArtifactSource(Layout.FLAT, **paths)  # type: ignore[arg-type]
    with pytest.raises(ArtifactError, match=rf"{role} {missing} does not exist"):
        package(source, tmp_path / "cache")


def test_entry_point_must_be_a_python_file(tmp_path: Path) -> None:
    model = make_tree(tmp_path / "model", {"w.bin": b"w"})
    script = make_tree(tmp_path / "code", {"serve.sh": ""}) / "serve.sh"
    with pytest.raises(ArtifactError, match=r"serve.sh is not a .py file"):
        list_entries(flat(model, entry_point=script))
    with pytest.raises(ArtifactError, match=r"is not a file"):
        list_entries(flat(model, entry_point=tmp_path / "code"))


def test_source_dir_must_be_a_folder(tmp_path: Path) -> None:
    model = make_tree(tmp_path / "model", {"w.bin": b"w"})
    with pytest.raises(ArtifactError, match=r"source_dir .*w.bin is not a folder"):
        list_entries(flat(model, source_dir=model / "w.bin"))


def test_empty_artifacts_folder_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "model" / "empty").mkdir(parents=True)
    with pytest.raises(ArtifactError, match=r"holds no files"):
        package(flat(tmp_path / "model"), tmp_path / "cache")


def test_entry_point_clashing_with_source_dir_is_an_error(tmp_path: Path) -> None:
    model = make_tree(tmp_path / "model", {"w.bin": b"w"})
    src = make_tree(tmp_path / "src", {"inference.py": "a"})
    other = make_tree(tmp_path / "other", {"inference.py": "b"}) / "inference.py"
    with pytest.raises(ArtifactError, match=r"two sources for 'code/inference.py'") as info:
        list_entries(flat(model, entry_point=other, source_dir=src))
    assert str(other) in str(info.value) and str(src / "inference.py") in str(info.value)


def test_code_inside_artifacts_clashing_with_entry_point_is_an_error(tmp_path: Path) -> None:
    model = make_tree(tmp_path / "model", {"w.bin": b"w", "code/inference.py": "old"})
    entry = make_tree(tmp_path / "src", {"inference.py": "new"}) / "inference.py"
    with pytest.raises(ArtifactError, match=r"two sources for 'code/inference.py'"):
        package(flat(model, entry_point=entry), tmp_path / "cache")


def test_file_named_like_the_code_folder_is_an_error(tmp_path: Path) -> None:
    model = make_tree(tmp_path / "model", {"w.bin": b"w", "code": "a file"})
    entry = make_tree(tmp_path / "src", {"inference.py": ""}) / "inference.py"
    with pytest.raises(ArtifactError, match=r"two sources for 'code'"):
        list_entries(flat(model, entry_point=entry))


def test_symlink_outside_the_folder_is_an_error(tmp_path: Path) -> None:
    secret = make_tree(tmp_path / "outside", {"secret.txt": "s"}) / "secret.txt"
    model = make_tree(tmp_path / "model", {"w.bin": b"w"})
    (model / "leak.txt").symlink_to(secret)
    with pytest.raises(ArtifactError, match=r"symlink .*leak.txt points outside") as info:
        package(flat(model), tmp_path / "cache")
    assert str(model / "leak.txt") in str(info.value)


def test_symlinked_folder_outside_source_dir_is_an_error(tmp_path: Path) -> None:
    model = make_tree(tmp_path / "model", {"w.bin": b"w"})
    src = make_tree(tmp_path / "src", {"inference.py": ""})
    (src / "lib").symlink_to(tmp_path / "model", target_is_directory=True)
    with pytest.raises(ArtifactError, match=r"symlink .*lib points outside the source_dir folder"):
        list_entries(flat(model, source_dir=src))


def test_symlinks_inside_the_folder_are_stored_as_content(tmp_path: Path) -> None:
    model = make_tree(tmp_path / "model", {"blobs/abc": b"weights", "real/x.txt": "x"})
    (model / "model.bin").symlink_to("blobs/abc")
    (model / "alias").symlink_to("real", target_is_directory=True)
    result = package(flat(model), tmp_path / "cache")
    assert members(result.path) == {
        "alias": None,
        "alias/x.txt": b"x",
        "blobs": None,
        "blobs/abc": b"weights",
        "model.bin": b"weights",
        "real": None,
        "real/x.txt": b"x",
    }
    with tarfile.open(result.path, "r:gz") as tar:
        assert all(m.isreg() or m.isdir() for m in tar.getmembers())


def test_retargeted_symlink_misses_the_cache(tmp_path: Path) -> None:
    model = make_tree(tmp_path / "model", {"a.bin": b"AAAA", "b.bin": b"BBBB"})
    link = model / "current.bin"
    link.symlink_to("a.bin")
    first = package(flat(model), tmp_path / "cache")
    link.unlink()
    link.symlink_to("b.bin")
    second = package(flat(model), tmp_path / "cache")
    assert not second.cached and second.sha256 != first.sha256


def test_broken_symlink_is_an_error(tmp_path: Path) -> None:
    model = make_tree(tmp_path / "model", {"w.bin": b"w"})
    (model / "gone.bin").symlink_to("missing.bin")
    with pytest.raises(
        ArtifactError, match=r"gone.bin points to missing.bin, which does not exist"
    ):
        list_entries(flat(model))


def test_symlink_loop_is_an_error(tmp_path: Path) -> None:
    model = make_tree(tmp_path / "model", {"w.bin": b"w", "a/x": b"x"})
    (model / "a" / "up").symlink_to("..", target_is_directory=True)
    with pytest.raises(ArtifactError, match=r"symlink .*up makes a loop"):
        list_entries(flat(model))


def test_fifo_is_an_error(tmp_path: Path) -> None:
    model = make_tree(tmp_path / "model", {"w.bin": b"w"})
    os.mkfifo(model / "pipe")
    with pytest.raises(ArtifactError, match=r"pipe is a named pipe \(FIFO\)"):
        package(flat(model), tmp_path / "cache")


def test_socket_is_an_error(tmp_path: Path) -> None:
    model = make_tree(tmp_path / "model", {"w.bin": b"w"})
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(model / "s.sock"))
        with pytest.raises(ArtifactError, match=r"s.sock is a socket"):
            list_entries(flat(model))


def test_device_is_an_error(tmp_path: Path) -> None:
    model = make_tree(tmp_path / "model", {"w.bin": b"w"})
    try:
        os.mknod(model / "null", 0o600 | stat.S_IFCHR, os.makedev(1, 3))
    except PermissionError:
        pytest.skip("creating device nodes needs CAP_MKNOD")
    with pytest.raises(ArtifactError, match=r"null is a device"):
        list_entries(flat(model))


def test_unreadable_file_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    model = make_tree(tmp_path / "model", {"w.bin": b"w", "locked.bin": b"l"})
    locked = model / "locked.bin"
    real_fileio = io.FileIO

    # Root reads everything, so the refusal is simulated where the kernel would give it.
    class Refusing(real_fileio):  # type: ignore[misc,valid-type]
        def __init__(self, file: Any, *args: Any, **kwargs: Any) -> None:
            if Path(file) == locked:
                raise PermissionError(13, "Permission denied", str(file))
            super().__init__(file, *args, **kwargs)

    monkeypatch.setattr(io, "FileIO", Refusing)
    with pytest.raises(ArtifactError, match=rf"cannot read {locked}: Permission denied"):
        package(flat(model), tmp_path / "cache")
    assert not [p for p in (tmp_path / "cache").iterdir() if p.name.startswith(".")]


@pytest.mark.skipif(os.geteuid() == 0, reason="root can read any file")
def test_unreadable_file_is_named_for_real(tmp_path: Path) -> None:
    model = make_tree(tmp_path / "model", {"w.bin": b"w"})
    (model / "w.bin").chmod(0)
    with pytest.raises(ArtifactError, match=r"cannot read .*w.bin: Permission denied"):
        package(flat(model), tmp_path / "cache")


def test_file_changing_during_packaging_is_an_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = make_tree(tmp_path / "model", {"w.bin": b"w" * 100})
    real_lookup = artifacts._lookup

    def lookup_then_grow(cache_dir: Path, key: str, level: int) -> PackagedArtifact | None:
        with (model / "w.bin").open("ab") as handle:  # a download still in progress
            handle.write(b"more")
        return real_lookup(cache_dir, key, level)

    monkeypatch.setattr(artifacts, "_lookup", lookup_then_grow)
    with pytest.raises(ArtifactError, match=r"w.bin changed while it was being packaged"):
        package(flat(model), tmp_path / "cache")


def test_non_utf8_file_name_is_an_error(tmp_path: Path) -> None:
    model = make_tree(tmp_path / "model", {"w.bin": b"w"})
    try:
        fd = os.open(os.fsencode(model) + b"/\xff.bin", os.O_CREAT | os.O_WRONLY)
    except OSError:
        pytest.skip("file system rejects non-UTF-8 names")
    os.close(fd)
    with pytest.raises(ArtifactError, match=r"is not valid UTF-8"):
        list_entries(flat(model))


def test_cache_inside_the_artifacts_folder_is_an_error(tmp_path: Path) -> None:
    model = make_tree(tmp_path / "model", {"w.bin": b"w"})
    with pytest.raises(ArtifactError, match=r"cache .* is inside the artifacts folder"):
        package(flat(model), model / ".cache")


def test_unwritable_cache_is_an_error(tmp_path: Path) -> None:
    model = make_tree(tmp_path / "model", {"w.bin": b"w"})
    blocker = tmp_path / "cache"
    blocker.write_text("a file where the cache folder should be")
    with pytest.raises(ArtifactError, match=r"cannot write to the artifact cache"):
        package(flat(model), blocker / "sub")


@pytest.mark.parametrize(("level", "workers"), [(-1, None), (10, None), (1, 0)])
def test_bad_level_or_workers_is_an_error(
    sklearn_project: ArtifactSource, tmp_path: Path, level: int, workers: int | None
) -> None:
    with pytest.raises(ArtifactError, match=r"level|workers"):
        package(sklearn_project, tmp_path / "cache", level=level, workers=workers)
