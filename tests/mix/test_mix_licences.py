"""The mixture keeps its rows' licences: the manifest counts them per component and in all."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from rephraser.mix.config import MixComponent, MixConfig
from rephraser.mix.mixer import run_mix
from rephraser.records import ROW_SCHEMA, Row, rows_to_table


def test_licences_of_rephrased_rows_and_source_documents_reach_the_manifest(tmp_path: Path) -> None:
    run = tmp_path / "run"
    (run / "data" / "faq").mkdir(parents=True)
    (run / "manifests").mkdir()
    rows = [Row(id=f"d{i}", prompt="faq", status="ok", generation=f"Q: fact {i}? A: yes. " * 3,
                source_metadata={"license": "CC BY-SA 4.0"} if i % 2 else {"title": "no licence stated"})
            for i in range(10)]
    pq.write_table(rows_to_table(rows), run / "data" / "faq" / "s00000-of-00001-part-00000.parquet")
    # a part of the previous release: metadata as JSON text
    old = {n: [None] for n in ROW_SCHEMA.names}
    old.update(id=["old"], sample=[0], prompt=["faq"], status=["ok"], generation=["Q: old? A: yes. " * 3],
               source_metadata=[json.dumps({"license": "MIT"})])
    schema = pa.schema([pa.field(f.name, pa.string() if f.name in ("source_metadata", "sampling") else f.type)
                        for f in ROW_SCHEMA])
    pq.write_table(pa.table(old, schema=schema), run / "data" / "faq" / "s00000-of-00001-part-00001.parquet")
    web = tmp_path / "web.jsonl"
    web.write_text("".join(json.dumps({"id": f"w{i}", "text": f"Web text {i}. " * 5, "license": "ODC-By"}) + "\n"
                           for i in range(10)), encoding="utf-8")
    manifest = run_mix(MixConfig(components=[MixComponent(path=str(run), weight=0.5),
                                             MixComponent(path=str(web), weight=0.5)],
                                 tokens=2000, seed=0, output=str(tmp_path / "mix")))
    synthetic, original = manifest["components"]
    assert set(synthetic["licenses"]) <= {"CC BY-SA 4.0", "unknown", "MIT"} and synthetic["licenses"]["unknown"] > 0
    assert sum(synthetic["licenses"].values()) == synthetic["documents"]  # every mixed row accounted for
    assert original["licenses"] == {"ODC-By": original["documents"]}
    assert sum(manifest["licenses"].values()) == manifest["documents"]
