"""Routed runs end to end on the fake OpenAI server (a real HTTP server on loopback): each document
gets only its route's prompts, every row carries its route and deciding values, the accounting holds,
a user function that raises rejects one document with its reason, `--routes` fills the config, a
restart resumes, and `route --dry-run` previews the same decisions without writing anything."""

from __future__ import annotations

import io
import json
import sys
from collections import Counter
from pathlib import Path

import yaml

from helpers import cli, read_rows, wiki_texts
from rephraser.config import RunConfig
from rephraser.errors import ConfigError
from rephraser.generate.progress import RunProgress
from rephraser.generate.runner import run_config
from rephraser.records import Document, metadata_dict
from rephraser.routing import Router

TEMPLATE = "Restate the following document ({name}). Output only the restatement.\n\nDocument:\n{{document}}"
TEXTS = ["Founded in 1901 with 3 ships, 12 crews and 450 sailors.", "A quiet town by a river, known for bread.",
         "In 1999 the bridge opened.", "- apples\n- pears\n- plums are listed here for sale today",
         "The choir sang old songs in the hall every winter evening.", "It cost 5 dollars in 1920 and 40 in 1990."]


def _prompts(folder: Path) -> dict[str, str]:
    folder.mkdir(exist_ok=True)
    paths = {}
    for name in ("alpha", "beta", "gamma"):
        p = folder / f"{name}.yaml"
        p.write_text(yaml.safe_dump({"name": name, "family": "test", "version": "1", "intent": "x",
                                     "template": TEMPLATE.format(name=name),
                                     "contract": {"min_length_ratio": 0.1, "max_length_ratio": 10}}))
        paths[name] = str(p)
    return paths


def _corpus(tmp_path: Path) -> Path:
    path = tmp_path / "in.jsonl"
    path.write_text("".join(json.dumps({"id": f"d{i}", "text": t}) + "\n" for i, t in enumerate(TEXTS)))
    return path


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


ROUTES = {"routes": [
    {"name": "facts", "when": {"numbers": {"min": 3}}, "prompts": ["alpha", "beta"]},
    {"name": "listy", "when": {"list": True}, "prompts": ["gamma"]},
    {"name": "boom", "when": {"regex": "choir", "function": "rephraser_test_routes:explode"}, "prompts": ["beta"]},
], "default": {"prompts": {"beta": 1, "gamma": 1}}}


def _config(tmp_path: Path, url: str, out: str = "out", prompts: str = "") -> RunConfig:
    paths = _prompts(tmp_path / prompts)
    # routes name prompts as `prompts:` lists them (here: the files)
    routes = json.loads(json.dumps(ROUTES))
    for r in [*routes["routes"], routes["default"]]:
        r["prompts"] = ({paths[k]: w for k, w in r["prompts"].items()} if isinstance(r["prompts"], dict)
                        else [paths[k] for k in r["prompts"]])
    return RunConfig.model_validate({
        "source": {"path": str(_corpus(tmp_path))}, "prompts": list(paths.values()),
        "engine": {"kind": "openai", "base_url": url, "model": "fake-model"},
        "output": {"dir": str(tmp_path / out)}, "routing": routes})


def test_rows_carry_their_route_and_only_routed_units_run(tmp_path, fake_server, monkeypatch):
    (tmp_path / "rephraser_test_routes.py").write_text("def explode(doc):\n    raise KeyError('no choir')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    url = fake_server()
    cfg = _config(tmp_path, url)
    totals: list[int | None] = []

    class Spy(RunProgress):  # the progress bar's total, as the run's shard set it up
        def __init__(self, **kw):
            totals.append(kw["total"])
            super().__init__(**kw)

    monkeypatch.setattr("rephraser.generate.shard.RunProgress", Spy)
    monkeypatch.setattr(sys, "stderr", Tty())
    stats = run_config(cfg)
    assert stats.conservation_ok and stats.rows.failed == 0
    # the total counts the routed units (the raising function's document gets none), not 6 docs x 3 prompts
    assert totals == [stats.session.units_run] == [7]
    rows = read_rows(tmp_path / "out")
    by_doc: dict[str, list[str]] = {}
    for r in rows:
        by_doc.setdefault(r["id"], []).append(r["prompt"])
    assert sorted(by_doc["d0"]) == ["alpha", "beta"] and sorted(by_doc["d5"]) == ["alpha", "beta"]
    assert by_doc["d3"] == ["gamma"]
    router = Router(cfg.routing)
    for doc_id in ("d1", "d2"):  # default: one of beta/gamma by weight, the same draw as the router's
        doc = Document(id=doc_id, text=TEXTS[int(doc_id[1])])
        assert by_doc[doc_id] == [Path(p).stem for p in router.decide(doc).prompts]
    r0 = next(r for r in rows if r["id"] == "d0")
    assert r0["route"] == "facts" and metadata_dict(r0["route_values"]) == {"numbers": 4}
    r3 = next(r for r in rows if r["id"] == "d3")
    assert metadata_dict(r3["route_values"]) == {"numbers": 0, "list": True}
    rejected = read_rows(tmp_path / "out", "rejected")
    assert [(r["id"], r["prompt"]) for r in rejected] == [("d4", "_input")]
    assert "rephraser_test_routes:explode raised KeyError" in rejected[0]["reason"]
    assert stats.rows.expected == len(rows) + 1 == 8
    # a restart with the prompt files found elsewhere (another checkout): the same run, every unit is done
    again = run_config(_config(tmp_path, url, prompts="moved"), progress=False)
    assert again.session.units_run == 0 and again.conservation_ok

    # stats: counts and outcomes by route
    from rephraser.postprocess.stats import compute_stats

    routes = compute_stats(tmp_path / "out", quality=False)["routes"]
    assert routes["facts"]["documents"] == 2 and routes["facts"]["ok"] == 4
    assert set(routes["facts"]["prompts"]) == {"alpha", "beta"} and routes["listy"]["prompts"]["gamma"]["ok"] == 1
    assert Counter({r: v["ok"] for r, v in routes.items()}).total() == len(rows)


def test_card_and_report_show_counts_and_outcomes_by_route(tmp_path, fake_server, monkeypatch):
    (tmp_path / "rephraser_test_routes.py").write_text("def explode(doc):\n    return False\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    import sys

    sys.modules.pop("rephraser_test_routes", None)
    cfg = _config(tmp_path, fake_server())
    run_config(cfg, progress=False)
    from rephraser.report.card import build_card
    from rephraser.report.html import _routing_section
    from rephraser.run_folder import open_run

    card = build_card(tmp_path / "out")
    section = card[card.index("## Routing"):]
    assert '| facts | {"numbers": {"min": 3.0}} | 2 | alpha ×2, beta ×2 | 4 | 0 | 0 |' in section
    assert "| listy |" in section and "| default | (everything else) |" in section
    html = _routing_section(open_run(tmp_path / "out"))
    assert '<section id="routing">' in html and "<td>facts</td>" in html
    plain = tmp_path / "plain"
    run_config(cfg.model_copy(update={"routing": None, "output": cfg.output.model_copy(update={"dir": str(plain)})}),
               progress=False)
    assert "## Routing" not in build_card(plain) and _routing_section(open_run(plain)) == ""


def test_routes_flag_and_dry_run_preview(tmp_path):
    from typer.testing import CliRunner

    from rephraser.cli import app

    routes = tmp_path / "routes.yaml"
    routes.write_text(yaml.safe_dump({"routing": {  # a file whose only key is `routing` is accepted too
        "routes": [{"name": "facts", "when": {"numbers": 3}, "prompts": ["table"]},
                   {"name": "listy", "when": {"list": True}, "prompts": ["faq"]}],
        "default": {"prompts": {"faq": 1, "math": 1}}}}))
    corpus = _corpus(tmp_path)
    out = tmp_path / "out"
    r = CliRunner().invoke(app, ["run", "--routes", str(routes), "--source", str(corpus), "--print-config"])
    assert r.exit_code == 0, r.output
    cfg = yaml.safe_load(r.stdout)
    assert cfg["prompts"] == ["table", "faq", "math"] and cfg["routing"]["routes"][0]["name"] == "facts"
    r = CliRunner().invoke(app, ["route", "--routes", str(routes), "--source", str(corpus), "-o", str(out),
                                 "--dry-run", "--json"])
    assert r.exit_code == 0, r.output
    preview = json.loads(r.stdout)
    got = {d["id"]: (d["route"], d["values"]) for d in preview["documents"]}
    assert got["d0"] == ("facts", {"numbers": 4}) and got["d3"] == ("listy", {"numbers": 0, "list": True})
    assert preview["routes"]["facts"]["documents"] == 2 and sum(v["documents"] for v in preview["routes"].values()) == 6
    assert not out.exists()  # a dry run writes nothing
    # user errors are ConfigErrors (the CLI's entry point prints them as `error: …`, exit 2)
    r = CliRunner().invoke(app, ["route", "--dry-run", "--source", str(corpus)])
    assert isinstance(r.exception, ConfigError) and "no routes" in str(r.exception)
    routes.write_text("routes: [{name: x, when: {numbers: {min: 5, max: 1}}, prompts: [faq]}]\ndefault: {prompts: [faq]}\n")
    r = CliRunner().invoke(app, ["run", "--routes", str(routes), "--print-config"])
    first = str(r.exception).splitlines()[0]
    assert isinstance(r.exception, ConfigError) and "routes.yaml:1:" in first and "min 5.0 is above max 1.0" in first


def test_source_filter_example_runs(tmp_path, fake_server, repo_root):
    """examples/routes_source_filter.yaml through `run --routes` on real extracts: math only where there are
    numbers, table where there are several, faq for the rest."""

    corpus = tmp_path / "in.jsonl"
    corpus.write_text("".join(json.dumps({"id": f"w{i}", "text": t}) + "\n" for i, t in enumerate(wiki_texts(400)[::40])))
    out = tmp_path / "out"
    cli("run", "--routes", str(repo_root / "examples" / "routes_source_filter.yaml"), "--source", str(corpus),
        "--engine", "openai", "--base-url", fake_server(), "--model", "fake-model", "--output", str(out),
        "--no-progress")
    rows = read_rows(out) + read_rows(out, "rejected")
    assert len(rows) == 10 and {r["prompt"] for r in rows} <= {"table", "math", "faq"}
    for r in rows:
        n = metadata_dict(r["route_values"])["numbers"]
        assert r["prompt"] == ("table" if n >= 4 else "math" if n >= 1 else "faq"), (r["id"], n, r["prompt"])
