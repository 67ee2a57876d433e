"""Tokenization: lossless round trip, consistent shards + offsets, deterministic held-out split."""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from rephraser.errors import ConfigError, SourceError
from rephraser.mix.text_files import iter_texts
from rephraser.mix.tokenize import EOS, is_heldout, load_tokenizer, open_split, tokenize_texts, train_bpe

CORPUS = [
    f"Document {i}: the river crosses {i * 3} valleys. Café, naïve, 東京, emoji 🚀 and tabs\tand\nnewlines."
    + " More words follow here." * (i % 7)
    for i in range(300)
]


@pytest.fixture(scope="module")
def bpe():
    return train_bpe(CORPUS, vocab_size=512)


def test_bpe_round_trips_any_text(bpe):
    assert bpe.token_to_id(EOS) == 0
    assert 257 < bpe.get_vocab_size() <= 512  # a tiny corpus may run out of merges first
    for text in CORPUS[:20] + ["  leading spaces", "unseen ßŒ✓ symbols \u200b", "x" * 500]:
        ids = bpe.encode(text, add_special_tokens=False).ids
        assert bpe.decode(ids) == text


def test_shards_and_offsets_are_consistent(tmp_path, bpe):
    meta = tokenize_texts(CORPUS, tmp_path / "tok", bpe, "test-bpe", heldout_fraction=0.1, batch_docs=37)
    assert meta["dtype"] == "uint16" and meta["eos_id"] == 0
    decoded = []
    for split in ("train", "heldout"):
        shard = open_split(tmp_path / "tok", split)
        info = meta["splits"][split]
        assert len(shard) == info["documents"] and shard.offsets[-1] == len(shard.tokens) == info["tokens"]
        assert shard.tokens.dtype == np.uint16
        for i in range(len(shard)):
            doc = shard.document(i)
            assert doc[-1] == meta["eos_id"] and meta["eos_id"] not in doc[:-1]
            decoded.append(bpe.decode(doc[:-1].tolist()))
        assert info["bytes"] == sum(len(t.encode()) for t in decoded[-len(shard):])
    assert sorted(decoded) == sorted(CORPUS)
    assert 0 < meta["splits"]["heldout"]["documents"] < 0.25 * len(CORPUS)
    held = {t for t in CORPUS if is_heldout(t, 0.1)}
    assert len(held) == meta["splits"]["heldout"]["documents"]
    # the split depends on the text only: a reversed input order holds out the same documents
    meta2 = tokenize_texts(list(reversed(CORPUS)), tmp_path / "tok2", bpe, "test-bpe", heldout_fraction=0.1)
    assert meta2["splits"]["heldout"] == meta["splits"]["heldout"] | {"bytes_per_token": meta2["splits"]["heldout"]["bytes_per_token"]}
    assert load_tokenizer(tmp_path / "tok").get_vocab_size() == bpe.get_vocab_size() # a folder holding tokenizer.json loads


def test_reads_mix_folders_and_reports_bad_inputs(tmp_path):
    (tmp_path / "mix" / "data").mkdir(parents=True)
    pq.write_table(pa.table({"text": ["a", "b"], "tokens": [1, 1]}), tmp_path / "mix" / "data" / "part-00000.parquet")
    (tmp_path / "mix" / "manifest.json").write_text("{}")
    assert list(iter_texts(tmp_path / "mix")) == ["a", "b"]
    with pytest.raises(SourceError, match="no column 'body'"):
        list(iter_texts(tmp_path / "mix", column="body"))
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"text": "ok"}) + "\n{not json\n")
    with pytest.raises(SourceError, match="bad.jsonl:2"):
        list(iter_texts(bad))
    with pytest.raises(ConfigError, match="tokenizer not found"):
        load_tokenizer(tmp_path / "nope.json")
    with pytest.raises(SourceError, match="no training tokens"):
        tokenize_texts(["", ""], tmp_path / "empty", train_bpe(CORPUS[:50], 300), "x")
