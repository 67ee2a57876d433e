"""The row schema: metadata and sampling as Arrow structs, the JSON-string files of the previous release still
read, and the run/grid identities that must not move when the schema does."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from rephraser.config import RunConfig, load_yaml
from rephraser.records import (
    ROW_SCHEMA,
    SAMPLING_TYPE,
    Row,
    dicts_to_table,
    metadata_dict,
    rows_to_table,
    sampling_dict,
    table_to_rows,
)

REPO = Path(__file__).resolve().parents[1]
META = {"title": "Ada Lovelace", "license": "CC BY-SA 4.0", "year": 1815, "tags": ["math", "poetry"]}


def _row(i: int, meta, sampling) -> Row:
    return Row(id=f"d{i}", prompt="faq", status="ok", source_text="x", source_metadata=meta, sampling=sampling,
               generation="y")


def test_metadata_and_sampling_are_structs_a_datasets_user_can_filter(tmp_path):
    table = rows_to_table([_row(0, META, {"temperature": 1.0, "seed": 3}), _row(1, {"title": "B"}, None)])
    f = tmp_path / "p.parquet"
    pq.write_table(table, f)
    back = pq.read_table(f)
    assert pa.types.is_struct(back.schema.field("source_metadata").type)
    assert back.schema.field("sampling").type == SAMPLING_TYPE
    first, second = back.to_pylist()
    assert first["source_metadata"]["license"] == "CC BY-SA 4.0" and first["source_metadata"]["year"] == 1815
    assert first["sampling"]["seed"] == 3 and first["sampling"]["top_k"] is None  # null = not sent
    assert metadata_dict(second["source_metadata"]) == {"title": "B"}  # keys absent from a row stay absent
    assert sampling_dict(first["sampling"]) == {"temperature": 1.0, "seed": 3}
    assert second["sampling"] is None


def test_a_key_whose_values_disagree_in_type_is_kept_as_text_not_lost():
    table = rows_to_table([_row(0, {"year": 1999}, None), _row(1, {"year": "c. 1200"}, None), _row(2, {}, None)])
    years = [metadata_dict(m).get("year") for m in table.column("source_metadata").to_pylist()]
    assert years == ["1999", "c. 1200", None]


def test_rows_without_metadata_write_a_null_column():
    table = rows_to_table([_row(0, {}, None), _row(1, None, None)])
    assert table.schema.field("source_metadata").type == pa.null()
    pq.write_table(table, pa.BufferOutputStream())  # Parquet accepts it (a struct without fields it would not)


def test_previous_release_json_string_files_still_read_and_rewrite(tmp_path):
    """One-release compatibility: a part whose metadata and sampling are JSON strings reads through the same
    accessors, and rewriting it (checkpoint compaction, clean) turns it into structs."""
    old_schema = pa.schema([pa.field(f.name, pa.string() if f.name in ("source_metadata", "sampling") else f.type,
                                     nullable=f.nullable) for f in ROW_SCHEMA])
    cols = {n: [None] for n in ROW_SCHEMA.names}
    cols.update(id=["d0"], sample=[0], prompt=["faq"], status=["ok"], source_metadata=[json.dumps(META)],
                sampling=[json.dumps({"temperature": 0.7, "seed": 1})])
    f = tmp_path / "old.parquet"
    pq.write_table(pa.table(cols, schema=old_schema), f)
    row = pq.read_table(f).to_pylist()[0]
    assert metadata_dict(row["source_metadata"]) == META and sampling_dict(row["sampling"])["temperature"] == 0.7
    rewritten = rows_to_table(table_to_rows(pq.read_table(f)))
    assert rewritten.column("source_metadata").to_pylist()[0]["license"] == "CC BY-SA 4.0"
    assert dicts_to_table(pq.read_table(f).to_pylist()).column("sampling").to_pylist()[0]["seed"] == 1


def test_struct_parts_load_with_datasets(tmp_path):
    import datasets

    for p in range(2):
        pq.write_table(rows_to_table([_row(2 * p + i, META, {"temperature": 1.0, "seed": i}) for i in range(2)]),
                       tmp_path / f"part-{p}.parquet")
    ds = datasets.load_dataset("parquet", data_files=str(tmp_path / "*.parquet"), split="train",
                               cache_dir=str(tmp_path / "cache"))
    assert len(ds) == 4
    kept = ds.filter(lambda r: r["source_metadata"]["license"] == "CC BY-SA 4.0" and r["sampling"]["seed"] == 1)
    assert len(kept) == 2


PINNED_PROMPT = """name: pinned
family: test
version: "1"
intent: A fixed prompt whose hash never changes (pins the stage keys).
template: |-
  Say the document again.

  Document:
  {document}
contract:
  min_length_ratio: 0.1
"""


def test_run_fingerprints_and_grid_stage_keys_did_not_move(tmp_path, monkeypatch):
    """What rows hold may change; what a run or a grid stage IS must not, or existing output folders refuse to
    resume and existing grids redo every stage. Values computed before the schema change; a new config knob
    must leave them alone at its default (outcome_fields drops it, as with routing and context_aware_alpha).
    The grid uses its own prompt file, so editing a library prompt (a real change) does not move it."""
    assert RunConfig().fingerprint() == "369c99e159505da5"
    assert load_yaml(REPO / "examples" / "quickstart.yaml").fingerprint() == "b942a3b6214ae21d"
    # the content floor at its default is left out too; switched off (or custom) it is a different run
    assert RunConfig.model_validate({"postprocess": {"floor": "off"}}).fingerprint() != "369c99e159505da5"
    from rephraser.config import validate
    from rephraser.experiments.cells import expand, unique_stages
    from rephraser.experiments.config import ExperimentConfig

    (tmp_path / "pinned.yaml").write_text(PINNED_PROMPT, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    grid = validate({"name": "pin", "output": "out/pin", "prompts": ["pinned.yaml"],
                     "generators": {"small": {"engine": {"kind": "llamacpp", "model": "smollm2-135m"}}},
                     "sources": {"wiki": {"source": {"limit": 50}, "rephrase_docs": 20}},
                     "mix": {"ratios": [0.5, 1.0], "tokens": 1000}, "seeds": [0, 1],
                     "train": {"preset": "tiny-1m", "steps": 2}}, ExperimentConfig)
    keys = sorted(f"{s.kind}:{s.key}" for s in unique_stages(expand(grid)))
    assert (len(keys), hashlib.sha256("\n".join(keys).encode()).hexdigest()[:16]) == (21, "f4f78676be8ae4ee")


def test_route_values_are_a_struct_too_from_the_routers_json_text(tmp_path):
    rows = [Row(id="a", prompt="math", status="ok", route="numbers", route_values='{"numbers":2}'),
            Row(id="b", prompt="faq", status="ok", route="high_quality", route_values={"score.edu": 3.41}),
            Row(id="c", prompt="faq", status="ok")]
    f = tmp_path / "p.parquet"
    pq.write_table(rows_to_table(rows), f)
    back = pq.read_table(f)
    assert pa.types.is_struct(back.schema.field("route_values").type)
    assert [metadata_dict(r["route_values"]) for r in back.to_pylist()] == [{"numbers": 2}, {"score.edu": 3.41}, {}]
