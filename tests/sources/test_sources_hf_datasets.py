"""Hugging Face dataset inputs, built with the real `datasets` library and read back as sources.

save_to_disk folders (Dataset and DatasetDict), Hub-layout folders (data/*.parquet + README `configs:`,
checked against `datasets.load_dataset` on the same folder), globs and data_files, and the hf:// repo
form. The Hub itself cannot be reached here: hf:// is served by an fsspec filesystem registered for the
"hf" protocol over a local folder laid out like the Hub (datasets/<org>/<name>/...), so everything up
to the filesystem layer runs as it would against huggingface_hub's HfFileSystem.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

datasets = pytest.importorskip("datasets")

from rephraser.config import SourceConfig  # noqa: E402
from rephraser.errors import SourceError  # noqa: E402
from rephraser.records import Document  # noqa: E402
from rephraser.sources import iter_source, list_files  # noqa: E402
from rephraser.sources.sharding import plan_shards  # noqa: E402


def _rows(n: int, start: int = 0, tag: str = "doc") -> dict[str, list]:
    return {
        "id": [f"{tag}-{i}" for i in range(start, start + n)],
        "text": [f"{tag} number {i}: rivers, hills and {i % 13} bridges." for i in range(start, start + n)],
        "score": [round(i * 0.25, 2) for i in range(start, start + n)],
        "meta": [{"lang": "en", "rank": i} for i in range(start, start + n)],
    }


def _read(path: str, **kw) -> list[tuple[str, str, dict]]:
    items = list(iter_source(SourceConfig(path=path, **kw)))
    assert all(isinstance(x, Document) for x in items), [x for x in items if not isinstance(x, Document)][:2]
    return [(x.id, x.text, x.metadata) for x in items]


def test_save_to_disk_dataset_and_dataset_dict(tmp_path):
    ds = datasets.Dataset.from_dict(_rows(250))
    ds.save_to_disk(str(tmp_path / "single"), num_shards=3)
    got = _read(str(tmp_path / "single"))
    assert [(i, t) for i, t, _ in got] == list(zip(ds["id"], ds["text"], strict=True))
    assert got[7][2] == {"score": 1.75, "meta": {"lang": "en", "rank": 7}}
    listing = list_files(SourceConfig(path=str(tmp_path / "single")))
    assert [f.name for f in listing.files] == [f"data-0000{k}-of-00003.arrow" for k in range(3)]
    assert {f.kind for f in listing.files} == {"arrow"}
    assert plan_shards(SourceConfig(path=str(tmp_path / "single"), shard_count=3)).mode == "files"

    dd = datasets.DatasetDict({"train": ds, "test": datasets.Dataset.from_dict(_rows(20, 1000, "t"))})
    dd.save_to_disk(str(tmp_path / "dict"))
    assert [x[0] for x in _read(str(tmp_path / "dict"))] == ds["id"]  # train by default
    assert [x[0] for x in _read(str(tmp_path / "dict"), split="test")] == [f"t-{i}" for i in range(1000, 1020)]
    with pytest.raises(SourceError, match=r"no split 'validation' \(splits: train, test\)"):
        _read(str(tmp_path / "dict"), split="validation")
    with pytest.raises(SourceError, match="no column 'body'"):
        list(iter_source(SourceConfig(path=str(tmp_path / "single"), text_column="body")))
    (tmp_path / "garbage.arrow").write_bytes(b"not arrow at all" * 8)
    with pytest.raises(SourceError, match=r"garbage.arrow is not a readable Arrow file \("):
        list(iter_source(SourceConfig(path=str(tmp_path / "garbage.arrow"))))


def _hub_folder(root: Path) -> Path:
    """A folder laid out as push_to_hub lays out a repo: Parquet shards under data/ and under a sample
    folder, and a README whose `configs:` metadata is written by datasets' own MetadataConfigs."""
    from datasets.utils.metadata import MetadataConfigs
    from huggingface_hub import DatasetCard, DatasetCardData

    (root / "data").mkdir(parents=True)
    (root / "sample" / "10BT").mkdir(parents=True)
    for k in range(2):
        datasets.Dataset.from_dict(_rows(60, 60 * k)).to_parquet(str(root / "data" / f"train-0000{k}-of-00002.parquet"))
    datasets.Dataset.from_dict(_rows(15, 5000, "v")).to_parquet(str(root / "data" / "validation-00000-of-00001.parquet"))
    for k in range(3):
        datasets.Dataset.from_dict(_rows(10, 900 + 10 * k, "s")).to_parquet(str(root / "sample" / "10BT" / f"00{k}_00000.parquet"))
    card_data = DatasetCardData()
    MetadataConfigs({
        "default": {"data_files": [{"split": "train", "path": "data/train-*"},
                                   {"split": "validation", "path": "data/validation-*"}]},
        "sample-10BT": {"data_files": [{"split": "train", "path": "sample/10BT/*"}]},
    }).to_dataset_card_data(card_data)
    DatasetCard(f"---\n{card_data.to_yaml()}\n---\n\n# A dataset\n").save(str(root / "README.md"))
    return root


def _expected(folder: Path, config: str, split: str) -> list[str]:
    return datasets.load_dataset(str(folder), config, split=split)["id"]


def test_hub_layout_folder_reads_like_load_dataset(tmp_path):
    folder = _hub_folder(tmp_path / "repo")
    assert "configs:" in (folder / "README.md").read_text()
    assert [x[0] for x in _read(str(folder))] == _expected(folder, "default", "train")
    assert [x[0] for x in _read(str(folder), split="validation")] == _expected(folder, "default", "validation")
    assert [x[0] for x in _read(str(folder), config="sample-10BT")] == _expected(folder, "sample-10BT", "train")
    with pytest.raises(SourceError, match=r"no config 'nope' \(configs: default, sample-10BT\)"):
        _read(str(folder), config="nope")
    # data_files and a glob in the path override the README
    by_glob = _read(str(folder / "sample" / "10BT" / "*.parquet"))
    assert by_glob == _read(str(folder), config="sample-10BT")
    assert _read(str(folder), data_files=["sample/10BT/*.parquet"]) == by_glob
    assert [x[0] for x in _read(str(folder), data_files="data/validation-*")] == [f"v-{i}" for i in range(5000, 5015)]


def test_a_card_without_configs_infers_splits_from_names(tmp_path):
    folder = tmp_path / "plain"
    (folder / "data").mkdir(parents=True)
    datasets.Dataset.from_dict(_rows(5)).to_json(str(folder / "data" / "train.jsonl"))
    datasets.Dataset.from_dict(_rows(3, 100)).to_json(str(folder / "data" / "test.jsonl"))
    no_card = [x[0] for x in _read(str(folder))]  # a plain folder: every file, in name order
    assert no_card == [f"doc-{i}" for i in range(100, 103)] + [f"doc-{i}" for i in range(5)]
    (folder / "README.md").write_text("---\nlicense: mit\n---\n# card\n")
    assert [x[0] for x in _read(str(folder))] == [f"doc-{i}" for i in range(5)]
    assert [x[0] for x in _read(str(folder), split="test")] == [f"doc-{i}" for i in range(100, 103)]


@pytest.fixture
def local_hub(tmp_path, monkeypatch):
    """hf://datasets/<org>/<name>/... served from tmp_path/hub/datasets/<org>/<name>/... through fsspec."""
    import sys

    import fsspec  # noqa: F401 - loads fsspec.registry
    from fsspec.implementations.dirfs import DirFileSystem
    from fsspec.implementations.local import LocalFileSystem

    root = tmp_path / "hub"
    root.mkdir()

    class LocalHubFileSystem(DirFileSystem):
        protocol = "hf"
        cachable = False

        def __init__(self, *args, **kwargs):
            super().__init__(path=str(root), fs=LocalFileSystem())

    monkeypatch.setitem(sys.modules["fsspec.registry"]._registry, "hf", LocalHubFileSystem)
    return root


def test_hf_repo_id_forms_through_fsspec(tmp_path, local_hub):
    _hub_folder(local_hub / "datasets" / "org" / "fineweb-like")
    local = tmp_path / "local-copy"
    _hub_folder(local)
    repo = "hf://datasets/org/fineweb-like"
    assert _read(repo) == _read(str(local))
    assert _read(repo, config="sample-10BT") == _read(str(local), config="sample-10BT")
    assert _read(f"{repo}/sample/10BT/*.parquet") == _read(str(local), config="sample-10BT")
    assert _read(repo, data_files=["sample/10BT/*.parquet"]) == _read(str(local), config="sample-10BT")
    first = next(iter(iter_source(SourceConfig(path=repo, config="sample-10BT"))))
    assert first.origin == f"{repo}/sample/10BT/000_00000.parquet#0"
    # files of a repo are assigned to shards like local files, from the listing alone
    cfgs = [SourceConfig(path=repo, config="sample-10BT", shard_index=k, shard_count=3) for k in range(3)]
    plan = plan_shards(cfgs[0])
    assert plan.mode == "files" and [len(plan.units_of(k)) for k in range(3)] == [1, 1, 1]
    assert sum((_read_ids(c, plan) for c in cfgs), []) == [x[0] for x in _read(repo, config="sample-10BT")]
    with pytest.raises(SourceError, match="no file matches"):
        _read(f"{repo}/missing/*.parquet")


def _read_ids(cfg: SourceConfig, plan) -> list[str]:
    return [x.id for x in iter_source(cfg, plan=plan)]


def test_a_rephraser_output_folder_is_a_hub_layout_source(tmp_path):
    """A run folder with its dataset card reads per prompt config (text = the generation)."""
    from rephraser.records import Row, rows_to_table

    out = tmp_path / "run"
    for prompt in ("faq", "math"):
        (out / "data" / prompt).mkdir(parents=True)
        rows = [Row(id=f"d{i}", prompt=prompt, status="ok", generation=f"{prompt} text {i}") for i in range(4)]
        import pyarrow.parquet as pq

        pq.write_table(rows_to_table(rows), out / "data" / prompt / "s00000-of-00001-part-00000.parquet")
    front = {"configs": [{"config_name": "all", "default": True, "data_files": [{"split": "train", "path": "data/*/*.parquet"}]},
                         {"config_name": "math", "data_files": [{"split": "train", "path": "data/math/*.parquet"}]}]}
    (out / "README.md").write_text("---\n" + json.dumps(front) + "\n---\n")
    got = list(iter_source(SourceConfig(path=str(out), config="math", text_column="generation", id_column="id")))
    assert [x.text for x in got] == [f"math text {i}" for i in range(4)]
