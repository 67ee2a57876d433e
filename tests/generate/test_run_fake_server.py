"""End-to-end runs of the CLI against a real loopback HTTP server (the fake OpenAI server)."""

import json
import subprocess
import sys

import httpx
import pytest
import yaml

from helpers import ECHO_PROMPT, all_rows, cli, fake_run_args, read_rows, write_corpus
from rephraser.generate.stats import RunStats


def server_requests(url: str) -> int:
    return httpx.get(f"{url}/stats").json()["requests"]


def test_run_writes_rows_with_lineage_and_resume_is_free(tmp_path, fake_server):
    url = fake_server()
    corpus = write_corpus(tmp_path / "in.jsonl", 30, bad=True)
    out = tmp_path / "out"
    cli(*fake_run_args(url, corpus, out, "--max-tokens", "64"))
    ok = read_rows(out)
    assert len(ok) == 30 and {r["status"] for r in ok} == {"ok"}
    r = next(x for x in ok if x["id"] == "doc-00003")
    assert r["prompt"] == "echo" and r["model"] == "fake-model" and r["engine"] == "openai"
    assert r["source_text"].startswith("Document number 3.") and r["source_metadata"] == {"lang": "en"}  # a struct
    assert r["generation"].startswith("Q: What is this about?") and r["finish_reason"] in ("stop", "length")
    assert r["sampling"]["temperature"] == 1.0 and r["prompt_hash"]
    rejected = read_rows(out, "rejected")
    assert len(rejected) == 3 and all(x["reason"] for x in rejected)
    stats = json.loads((out / "stats.json").read_text())
    assert stats["conservation_ok"] and stats["rows"] == {"expected": 33, "ok": 30, "rejected": 3, "failed": 0, "missing": 0}
    typed = RunStats.model_validate(stats)  # one shard's form: the file round-trips through the typed stats
    assert typed.to_json() == stats and typed.session is not None and typed.per_prompt["echo"].ok == 30
    n_requests = server_requests(url)
    assert n_requests == 30
    # Same command again: nothing is regenerated, nothing duplicated.
    cli(*fake_run_args(url, corpus, out, "--max-tokens", "64"))
    assert server_requests(url) == n_requests
    session = json.loads((out / "stats.json").read_text())["session"]
    assert session["units_done_before"] == 30 and session["engine_calls"] == 0
    assert len(all_rows(out)) == 33


def test_more_documents_cost_only_new_calls(tmp_path, fake_server):
    url = fake_server()
    corpus = write_corpus(tmp_path / "in.jsonl", 20)
    out = tmp_path / "out"
    cli(*fake_run_args(url, corpus, out, "--limit", "8"))
    assert server_requests(url) == 8
    cli(*fake_run_args(url, corpus, out))
    assert server_requests(url) == 20
    ids = [r["id"] for r in read_rows(out)]
    assert len(ids) == len(set(ids)) == 20


def test_config_change_is_refused_then_forced(tmp_path, fake_server):
    url = fake_server()
    corpus = write_corpus(tmp_path / "in.jsonl", 5)
    out = tmp_path / "out"
    cli(*fake_run_args(url, corpus, out))
    p = cli(*fake_run_args(url, corpus, out, "--temperature", "0.5"), check=False)
    assert p.returncode == 2 and "sampling.temperature: 1.0 -> 0.5" in p.stderr and "Traceback" not in p.stderr
    cli(*fake_run_args(url, corpus, out, "--temperature", "0.5", "--force"))


def test_changed_input_text_is_refused(tmp_path, fake_server):
    url = fake_server()
    corpus = write_corpus(tmp_path / "in.jsonl", 5)
    out = tmp_path / "out"
    cli(*fake_run_args(url, corpus, out))
    lines = corpus.read_text().splitlines()
    doc = json.loads(lines[2])
    doc["text"] += " edited"
    lines[2] = json.dumps(doc)
    corpus.write_text("\n".join(lines) + "\n")
    p = cli(*fake_run_args(url, corpus, out), check=False)
    assert p.returncode == 2 and "input changed" in p.stderr and "doc-00002" in p.stderr


def test_faults_are_retried_and_accounting_holds(tmp_path, fake_server):
    url = fake_server("--fault-rate", "0.3", "--faults", "500,429,close,garbage,truncated,hang", "--hang-seconds", "5")
    corpus = write_corpus(tmp_path / "in.jsonl", 60)
    out = tmp_path / "out"
    cfg = {
        "source": {"path": str(corpus)}, "prompts": [ECHO_PROMPT],
        "engine": {"kind": "openai", "base_url": url, "model": "fake-model", "request_timeout_s": 1.0},
        "retry": {"max_attempts": 8, "backoff_base_s": 0.01, "backoff_max_s": 0.05, "max_failure_rate": 0.5},
        "output": {"dir": str(out)},
    }
    (tmp_path / "run.yaml").write_text(yaml.safe_dump(cfg))
    cli("run", "--config", str(tmp_path / "run.yaml"), "--no-progress", timeout=240)
    stats = json.loads((out / "stats.json").read_text())
    assert stats["conservation_ok"]
    assert stats["session"]["transient_errors"] > 5
    rows = all_rows(out)
    assert sorted(r["id"] for r in rows) == [f"doc-{i:05d}" for i in range(60)]
    assert stats["rows"]["ok"] + stats["rows"]["failed"] == 60
    for r in read_rows(out, "dead_letter"):
        assert r["reason"] and "attempt" in r["reason"]


def test_failure_budget_stops_a_broken_engine(tmp_path, fake_server):
    url = fake_server("--fail-all")
    corpus = write_corpus(tmp_path / "in.jsonl", 80)
    out = tmp_path / "out"
    cfg = {
        "source": {"path": str(corpus)}, "prompts": [ECHO_PROMPT],
        "engine": {"kind": "openai", "base_url": url, "model": "fake-model"},
        "retry": {"max_attempts": 2, "backoff_base_s": 0.0, "max_failure_rate": 0.2, "failure_min_docs": 10},
        "output": {"dir": str(out)}, "max_in_flight": 4,
    }
    (tmp_path / "run.yaml").write_text(yaml.safe_dump(cfg))
    p = cli("run", "--config", str(tmp_path / "run.yaml"), "--no-progress", check=False)
    assert p.returncode == 2 and "engine looks broken" in p.stderr
    dead = read_rows(out, "dead_letter")
    assert 10 <= len(dead) < 80  # stopped early; what failed so far is committed, not lost
    assert {r["attempts"] for r in dead} == {2}  # each dead letter records the calls it spent


def test_same_run_from_yaml_and_flags_gives_identical_config(tmp_path, fake_server):
    url = fake_server()
    corpus = write_corpus(tmp_path / "in.jsonl", 4)
    flags_out = tmp_path / "a"
    cli(*fake_run_args(url, corpus, flags_out, "--max-tokens", "32", "--seed", "7"))
    written = yaml.safe_load((flags_out / "config.yaml").read_text())
    written["output"]["dir"] = str(tmp_path / "b")
    (tmp_path / "b.yaml").write_text(yaml.safe_dump(written))
    cli("run", "--config", str(tmp_path / "b.yaml"), "--no-progress")
    a = yaml.safe_load((flags_out / "config.yaml").read_text())
    b = yaml.safe_load((tmp_path / "b" / "config.yaml").read_text())
    a["output"].pop("dir"), b["output"].pop("dir")
    assert a == b
    strip = lambda rows: sorted((r["id"], r["generation"], str(r["sampling"])) for r in rows)  # noqa: E731
    assert strip(read_rows(flags_out)) == strip(read_rows(tmp_path / "b"))


def test_bad_config_is_one_line(tmp_path):
    (tmp_path / "bad.yaml").write_text("sampling:\n  temprature: 0.3\n")
    p = subprocess.run([sys.executable, "-m", "rephraser.cli", "run", "--config", str(tmp_path / "bad.yaml")],
                       capture_output=True, text=True)
    assert p.returncode == 2 and "sampling.temprature" in p.stderr and len(p.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("shards", [3])
def test_shards_partition_the_input(tmp_path, fake_server, shards):
    url = fake_server()
    corpus = write_corpus(tmp_path / "in.jsonl", 40)
    out = tmp_path / "out"
    for i in range(shards):
        cli(*fake_run_args(url, corpus, out, "--shard", f"{i}/{shards}"))
    ids = [r["id"] for r in read_rows(out)]
    assert sorted(ids) == [f"doc-{i:05d}" for i in range(40)]
    stats = json.loads((out / "stats.json").read_text())
    assert stats["shards"] == shards and stats["conservation_ok"] and stats["rows"]["ok"] == 40
    typed = RunStats.model_validate(stats)  # the merged form round-trips too
    assert typed.to_json() == stats and typed.session is None and len(typed.per_shard) == shards


def test_inline_dedup_report(tmp_path, fake_server):
    url = fake_server()
    corpus = tmp_path / "in.jsonl"
    same = "The same sentence repeated for every document, long enough to be shingled properly here."
    corpus.write_text("".join(json.dumps({"id": f"d{i}", "text": same}) + "\n" for i in range(4)))
    cfg = {"source": {"path": str(corpus)}, "prompts": [ECHO_PROMPT], "postprocess": {"dedup": "report"},
           "engine": {"kind": "openai", "base_url": url, "model": "fake-model"}, "output": {"dir": str(tmp_path / "o")}}
    (tmp_path / "run.yaml").write_text(yaml.safe_dump(cfg))
    cli("run", "--config", str(tmp_path / "run.yaml"), "--no-progress")
    report = json.loads((tmp_path / "o" / "dedup.json").read_text())
    assert report["items"] == 4 and report["exact_dupes"] == 3


def test_context_overflow_truncates_once_then_rejects(tmp_path, fake_server):
    url = fake_server("--context-chars", "700")
    corpus = tmp_path / "in.jsonl"
    fits_after_cut = "Alpha sentence here. " * 30  # ≈630 chars + template: too long once, fits at 70%
    never_fits = "Omega sentence here. " * 200  # ≈4,200 chars: still too long after one cut
    corpus.write_text(json.dumps({"id": "short-enough", "text": fits_after_cut}) + "\n"
                      + json.dumps({"id": "far-too-long", "text": never_fits}) + "\n")
    out = tmp_path / "out"
    cli(*fake_run_args(url, corpus, out))
    rows = {r["id"]: r for r in all_rows(out)}
    assert rows["short-enough"]["status"] == "ok" and rows["short-enough"]["input_truncated"] is True
    assert rows["short-enough"]["input_chars_used"] < len(fits_after_cut)
    assert rows["far-too-long"]["status"] == "rejected"
    assert rows["far-too-long"]["reason"].startswith("context overflow after truncation")


def test_samples_rollout_keeps_all_or_best(tmp_path, fake_server):
    url = fake_server()
    corpus = write_corpus(tmp_path / "in.jsonl", 3)
    out_all, out_best = tmp_path / "all", tmp_path / "best"
    cli(*fake_run_args(url, corpus, out_all, "--rollout", "samples", "--samples", "3"))
    rows = read_rows(out_all)
    assert sorted((r["id"], r["sample"]) for r in rows) == [(f"doc-{i:05d}", s) for i in range(3) for s in range(3)]
    seeds = {r["sampling"]["seed"] for r in rows}
    assert len(seeds) == 9  # every (document, sample) has its own seed
    stats = json.loads((out_all / "stats.json").read_text())
    assert stats["conservation_ok"] and stats["rows"]["expected"] == 9
    cfg = yaml.safe_load((out_all / "config.yaml").read_text())
    cfg["rollout"]["keep"] = "best"
    cfg["output"]["dir"] = str(out_best)
    (tmp_path / "best.yaml").write_text(yaml.safe_dump(cfg))
    cli("run", "--config", str(tmp_path / "best.yaml"), "--no-progress")
    best = read_rows(out_best)
    assert len(best) == 3 and all(r["calls"] == 3 for r in best)


def test_unenforced_contract_keeps_rows_and_still_measures_compliance(tmp_path, fake_server):
    from rephraser.postprocess.stats import compute_stats

    url = fake_server()
    corpus = write_corpus(tmp_path / "in.jsonl", 6)
    out = tmp_path / "out"
    cfg = {"source": {"path": str(corpus)}, "prompts": ["faq"], "postprocess": {"enforce": False},
           "engine": {"kind": "openai", "base_url": url, "model": "fake-model"}, "output": {"dir": str(out)}}
    (tmp_path / "run.yaml").write_text(yaml.safe_dump(cfg))
    cli("run", "--config", str(tmp_path / "run.yaml"), "--no-progress")
    rows = read_rows(out)
    assert len(rows) == 6 and not read_rows(out, "rejected")  # the fake's single Q/A fails qa_pairs, yet is kept
    assert all(r["reason"].startswith("not enforced: fewer than 2 question-answer pairs") for r in rows)
    faq = compute_stats(out, quality=False)["prompts"]["faq"]
    assert faq["ok"] == 6 and faq["kept_failing_contract"] == 6 and faq["format_compliance"] == 0.0
    assert faq["rejection_rules"] == {"validator:qa_pairs": 6}


def test_max_tokens_leaving_no_room_for_the_document_is_a_config_error(tmp_path, fake_server):
    url = fake_server()
    corpus = write_corpus(tmp_path / "in.jsonl", 2)
    p = cli(*fake_run_args(url, corpus, tmp_path / "out", "--n-ctx", "256", "--max-tokens", "250"), check=False)
    assert p.returncode == 2 and "leaves" in p.stderr and "lower max_tokens or raise n_ctx" in p.stderr
    assert len(p.stderr.strip().splitlines()) == 1
