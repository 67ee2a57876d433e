"""Chunked tokenization into bounded shards: same ids as before, shards within bounds, one array to readers."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest

from rephraser.errors import SourceError
from rephraser.mix.tokenize import load_tokenizer, open_split, tokenize_texts

BPE = Path(__file__).parent / "fixtures" / "bpe400.json"
CORPUS = [
    f"Document {i}: the river crosses {i * 3} valleys. Café, naïve, 東京, emoji 🚀 and tabs\tand\nnewlines."
    + " More words follow here." * (i % 7)
    for i in range(300)
]
# sha256 of the train and heldout (tokens, offsets) written by the previous single-file implementation
# (commit 6cbcf55) for CORPUS with the committed tokenizer, heldout 0.1.
PREVIOUS = "3b975f280e2a0e46"


@pytest.fixture(scope="module")
def tok():
    return load_tokenizer(BPE)


def _digest(folder: Path) -> str:
    h = hashlib.sha256()
    for split in ("train", "heldout"):
        s = open_split(folder, split)
        h.update(np.asarray(s.tokens).tobytes())
        h.update(np.asarray(s.offsets, np.int64).tobytes())
    return h.hexdigest()[:16]


def test_same_ids_as_the_previous_implementation_whatever_the_shard_size(tmp_path, tok):
    one = tokenize_texts(CORPUS, tmp_path / "one", tok, "fixture", heldout_fraction=0.1, batch_docs=37)
    assert [len(s["shards"]) for s in one["splits"].values()] == [1, 1]
    assert _digest(tmp_path / "one") == PREVIOUS
    many = tokenize_texts(CORPUS, tmp_path / "many", tok, "fixture", heldout_fraction=0.1, batch_docs=64,
                          shard_tokens=1000)
    assert _digest(tmp_path / "many") == PREVIOUS
    shards = many["splits"]["train"]["shards"]
    assert len(shards) > 30
    for s in shards:
        ids = np.fromfile(tmp_path / "many" / s["file"], dtype=np.uint16)
        assert len(ids) == s["tokens"] <= 1000
        offsets = np.load(tmp_path / "many" / s["file"].replace(".bin", ".idx.npy"))
        assert offsets[0] == 0 and offsets[-1] == len(ids) and len(offsets) == s["documents"] + 1
    # the same settings give the same bytes, whatever the chunking
    again = tokenize_texts(CORPUS, tmp_path / "again", tok, "fixture", heldout_fraction=0.1, batch_docs=5,
                           shard_tokens=1000)
    assert again["splits"] == many["splits"]
    for s in shards:
        assert (tmp_path / "many" / s["file"]).read_bytes() == (tmp_path / "again" / s["file"]).read_bytes()


def test_documents_and_slices_across_shard_boundaries(tmp_path, tok):
    long_doc = "a very long document " * 400  # more tokens than a whole shard: gets a shard of its own
    texts = CORPUS[:40] + [long_doc] + CORPUS[40:80]
    tokenize_texts(texts, tmp_path / "whole", tok, "fixture", heldout_fraction=0)
    meta = tokenize_texts(texts, tmp_path / "split", tok, "fixture", heldout_fraction=0, shard_tokens=700)
    alone = [s for s in meta["splits"]["train"]["shards"] if s["tokens"] > 700]
    assert len(alone) == 1 and alone[0]["documents"] == 1
    whole, split = open_split(tmp_path / "whole"), open_split(tmp_path / "split")
    assert len(split.tokens) == len(whole.tokens) and np.array_equal(split.offsets, whole.offsets)
    for i in range(len(whole)):
        assert np.array_equal(split.document(i), whole.document(i))
        assert tok.decode(split.document(i)[:-1].tolist()) == texts[i]
    rng = np.random.default_rng(0)
    for start in rng.integers(0, len(whole.tokens) - 300, 50):
        assert np.array_equal(split.tokens[start : start + 300], whole.tokens[start : start + 300])


def test_retokenizing_replaces_the_old_shards(tmp_path, tok):
    tokenize_texts(CORPUS, tmp_path / "t", tok, "fixture", heldout_fraction=0.1, shard_tokens=500)
    tokenize_texts(CORPUS[:20], tmp_path / "t", tok, "fixture", heldout_fraction=0.1)
    assert sorted(p.name for p in (tmp_path / "t").glob("*.bin")) == ["heldout-00000.bin", "train-00000.bin"]


def test_a_reader_error_reaches_the_caller(tmp_path, tok):
    def texts():
        yield from CORPUS[:10]
        raise SourceError("broken input at line 11")

    with pytest.raises(SourceError, match="line 11"):
        tokenize_texts(texts(), tmp_path / "t", tok, "fixture", batch_docs=3)
    assert not (tmp_path / "t" / "meta.json").exists()


def test_training_windows_are_the_same_from_many_shards(tmp_path, tok):
    pytest.importorskip("torch")
    from rephraser.train.data import WindowBatches

    tokenize_texts(CORPUS, tmp_path / "one", tok, "fixture", heldout_fraction=0.1)
    tokenize_texts(CORPUS, tmp_path / "many", tok, "fixture", heldout_fraction=0.1, shard_tokens=333)
    a, b = WindowBatches(tmp_path / "one", 64, 4, data_seed=1), WindowBatches(tmp_path / "many", 64, 4, data_seed=1)
    for step in range(0, 200, 7):
        assert a.batch(step).equal(b.batch(step))
