"""Parallel, deterministic gzip compression of one stream (pigz-style), for artifacts.py.

Contract: `GzipWriter(out, level=, workers=, compressor=)` receives an uncompressed stream
through `write` and `write_from`, and writes exactly one gzip member to `out`; `close()` returns
the sha256 of the uncompressed stream it received (the content's name: it does not depend on the
compressor) and the size of what it wrote. The bytes depend only on the input bytes, the level
and the compressor build (ISA-L, or zlib: zlib-ng and zlib emit different deflate streams for the
same input, and ISA-L may differ between CPU families), never on the worker count, thread
timing, clock or host: the header has mtime 0, no file name and OS 255. Memory stays bounded
(workers + 2 chunks in flight), whatever the stream length.

Compressors: "isal" (ISA-L through python-isal, a dependency) is the default when it imports,
else "zlib". On float32 weights ISA-L's level 1 codes about 8x faster than zlib's fastest
method below, at the same ratio; on text it is 3x faster than zlib's level 1 and smaller. It has
levels 0-3 only (its 0 is not "stored": it expands weights), so deployspec's 0-9 map to
`isal_level`: 0 stays stored (zlib), 1 is ISA-L 1, 2-5 ISA-L 2, 6-9 ISA-L 3 (on text, zlib 9's
ratio or better). Which compressor wrote an archive never matters to a reader: every gzip reader
decompresses both, to the same stream, so the same digest.

How: the input is cut into fixed CHUNK_SIZE chunks. Each chunk is compressed on a worker thread
(zlib and ISA-L release the GIL) as raw deflate, primed with the previous 32 KiB of input so
matches still reach across the boundary, and ended with a sync flush (byte-aligned, not final);
the last chunk ends with Z_FINISH. Their concatenation is one valid deflate stream, so any gzip
reader (`gzip -d`, GNU tar, Python's tarfile) sees an ordinary single-member file. The CRC-32
and the input's sha256 are computed in order on the calling thread.

Method per chunk: each chunk is sampled (4 x 16 KiB); when coding the sample saves under 2% the
chunk is stored (already-compressed data: compressing it costs a core and saves next to
nothing). With ISA-L the rest is coded at the mapped level. With zlib, weights (float32/16,
bf16, int8, close to random) get Huffman-only coding when it codes the sample at least as well
as level-1 LZ77: LZ77 matching costs most of zlib's time and gains nothing on them, and
Huffman-only is 2-3x faster and slightly smaller; other chunks get the requested level. The
choice is a function of the chunk's bytes, which keeps the output deterministic.
"""

from __future__ import annotations

import hashlib
import struct
import zlib
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from types import TracebackType
from typing import BinaryIO, Literal, Protocol

try:
    from isal import isal_zlib

    ISAL_AVAILABLE = True
except ImportError:  # a platform without a python-isal wheel: zlib still works, slower
    ISAL_AVAILABLE = False

Compressor = Literal["isal", "zlib"]
# Read when a GzipWriter is made without a compressor (the benchmark sets it to compare).
DEFAULT_COMPRESSOR: Compressor = "isal" if ISAL_AVAILABLE else "zlib"

# Part of the output format: changing it changes every digest (bump FORMAT_VERSION in artifacts).
CHUNK_SIZE = 4 << 20
_WINDOW = 32 << 10
# Larger Huffman blocks: about 10% faster and slightly smaller on weights than the default 8
# (zlib); larger hash buffers, a few % faster (ISA-L).
_MEM_LEVEL = 9
_SAMPLE_SIZE = 16 << 10
_SAMPLE_COUNT = 4
# Chunks whose sample coding saves under 2% (already compressed data: zip, jpeg, packed or
# quantized blobs) are stored: compressing them costs a core and saves next to nothing.
_STORE_ABOVE = 0.98
_OS_UNKNOWN = 255
# Same values as zlib.crc32, several times faster (it uses the CPU's carry-less multiply).
_crc32: Callable[[bytes | bytearray | memoryview, int], int] = (
    isal_zlib.crc32 if ISAL_AVAILABLE else zlib.crc32
)


class Readable(Protocol):
    def readinto(self, buffer: memoryview, /) -> int | None: ...


def gzip_header(level: int) -> bytes:
    # XFL only hints at the level (RFC 1952); a fixed function of it keeps the header stable.
    xfl = {1: 4, 9: 2}.get(level, 0)
    return b"\x1f\x8b\x08\x00" + b"\x00\x00\x00\x00" + bytes((xfl, _OS_UNKNOWN))


def isal_level(level: int) -> int:
    """ISA-L's level (1-3) for deployspec's level 1-9; see module docstring."""
    if not 1 <= level <= 9:
        raise ValueError(f"ISA-L codes levels 1-9 here, not {level}")
    return 1 if level == 1 else 2 if level <= 5 else 3


def _samples(data: memoryview) -> list[memoryview]:
    if len(data) <= _SAMPLE_SIZE * _SAMPLE_COUNT:
        return [data]
    step = (len(data) - _SAMPLE_SIZE) // (_SAMPLE_COUNT - 1)
    return [data[i * step : i * step + _SAMPLE_SIZE] for i in range(_SAMPLE_COUNT)]


def _coded_size(data: memoryview, level: int, strategy: int) -> int:
    compressor = zlib.compressobj(level, zlib.DEFLATED, -15, _MEM_LEVEL, strategy)
    return len(compressor.compress(data)) + len(compressor.flush())


def _isal_coded_size(data: memoryview) -> int:
    compressor = isal_zlib.compressobj(1, isal_zlib.DEFLATED, -15, _MEM_LEVEL)
    return len(compressor.compress(data)) + len(compressor.flush())


def choose_method(data: memoryview, level: int) -> tuple[int, int]:
    """zlib's (level, strategy) for one chunk, a function of its bytes only (module docstring)."""
    if level == 0 or not data:
        return level, zlib.Z_DEFAULT_STRATEGY
    samples = _samples(data)
    sampled = sum(len(s) for s in samples)
    huffman = sum(_coded_size(s, 1, zlib.Z_HUFFMAN_ONLY) for s in samples)
    if huffman >= sampled * _STORE_ABOVE:
        return 0, zlib.Z_DEFAULT_STRATEGY
    lz77 = sum(_coded_size(s, 1, zlib.Z_DEFAULT_STRATEGY) for s in samples)
    if huffman <= lz77:
        return level, zlib.Z_HUFFMAN_ONLY
    return level, zlib.Z_DEFAULT_STRATEGY


def isal_stores(data: memoryview) -> bool:
    """Whether the ISA-L path stores this chunk rather than coding it (module docstring)."""
    samples = _samples(data)
    return sum(_isal_coded_size(s) for s in samples) >= sum(len(s) for s in samples) * _STORE_ABOVE


def deflate_chunk(
    data: memoryview, previous: bytes, level: int, final: bool, compressor: Compressor = "zlib"
) -> bytes:
    """Raw deflate of one chunk; `previous` is the input just before it (the LZ77 window)."""
    flush = zlib.Z_FINISH if final else zlib.Z_SYNC_FLUSH
    if compressor == "isal":
        if level > 0 and data and not isal_stores(data):
            ilevel = isal_level(level)
            if previous:
                coder = isal_zlib.compressobj(
                    ilevel, isal_zlib.DEFLATED, -15, _MEM_LEVEL, zdict=previous
                )
            else:
                coder = isal_zlib.compressobj(ilevel, isal_zlib.DEFLATED, -15, _MEM_LEVEL)
            return coder.compress(data) + coder.flush(flush)
        # Stored chunks (level 0, incompressible data, the empty end): zlib's stored blocks.
        level, strategy = 0, zlib.Z_DEFAULT_STRATEGY
    else:
        level, strategy = choose_method(data, level)
    if previous:
        zcoder = zlib.compressobj(level, zlib.DEFLATED, -15, _MEM_LEVEL, strategy, zdict=previous)
    else:
        zcoder = zlib.compressobj(level, zlib.DEFLATED, -15, _MEM_LEVEL, strategy)
    return zcoder.compress(data) + zcoder.flush(flush)


class GzipWriter:
    """One gzip member written to `out`, compressed by `workers` threads; see module docstring."""

    def __init__(
        self,
        out: BinaryIO,
        *,
        level: int,
        workers: int,
        chunk_size: int = CHUNK_SIZE,
        compressor: Compressor | None = None,
    ) -> None:
        if not 0 <= level <= 9:
            raise ValueError(f"compression level must be 0-9, not {level}")
        if workers < 1:
            raise ValueError(f"workers must be at least 1, not {workers}")
        chosen = DEFAULT_COMPRESSOR if compressor is None else compressor
        if chosen not in ("isal", "zlib"):
            raise ValueError(f"compressor must be 'isal' or 'zlib', not {chosen!r}")
        if chosen == "isal" and not ISAL_AVAILABLE:
            raise ValueError("the isal compressor needs python-isal (pip install isal)")
        self._out = out
        self._level = level
        self._compressor: Compressor = chosen
        self._chunk_size = chunk_size
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="deflate")
        # Enough to keep every worker busy while the oldest result is written, and no more:
        # memory stays at about (workers + 3) chunks whatever the stream length.
        self._max_pending = workers + 2
        self._pending: deque[tuple[Future[bytes], bytearray]] = deque()
        # Chunk buffers come back once compressed: fresh 4 MiB allocations cost page faults.
        self._spare: list[bytearray] = []
        self._buffer = bytearray(chunk_size)
        self._fill = 0
        self._previous = b""
        self._crc = 0
        self._length = 0
        self._content_sha = hashlib.sha256()
        self._written = 0
        self._closed = False
        self._emit(gzip_header(level))

    @property
    def uncompressed_size(self) -> int:
        return self._length + self._fill

    @property
    def compressor(self) -> Compressor:
        return self._compressor

    def write(self, data: bytes | bytearray | memoryview) -> None:
        view = memoryview(data).cast("B")
        while view:
            take = min(len(view), self._chunk_size - self._fill)
            self._buffer[self._fill : self._fill + take] = view[:take]
            self._fill += take
            view = view[take:]
            if self._fill == self._chunk_size:
                self._submit(final=False)

    def write_from(self, source: Readable, count: int) -> int:
        """Copy up to `count` bytes from `source` straight into the chunk buffers.

        Returns how many bytes were copied; fewer than `count` means `source` ended early.
        """
        copied = 0
        while copied < count:
            want = min(self._chunk_size - self._fill, count - copied)
            got = source.readinto(memoryview(self._buffer)[self._fill : self._fill + want])
            if not got:
                break
            self._fill += got
            copied += got
            if self._fill == self._chunk_size:
                self._submit(final=False)
        return copied

    def close(self) -> tuple[str, int]:
        """Finish the stream; returns the sha256 hex of the input and the gzip bytes' size."""
        if self._closed:
            raise ValueError("GzipWriter already closed")
        self._submit(final=True)
        self._emit(struct.pack("<II", self._crc, self._length & 0xFFFFFFFF))
        self._closed = True
        self._pool.shutdown(wait=True)
        return self._content_sha.hexdigest(), self._written

    def abort(self) -> None:
        """Stop without finishing; pending chunks are dropped."""
        self._closed = True
        for future, _ in self._pending:
            future.cancel()
        self._pending.clear()
        self._pool.shutdown(wait=True, cancel_futures=True)

    def __enter__(self) -> GzipWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if not self._closed:
            self.abort()

    def _submit(self, *, final: bool) -> None:
        data = memoryview(self._buffer)[: self._fill]
        self._crc = _crc32(data, self._crc)
        self._content_sha.update(data)
        self._length += self._fill
        future = self._pool.submit(
            deflate_chunk, data, self._previous, self._level, final, compressor=self._compressor
        )
        self._pending.append((future, self._buffer))
        # The next chunk's window is the tail of the whole stream so far; it spans two chunks
        # only after a chunk shorter than the window, which can only be the last one.
        if len(data) >= _WINDOW:
            self._previous = bytes(data[-_WINDOW:])
        else:
            self._previous = (self._previous + bytes(data))[-_WINDOW:]
        # Another buffer, because the worker still reads this one.
        self._buffer = self._spare.pop() if self._spare else bytearray(self._chunk_size)
        self._fill = 0
        limit = 0 if final else self._max_pending
        while len(self._pending) > limit:
            done, buffer = self._pending.popleft()
            self._emit(done.result())
            self._spare.append(buffer)

    def _emit(self, data: bytes) -> None:
        self._out.write(data)
        self._written += len(data)
