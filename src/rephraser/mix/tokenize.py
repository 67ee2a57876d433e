"""Training shards: text -> token ids with document boundaries and a held-out split.

Output folder (token_shards.py has the file format):
    tokenizer.json                     the tokenizer used (trained here or copied from --tokenizer)
    train-NNNNN.bin / heldout-NNNNN.bin  flat token ids in shards of at most `shard_tokens` tokens;
                                       every document is followed by the EOS token (<|endoftext|>)
    *.idx.npy                          int64 document offsets per shard
    meta.json                          vocab size, dtype, eos id, per split: documents, tokens, UTF-8
                                       bytes, bytes per token (used for bits-per-byte), its shards;
                                       written last, so a folder without it holds no finished output

The held-out split is chosen by a hash of each document's text, so it does not depend on order,
batching or machine, and the same document always lands in the same split. Text is processed in
chunks of `batch_docs` documents: one thread reads and decodes the next chunk while
`Tokenizer.encode_batch` encodes the current one on every core (Rust), and the ids stream to disk, so
memory holds two chunks and one shard's offsets whatever the input size. The output depends only on
the documents and the settings, never on chunk sizes or thread timing.
"""

from __future__ import annotations

import hashlib
import queue
import threading
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from rephraser.atomic import atomic_write_json, atomic_write_text
from rephraser.errors import ConfigError, SourceError
from rephraser.lease import Lease
from rephraser.mix.token_shards import (
    DEFAULT_SHARD_TOKENS,
    FORMAT,
    SplitWriter,
    TokenShard,
    open_split,
    read_meta,
    remove_shards,
)
from rephraser.storage import local_only
from rephraser.writer_leases import sole_writer

__all__ = ["EOS", "TokenShard", "is_heldout", "load_tokenizer", "open_split", "read_meta", "tokenize_texts",
           "train_bpe"]

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


def tokenize_texts(
    texts: Iterable[str],
    out_dir: str | Path,
    tokenizer: Any,
    tokenizer_source: str,
    heldout_fraction: float = 0.02,
    batch_docs: int = 2048,
    shard_tokens: int = DEFAULT_SHARD_TOKENS,
) -> dict[str, Any]:
    """Encode texts into train/heldout shards under out_dir; returns (and writes) meta.json."""
    if not 0 <= heldout_fraction < 1:
        raise ConfigError("heldout_fraction must be in [0, 1)")
    if shard_tokens < 1:
        raise ConfigError("shard_tokens must be at least 1")
    out = local_only(out_dir, "tokenize output", "training memory-maps the token shards (the input may be remote)")
    out.mkdir(parents=True, exist_ok=True)
    with sole_writer(out, "rephraser tokenize") as lease:  # a second tokenize into `out` is refused (exit 75)
        return _tokenize_into(texts, out, tokenizer, tokenizer_source, heldout_fraction, batch_docs, shard_tokens,
                              lease)


def _tokenize_into(texts: Iterable[str], out: Path, tokenizer: Any, tokenizer_source: str, heldout_fraction: float,
                   batch_docs: int, shard_tokens: int, lease: Lease) -> dict[str, Any]:
    (out / "meta.json").unlink(missing_ok=True)  # the commit marker goes first
    remove_shards(out)
    vocab = tokenizer.get_vocab_size(with_added_tokens=True)
    dtype = token_dtype(vocab)
    eos = eos_id(tokenizer)
    atomic_write_text(out / "tokenizer.json", tokenizer.to_str(pretty=True))
    writers = {s: SplitWriter(out, s, dtype, shard_tokens) for s in SPLITS}
    started = time.perf_counter()
    skipped_empty = 0
    for batch in _prefetched(_batches(texts, batch_docs)):
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
        "format": FORMAT,
        "tokenizer": tokenizer_source,
        "vocab_size": vocab,
        "dtype": dtype.name,
        "eos_id": eos,
        "eos_token": tokenizer.id_to_token(eos),
        "heldout_fraction": heldout_fraction,
        "heldout_rule": "sha256(utf-8 text) first 8 bytes mod 1e6 < fraction * 1e6",
        "shard_tokens": shard_tokens,
        "skipped_empty_documents": skipped_empty,
        "splits": {s: w.close() for s, w in writers.items()},
        "encode_seconds": round(seconds, 3),
    }
    if meta["splits"]["train"]["tokens"] == 0:
        raise SourceError("no training tokens were produced (every document was empty or held out)")
    lease.ensure_held(check_store=True)  # a writer whose lease was taken over never writes the commit marker
    atomic_write_json(out / "meta.json", meta)  # last: the commit marker
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


_DONE = object()


def _prefetched(batches: Iterator[list[str]], depth: int = 2) -> Iterator[list[str]]:
    """The same batches, read ahead by a thread (Parquet decoding and JSON parsing overlap encoding)."""
    q: queue.Queue[Any] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(item: Any) -> bool:
        while not stop.is_set():
            try:
                q.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for b in batches:
                if not put(b):
                    return
            put(_DONE)
        except BaseException as e:  # noqa: BLE001 - handed to the consumer, raised there
            put(e)

    thread = threading.Thread(target=produce, name="tokenize-reader", daemon=True)
    thread.start()
    try:
        while True:
            item = q.get()
            if item is _DONE:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        thread.join(timeout=5)
