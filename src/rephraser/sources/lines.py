"""Stream the raw byte lines of a plain, gzip or zstd file, numbered from 1.

Decompression is done by hand with incremental decompressor objects instead of `gzip.open` /
`zstandard.stream_reader`: those can end silently on a truncated stream (zstd does), and a truncated
download must be an error that names the file and the last line read, not a quietly shorter dataset.
Multi-member gzip and multi-frame zstd files (what parallel compressors write) are handled.
The compression is taken from the file's magic bytes, so a misnamed file still reads correctly.
"""

from __future__ import annotations

import itertools
import zlib
from collections.abc import Callable, Iterator
from typing import Any

from rephraser import storage
from rephraser.errors import SourceError
from rephraser.storage import Location

CHUNK = 1 << 20
_GZIP_MAGIC = b"\x1f\x8b"
_ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
_PARQUET_MAGIC = b"PAR1"


def _compression(path: Location, head: bytes) -> str:
    if head.startswith(_GZIP_MAGIC):
        return "gzip"
    if head.startswith(_ZSTD_MAGIC):
        return "zstd"
    low = path.name.lower()
    if low.endswith(".gz"):
        return "gzip"  # wrong magic: the decompressor reports the corruption with the file name
    if low.endswith((".zst", ".zstd")):
        return "zstd"
    return "plain"


def _new_decompressor(kind: str) -> tuple[Any, type[Exception] | tuple[type[Exception], ...]]:
    if kind == "gzip":
        return zlib.decompressobj(wbits=31), zlib.error
    import zstandard

    return zstandard.ZstdDecompressor().decompressobj(), zstandard.ZstdError


def _decompressed_chunks(fh: Any, kind: str, where: Callable[[], str], head: bytes) -> Iterator[bytes]:
    dec, errors = _new_decompressor(kind)
    pending = head
    fed = False
    while True:
        data = pending or fh.read(CHUNK)
        pending = b""
        if not data:
            break
        fed = True
        try:
            out = dec.decompress(data)
        except errors as e:
            raise SourceError(f"corrupted {kind} stream in {where()}: {e}") from None
        if out:
            yield out
        if dec.eof:
            # Next member/frame: restart on the bytes after the end of this one.
            pending = dec.unused_data
            dec, errors = _new_decompressor(kind)
            fed = False
    if fed and not dec.eof:
        raise SourceError(f"corrupted {kind} stream in {where()}: unexpected end of data (truncated file?)")


def iter_lines(path: Location) -> Iterator[tuple[int, bytes]]:
    """Yield (line_number, line_bytes) without the trailing newline (and CR); blank lines included."""
    lineno = 0

    def where() -> str:
        return f"{path} after line {lineno}"

    try:
        fh = storage.open_read(path)  # closed in finally; the generator may stop early
    except OSError as e:
        raise SourceError(f"cannot read {path}: {e.strerror or e}") from None
    try:
        try:
            head = fh.read(CHUNK)
        except OSError as e:
            raise SourceError(f"cannot read {path}: {e.strerror or e}") from None
        if head.startswith(_PARQUET_MAGIC):
            raise SourceError(
                f"{path} is a Parquet file, not JSONL: name it .parquet or set source.format: parquet"
            )
        kind = _compression(path, head)
        # The head already read is fed first (no seek back: a streamed remote file may not seek).
        chunks = (
            itertools.chain([head], iter(lambda: fh.read(CHUNK), b"")) if kind == "plain"
            else _decompressed_chunks(fh, kind, where, head)
        )
        carry: list[bytes] = []  # pieces of a line longer than a chunk, joined once it ends
        checked_binary = False
        for chunk in chunks:
            if not checked_binary:
                checked_binary = True
                # JSON text never holds a raw NUL byte; one near the start means this is not JSONL.
                if b"\x00" in chunk[:8192]:
                    raise SourceError(f"{path} is not a JSONL file (binary data near the start)")
            if b"\n" not in chunk:
                carry.append(chunk)
                continue
            parts = chunk.split(b"\n")
            parts[0] = b"".join([*carry, parts[0]])
            carry = [parts.pop()]
            for part in parts:
                lineno += 1
                yield lineno, part[:-1] if part.endswith(b"\r") else part
        last = b"".join(carry)
        if last:
            lineno += 1
            yield lineno, last[:-1] if last.endswith(b"\r") else last
    except OSError as e:
        raise SourceError(f"cannot read {where()}: {e.strerror or e}") from None
    finally:
        fh.close()
