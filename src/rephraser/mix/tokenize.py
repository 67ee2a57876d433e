"""Training shards: text -> flat token arrays with document boundaries and a held-out split.

Output folder:
    tokenizer.json                 the tokenizer used (trained here or copied from --tokenizer)
    train.bin / heldout.bin        flat token ids (uint16 when vocab < 65536, else uint32); every
                                   document is followed by the EOS token (<|endoftext|>)
    train.idx.npy / heldout.idx.npy  int64 offsets, n_docs + 1 entries: doc i = tokens[o[i]:o[i+1]]
                                   (its EOS included)
    meta.json                      vocab size, dtype, eos id, per split: documents, tokens, UTF-8
                                   bytes, bytes per token (used for bits-per-byte)

The held-out split is chosen by a hash of each document's text, so it does not depend on order,
batching or machine, and the same document always lands in the same split. Encoding uses
`Tokenizer.encode_batch`, which is already parallel in Rust over all cores; we feed it large
batches and stream the ids to disk so memory stays bounded.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from rephraser.errors import ConfigError, SourceError

EOS = "<|endoftext|>"
SPLITS = ("train", "heldout")


def train_bpe(texts: Iterable[str], vocab_size: int = 4096, min_frequency: int = 2) -> Any:
    """Train a byte-level BPE (lossless on any UTF-8 text) with <|endoftext|> as id 0."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    if vocab_size < 256 + 1:
        raise ConfigError("vocab_size must be at least 257 (256 bytes + <|endoftext|>)")
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=min_frequency,
        special_tokens=[EOS],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer=trainer)
    return tok


def load_tokenizer(path: str | Path) -> Any:
    """A local tokenizer.json, or a folder holding one (an HF tokenizer folder)."""
    from tokenizers import Tokenizer

    p = Path(path)
    if p.is_dir():
        p = p / "tokenizer.json"
    if not p.is_file():
        raise ConfigError(f"tokenizer not found: {p} (give a tokenizer.json or a folder holding one)")
    try:
        return Tokenizer.from_file(str(p))
    except Exception as e:  # noqa: BLE001 - the Rust error type is not importable
        raise ConfigError(f"cannot load tokenizer {p}: {str(e).splitlines()[0]}") from None


def eos_id(tokenizer: Any) -> int:
    """The document separator: <|endoftext|>, else the tokenizer's obvious end-of-text token."""
    for name in (EOS, "</s>", "<|end_of_text|>", "<eos>"):
        i = tokenizer.token_to_id(name)
        if i is not None:
            return int(i)
    raise ConfigError(f"tokenizer has no end-of-text token (looked for {EOS}, </s>, <|end_of_text|>, <eos>)")


def token_dtype(vocab_size: int) -> np.dtype:
    return np.dtype(np.uint16) if vocab_size < 65536 else np.dtype(np.uint32)


def is_heldout(text: str, fraction: float) -> bool:
    if fraction <= 0:
        return False
    h = int.from_bytes(hashlib.sha256(text.encode("utf-8", "surrogatepass")).digest()[:8], "big")
    return (h % 1_000_000) < round(fraction * 1_000_000)


@dataclass
class _SplitWriter:
    path: Path
    dtype: np.dtype
    offsets: list[int] = field(default_factory=lambda: [0])
    bytes: int = 0

    def __post_init__(self) -> None:
        self.fh = open(self.path, "wb")  # noqa: SIM115 - closed in close()

    def add(self, ids_batch: list[list[int]], texts: list[str], eos: int) -> None:
        if not ids_batch:
            return
        lengths = np.fromiter((len(i) + 1 for i in ids_batch), dtype=np.int64, count=len(ids_batch))
        flat = np.empty(int(lengths.sum()), dtype=self.dtype)
        pos = 0
        for ids in ids_batch:
            flat[pos : pos + len(ids)] = ids
            pos += len(ids)
            flat[pos] = eos
            pos += 1
        flat.tofile(self.fh)
        ends = self.offsets[-1] + np.cumsum(lengths)
        self.offsets.extend(int(e) for e in ends)
        self.bytes += sum(len(t.encode("utf-8", "surrogatepass")) for t in texts)

    def close(self) -> dict[str, Any]:
        self.fh.close()
        np.save(self.path.with_suffix(".idx.npy"), np.asarray(self.offsets, dtype=np.int64))
        tokens = self.offsets[-1]
        return {
            "documents": len(self.offsets) - 1,
            "tokens": tokens,
            "bytes": self.bytes,
            "bytes_per_token": (self.bytes / tokens) if tokens else None,
        }


def tokenize_texts(
    texts: Iterable[str],
    out_dir: str | Path,
    tokenizer: Any,
    tokenizer_source: str,
    heldout_fraction: float = 0.02,
    batch_docs: int = 2048,
) -> dict[str, Any]:
    """Encode texts into train/heldout shards under out_dir; returns (and writes) meta.json."""
    if not 0 <= heldout_fraction < 1:
        raise ConfigError("heldout_fraction must be in [0, 1)")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    vocab = tokenizer.get_vocab_size(with_added_tokens=True)
    dtype = token_dtype(vocab)
    eos = eos_id(tokenizer)
    tokenizer.save(str(out / "tokenizer.json"))
    writers = {s: _SplitWriter(out / f"{s}.bin", dtype) for s in SPLITS}
    started = time.perf_counter()
    skipped_empty = 0
    for batch in _batches(texts, batch_docs):
        kept = [t for t in batch if t]
        skipped_empty += len(batch) - len(kept)
        encodings = tokenizer.encode_batch(kept, add_special_tokens=False) if kept else []
        parts: dict[str, tuple[list[list[int]], list[str]]] = {s: ([], []) for s in SPLITS}
        for text, enc in zip(kept, encodings, strict=True):
            ids, txts = parts["heldout" if is_heldout(text, heldout_fraction) else "train"]
            ids.append(enc.ids)
            txts.append(text)
        for s in SPLITS:
            writers[s].add(*parts[s], eos)
    seconds = time.perf_counter() - started
    meta: dict[str, Any] = {
        "format": "rephraser-tokens/1",
        "tokenizer": tokenizer_source,
        "vocab_size": vocab,
        "dtype": dtype.name,
        "eos_id": eos,
        "eos_token": tokenizer.id_to_token(eos),
        "heldout_fraction": heldout_fraction,
        "heldout_rule": "sha256(utf-8 text) first 8 bytes mod 1e6 < fraction * 1e6",
        "skipped_empty_documents": skipped_empty,
        "splits": {s: w.close() for s, w in writers.items()},
        "encode_seconds": round(seconds, 3),
    }
    if meta["splits"]["train"]["tokens"] == 0:
        raise SourceError("no training tokens were produced (every document was empty or held out)")
    (out / "meta.json").write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    return meta


def _batches(texts: Iterable[str], size: int) -> Iterator[list[str]]:
    batch: list[str] = []
    for t in texts:
        batch.append(t)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


@dataclass(frozen=True)
class TokenShard:
    """A split written by `tokenize_texts`, memory-mapped."""

    tokens: np.ndarray  # flat ids
    offsets: np.ndarray  # int64, n_docs + 1

    def document(self, i: int) -> np.ndarray:
        return self.tokens[self.offsets[i] : self.offsets[i + 1]]

    def __len__(self) -> int:
        return len(self.offsets) - 1


def read_meta(data_dir: str | Path) -> dict[str, Any]:
    p = Path(data_dir) / "meta.json"
    if not p.is_file():
        raise SourceError(f"{data_dir} is not a tokenized folder (no meta.json); run `rephraser tokenize` first")
    return json.loads(p.read_text(encoding="utf-8"))


def open_split(data_dir: str | Path, split: str = "train") -> TokenShard:
    meta = read_meta(data_dir)
    d = Path(data_dir)
    path = d / f"{split}.bin"
    if not path.is_file():
        raise SourceError(f"{path} is missing")
    n = meta["splits"][split]["tokens"]
    tokens = np.memmap(path, dtype=np.dtype(meta["dtype"]), mode="r") if n else np.zeros(0, meta["dtype"])
    if len(tokens) != n:
        raise SourceError(f"{path} holds {len(tokens)} tokens but meta.json says {n}")
    return TokenShard(tokens=tokens, offsets=np.load(d / f"{split}.idx.npy"))

