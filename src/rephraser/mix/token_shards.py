"""The on-disk form of tokenized text: per split, shards of flat token ids with document offsets.

    <split>-NNNNN.bin       flat token ids (uint16 when vocab < 65536, else uint32); every document is
                            followed by the EOS token; at most `shard_tokens` tokens per shard (a single
                            longer document gets a shard of its own: documents are never split)
    <split>-NNNNN.idx.npy   int64 offsets, n_docs + 1 entries: doc i = tokens[o[i]:o[i+1]] (EOS included)

Shards are cut at document boundaries by token count alone, so the same documents always give the same
files. Each shard is written under a temp name and renamed when full; meta.json (written last by the
caller) lists them and is the commit marker. Readers see one split as one array: `open_split` concatenates
the shards' offsets and serves token slices across shard boundaries. Folders written by earlier versions
(one `<split>.bin` per split, format rephraser-tokens/1) are read too.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from rephraser.atomic import atomic_open, atomic_write, fsync_dir
from rephraser.errors import SourceError
from rephraser.storage import local_only

FORMAT = "rephraser-tokens/2"
DEFAULT_SHARD_TOKENS = 1 << 28  # 512 MiB of uint16 ids per shard file
_SHARD_FILE = re.compile(r"^(train|heldout)-\d{5}\.(bin|idx\.npy)$")


def shard_name(split: str, index: int) -> str:
    return f"{split}-{index:05d}.bin"


def remove_shards(out: Path) -> None:
    """Delete shard files of an earlier tokenization in `out` (meta.json must already be gone)."""
    for f in out.iterdir():
        if _SHARD_FILE.match(f.name) or f.name in ("train.bin", "heldout.bin", "train.idx.npy", "heldout.idx.npy"):
            f.unlink()


@dataclass
class SplitWriter:
    """Appends documents' ids to shards of one split, starting a new shard when one is full."""

    out: Path
    split: str
    dtype: np.dtype
    shard_tokens: int
    shards: list[dict[str, Any]] = field(default_factory=list)
    bytes: int = 0

    def __post_init__(self) -> None:
        self._fh: Any = None
        self._offsets: list[int] = [0]

    def add(self, ids_batch: list[list[int]], texts: list[str], eos: int) -> None:
        self.bytes += sum(len(t.encode("utf-8", "surrogatepass")) for t in texts)
        start = 0
        while start < len(ids_batch):
            if self._fh is None:
                self._open()
            room = self.shard_tokens - self._offsets[-1]
            lengths = np.fromiter((len(i) + 1 for i in ids_batch[start:]), dtype=np.int64,
                                  count=len(ids_batch) - start)
            fits = int(np.searchsorted(np.cumsum(lengths), room, side="right"))
            if fits == 0 and self._offsets[-1] == 0:
                fits = 1  # a document longer than a whole shard gets a shard of its own
            if fits == 0:
                self._close_shard()
                continue
            self._write(ids_batch[start : start + fits], lengths[:fits], eos)
            start += fits
            if start < len(ids_batch):
                self._close_shard()

    def _open(self) -> None:
        self._commit = atomic_open(self.out / shard_name(self.split, len(self.shards)), "wb", sync_dir=False)
        self._fh = self._commit.__enter__()  # left in _close_shard: the shard is renamed into place when full
        self._offsets = [0]

    def _write(self, ids_batch: list[list[int]], lengths: np.ndarray, eos: int) -> None:
        flat = np.empty(int(lengths.sum()), dtype=self.dtype)
        pos = 0
        for ids in ids_batch:
            flat[pos : pos + len(ids)] = ids
            pos += len(ids)
            flat[pos] = eos
            pos += 1
        flat.tofile(self._fh)
        ends = self._offsets[-1] + np.cumsum(lengths)
        self._offsets.extend(ends.tolist())

    def _close_shard(self) -> None:
        self._fh = None
        self._commit.__exit__(None, None, None)
        final = self.out / shard_name(self.split, len(self.shards))
        offsets = np.asarray(self._offsets, dtype=np.int64)
        atomic_write(final.with_suffix(".idx.npy"), lambda f: np.save(f, offsets), sync_dir=False)
        self.shards.append({"file": final.name, "documents": len(offsets) - 1, "tokens": int(offsets[-1])})

    def close(self) -> dict[str, Any]:
        if self._fh is None and not self.shards:
            self._open()  # an empty split still has its (empty) shard: every folder has the same shape
        if self._fh is not None:
            self._close_shard()
        fsync_dir(self.out)
        tokens = sum(s["tokens"] for s in self.shards)
        return {
            "documents": sum(s["documents"] for s in self.shards),
            "tokens": tokens,
            "bytes": self.bytes,
            "bytes_per_token": (self.bytes / tokens) if tokens else None,
            "shards": self.shards,
        }


class ConcatTokens:
    """Several memory-mapped shards seen as one flat array: len(), slicing (also across shards), dtype."""

    def __init__(self, parts: list[np.ndarray], dtype: np.dtype):
        self.parts = [p for p in parts if len(p)]
        self.dtype = np.dtype(dtype)
        self.starts = np.cumsum([0] + [len(p) for p in self.parts])

    def __len__(self) -> int:
        return int(self.starts[-1])

    def __getitem__(self, key: slice) -> np.ndarray:
        if not isinstance(key, slice) or key.step not in (None, 1):
            raise TypeError("token shards support contiguous slices only")
        start, stop, _ = key.indices(len(self))
        if stop <= start:
            return np.zeros(0, self.dtype)
        first = int(np.searchsorted(self.starts, start, side="right")) - 1
        last = int(np.searchsorted(self.starts, stop, side="left")) - 1
        pieces = [self.parts[k][max(start - self.starts[k], 0) : stop - self.starts[k]] for k in range(first, last + 1)]
        return pieces[0] if len(pieces) == 1 else np.concatenate(pieces)

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        whole = self[0 : len(self)]
        return whole.astype(dtype) if dtype is not None else np.asarray(whole)


@dataclass(frozen=True)
class TokenShard:
    """A split written by `tokenize_texts`, memory-mapped (all its shards as one array)."""

    tokens: Any  # ConcatTokens or np.ndarray: len(), slices, dtype
    offsets: np.ndarray  # int64, n_docs + 1, over the whole split

    def document(self, i: int) -> np.ndarray:
        return self.tokens[int(self.offsets[i]) : int(self.offsets[i + 1])]

    def __len__(self) -> int:
        return len(self.offsets) - 1


def read_meta(data_dir: str | Path) -> dict[str, Any]:
    p = local_only(data_dir, "tokenized data", "training memory-maps the token shards") / "meta.json"
    if not p.is_file():
        raise SourceError(f"{data_dir} is not a tokenized folder (no meta.json); run `rephraser tokenize` first")
    return json.loads(p.read_text(encoding="utf-8"))


def _memmap(path: Path, dtype: np.dtype, n: int) -> np.ndarray:
    if not path.is_file():
        raise SourceError(f"{path} is missing")
    tokens = np.memmap(path, dtype=dtype, mode="r") if n else np.zeros(0, dtype)
    if len(tokens) != n:
        raise SourceError(f"{path} holds {len(tokens)} tokens but meta.json says {n}")
    return tokens


def open_split(data_dir: str | Path, split: str = "train") -> TokenShard:
    meta = read_meta(data_dir)
    d = Path(data_dir)
    dtype = np.dtype(meta["dtype"])
    info = meta["splits"][split]
    if "shards" not in info:  # rephraser-tokens/1: one file per split
        return TokenShard(_memmap(d / f"{split}.bin", dtype, info["tokens"]), np.load(d / f"{split}.idx.npy"))
    parts, offsets, base = [], [np.zeros(1, np.int64)], 0
    for s in info["shards"]:
        parts.append(_memmap(d / s["file"], dtype, s["tokens"]))
        o = np.load(d / s["file"].replace(".bin", ".idx.npy"))
        offsets.append(o[1:] + base)
        base += s["tokens"]
    return TokenShard(ConcatTokens(parts, dtype), np.concatenate(offsets))
