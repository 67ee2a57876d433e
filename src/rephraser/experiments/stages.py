"""Running one stage into OUT/stages/<kind>/<key>/ and marking it done.

The marker `stage.json` (kind, key, spec, upstream keys, outputs summary, seconds) is written last and
atomically, so a folder without it is unfinished: the next run redoes it (generation and training
resume inside the folder; the others are cheap and simply rerun).
"""

from __future__ import annotations

import json
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

from rephraser.atomic import atomic_open, atomic_write_bytes, atomic_write_json, atomic_write_text
from rephraser.config import OutputConfig, RunConfig, SourceConfig
from rephraser.errors import RephraserError
from rephraser.evaluate.bpb import bits_per_byte
from rephraser.evaluate.scoring_models import load_scoring_model, resolve_dtype
from rephraser.evaluate.suite import run_suite, write_results
from rephraser.experiments.cells import Stage
from rephraser.experiments.config import EvalSpec, ExperimentConfig
from rephraser.generate.runner import run_config
from rephraser.generate.stats import RunStats, Session
from rephraser.mix.config import MixComponent, MixConfig
from rephraser.mix.mixer import run_mix
from rephraser.mix.text_files import iter_texts
from rephraser.mix.tokenize import is_heldout, load_tokenizer, tokenize_texts, train_bpe
from rephraser.postprocess.stats import compute_stats
from rephraser.records import Rejection, document_record
from rephraser.run_folder import shard_status
from rephraser.sources import iter_source
from rephraser.train.trainer import TrainConfig, train

MARKER = "stage.json"


def is_done(stage: Stage, out: Path) -> bool:
    return (stage.dir(out) / MARKER).is_file()


def read_marker(stage: Stage, out: Path) -> dict[str, Any] | None:
    p = stage.dir(out) / MARKER
    if not p.is_file():
        return None
    return json.loads(p.read_text(encoding="utf-8"))


def run_stage(stage: Stage, cfg: ExperimentConfig, out: Path, log: Any = print) -> dict[str, Any]:
    """Run a stage whose dependencies are done; returns its marker."""
    d = stage.dir(out)
    d.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    outputs = _RUNNERS[stage.kind](stage, cfg, out, d, log)
    marker = {"kind": stage.kind, "key": stage.key, "spec": stage.spec,
              "deps": [[dep.kind, dep.key] for dep in stage.deps],
              "outputs": outputs, "seconds": round(time.perf_counter() - started, 3),
              "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    atomic_write_json(d / MARKER, marker, strict=True)
    return marker


# ---- source: split documents into a training split and a held-out split ------------------------
def _source(stage: Stage, cfg: ExperimentConfig, out: Path, d: Path, log: Any) -> dict[str, Any]:
    src = SourceConfig.model_validate(stage.spec["source"])
    frac = stage.spec["heldout_fraction"]
    counts: Counter[str] = Counter()
    rejected: Counter[str] = Counter()
    with atomic_open(d / "train.jsonl", "w") as tr, atomic_open(d / "heldout.jsonl", "w") as ho:
        for item in iter_source(src):
            if isinstance(item, Rejection):
                rejected[item.reason.split(":")[0]] += 1
                continue
            split = "heldout" if is_heldout(item.text, frac) else "train"
            counts[split] += 1
            line = json.dumps(document_record(item), ensure_ascii=False)
            (ho if split == "heldout" else tr).write(line + "\n")
    if counts["train"] == 0:
        raise RephraserError(f"source {src.path or 'wiki'} gave no training documents ({dict(rejected) or 'empty'})")
    log(f"source: {counts['train']} training / {counts['heldout']} held-out documents"
        + (f", {sum(rejected.values())} rejected records" if rejected else ""))
    return {"train_documents": counts["train"], "heldout_documents": counts["heldout"],
            "rejected_records": dict(rejected)}


def _source_texts(stage: Stage, out: Path, split: str, limit: int | None = None) -> list[str]:
    texts = []
    with open(stage.dir(out) / f"{split}.jsonl", encoding="utf-8") as fh:
        for line in fh:
            texts.append(json.loads(line)["text"])
            if limit is not None and len(texts) >= limit:
                break
    return texts


# ---- tokenizer: one BPE per grid, trained on the sources' training splits ----------------------
def _tokenizer(stage: Stage, cfg: ExperimentConfig, out: Path, d: Path, log: Any) -> dict[str, Any]:
    spec = stage.spec
    texts: list[str] = []
    for src in stage.deps:
        texts.extend(_source_texts(src, out, "train", spec.get("max_docs")))
    tok = train_bpe(texts, vocab_size=spec["vocab_size"], min_frequency=spec["min_frequency"])
    atomic_write_text(d / "tokenizer.json", tok.to_str(pretty=True))
    vocab = tok.get_vocab_size(with_added_tokens=True)
    log(f"tokenizer: BPE with {vocab} tokens trained on {len(texts)} source documents")
    return {"vocab_size": vocab, "documents": len(texts)}


# ---- generate: rephrase the source's training split with one prompt and one generator -----------
def generation_config(stage: Stage, cfg: ExperimentConfig, out: Path, shard: int = 0) -> Any:
    """The RunConfig of one shard of a generate stage: the grid's generation settings on the source's
    training split (its first `rephrase_docs` documents)."""
    g = cfg.generation
    docs, limit = stage.dep("source").dir(out) / "train.jsonl", stage.spec["rephrase_docs"]
    if stage.spec.get("rephrase_pick") == "spread" and limit is not None:
        docs, limit = _spread_documents(docs, limit, stage.dir(out) / "input.jsonl"), None
    if g.shards > 1 and limit is not None:  # `limit` counts per shard: shard a file of the first N instead
        docs, limit = _first_documents(docs, limit, stage.dir(out) / "input.jsonl"), None
    return RunConfig(
        source=SourceConfig(path=str(docs), format="jsonl", id_column="id", limit=limit, shard_index=shard,
                            shard_count=g.shards),
        prompts=stage.meta.get("prompt_refs") or [stage.meta["prompt_ref"]], routing=stage.meta.get("routing"),
        engine=cfg.generators[stage.meta["generator"]].engine,
        sampling=g.sampling, rollout=g.rollout, retry=g.retry,
        postprocess=cfg.generators[stage.meta["generator"]].postprocess_for(g.postprocess),
        max_in_flight=g.max_in_flight, output=OutputConfig(dir=str(stage.dir(out)), rows_per_part=g.rows_per_part),
    )


def _spread_documents(src: Path, n: int, dest: Path) -> Path:
    """n lines spread evenly over src (every k-th), written once like _first_documents."""
    if not dest.is_file():
        with open(src, "rb") as fh:
            lines = fh.readlines()
        step = max(len(lines) / n, 1.0)
        atomic_write_bytes(dest, b"".join(lines[int(i * step)] for i in range(min(n, len(lines)))))
    return dest


def _first_documents(src: Path, n: int, dest: Path) -> Path:
    """The first n lines of src, written once (every shard task writes the same bytes: any winner is right)."""
    if not dest.is_file():
        with open(src, "rb") as fh:
            head = b"".join(line for _, line in zip(range(n), fh, strict=False))
        atomic_write_bytes(dest, head)
    return dest


def run_generate_shard(stage: Stage, cfg: ExperimentConfig, out: Path, shard: int, log: Any = print) -> dict[str, Any]:
    """One shard of a generate stage (a Slurm array task or a Ray task); resumable, no marker."""
    run = generation_config(stage, cfg, out, shard)
    what = f"routes {stage.meta['prompt']} ({', '.join(run.prompts)})" if run.routing else run.prompts[0]
    log(f"generate: {what} with {run.engine.model} ({run.engine.kind}), shard {shard}/{cfg.generation.shards}"
        f" -> {stage.dir(out)}")
    return run_config(run, progress=sys.stderr.isatty())  # a live bar only on a terminal


def _generate(stage: Stage, cfg: ExperimentConfig, out: Path, d: Path, log: Any) -> dict[str, Any]:
    n = cfg.generation.shards
    for s in shard_status(d, n):  # shards finished elsewhere (array tasks) are not started again
        if s.state != "complete":
            run_generate_shard(stage, cfg, out, s.index, log)
    shards = [RunStats.model_validate_json((d / "stats" / f"{s.tag}.json").read_text(encoding="utf-8"))
              for s in shard_status(d, n)]
    rows, tokens, session = _sum_shards(shards)
    computed = compute_stats(d, quality=False)
    per_prompt = {k: v for k, v in computed["prompts"].items() if k != "_input"}
    # one prompt: its stats; a routed stage (several prompts): pooled over them, weighted by rows
    prompt_stats = next(iter(per_prompt.values()), {}) if len(per_prompt) <= 1 else _pooled(per_prompt)
    return {
        "rows": rows, "tokens": tokens, "model": shards[0].model, "engine": shards[0].engine,
        "output_tok_per_s": session.output_tok_per_s, "engine_calls": session.engine_calls,
        "wall_s": session.wall_s, "shards": n,
        "format_compliance": prompt_stats.get("format_compliance"),
        "content_floor_pass": prompt_stats.get("content_floor_pass"),
        "opening_collapse": prompt_stats.get("opening_collapse"),
        "distinct_2": (prompt_stats.get("distinct") or {}).get("distinct_2"),
        "invented_number_rate": (prompt_stats.get("faithfulness") or {}).get("invented_number_rate"),
        "content_recall": (prompt_stats.get("faithfulness") or {}).get("mean_content_recall"),
        "length_ratio_p50": (prompt_stats.get("length_ratio") or {}).get("p50"),
        "ok_completion_tokens": (prompt_stats.get("output_tokens") or {}).get("ok_completion_total"),
        "rejection_reasons": dict(list((prompt_stats.get("rejection_reasons") or {}).items())[:5]),
        "per_prompt": {p: {"ok": v["ok"], "documents": v["documents"], "format_compliance": v["format_compliance"],
                           "no_digit_share": v.get("no_digit_share")} for p, v in per_prompt.items()},
        **({"routes": {r: {"documents": v["documents"], "ok": v["ok"],
                           "prompts": {p: ps["documents"] for p, ps in v["prompts"].items()}}
                       for r, v in computed["routes"].items()}} if computed["routes"] else {}),
    }


def _pooled(per_prompt: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Several prompts' stats as one: rates weighted by the rows they are measured on, totals summed."""
    def mean(get: Any, weight: Any) -> float | None:
        pairs = [(get(v), weight(v)) for v in per_prompt.values() if get(v) is not None and weight(v)]
        total = sum(w for _, w in pairs)
        return round(sum(x * w for x, w in pairs) / total, 4) if total else None

    ok = lambda v: v["ok"]  # noqa: E731
    reasons: Counter[str] = Counter()
    for v in per_prompt.values():
        reasons.update(v.get("rejection_reasons") or {})
    return {
        "format_compliance": mean(lambda v: v["format_compliance"], lambda v: v["ok"] + v["contract_rejected"]),
        "opening_collapse": mean(lambda v: v["opening_collapse"], ok),
        "distinct": {"distinct_2": mean(lambda v: (v.get("distinct") or {}).get("distinct_2"), ok)},
        "faithfulness": {
            "invented_number_rate": mean(lambda v: (v.get("faithfulness") or {}).get("invented_number_rate"), ok),
            "mean_content_recall": mean(lambda v: (v.get("faithfulness") or {}).get("mean_content_recall"), ok)},
        "length_ratio": {"p50": mean(lambda v: (v.get("length_ratio") or {}).get("p50"), ok)},
        "output_tokens": {"ok_completion_total": sum((v.get("output_tokens") or {}).get("ok_completion_total") or 0
                                                     for v in per_prompt.values())},
        "rejection_reasons": dict(reasons.most_common()),
    }


def _sum_shards(shards: list[RunStats]) -> tuple[dict[str, int], dict[str, int], Session]:
    """Rows and tokens summed over shards; throughput per replica = fresh tokens / the summed wall time of
    each shard's last session (what one device achieved: what the time estimates use)."""
    rows: Counter[str] = Counter()
    tokens: Counter[str] = Counter()
    session = Session()
    fresh = 0
    for s in shards:
        rows.update(s.rows.model_dump())
        tokens.update(s.tokens.model_dump())
        last = s.session or Session()
        session.engine_calls += last.engine_calls
        session.wall_s = round(session.wall_s + last.wall_s, 3)
        fresh += last.fresh_completion_tokens
    session.output_tok_per_s = round(fresh / session.wall_s, 2) if session.wall_s > 0 else 0.0
    return dict(rows), dict(tokens), session


# ---- mix: synthetic share + the source's training split (or a baseline corpus) ------------------
def _mix(stage: Stage, cfg: ExperimentConfig, out: Path, d: Path, log: Any) -> dict[str, Any]:
    comps = []
    generates = {g.meta["prompt"]: g for g in stage.deps if g.kind == "generate"}
    for c in stage.spec["components"]:
        if c["kind"] == "rephrased":
            gen = generates[c["prompt"]]
            _require_rows(gen, out)
            name = "synthetic" if len(generates) == 1 else f"synthetic_{c['prompt']}"
            comps.append(MixComponent(path=str(gen.dir(out)), kind="rephrased",  # routed: every prompt's rows
                                      prompt=None if c.get("routed") else c["prompt"], weight=c["weight"], name=name))
        elif c["kind"] == "source":
            comps.append(MixComponent(path=str(stage.dep("source").dir(out) / "train.jsonl"), kind="source",
                                      weight=c["weight"], name="original"))
        else:
            comps.append(MixComponent(path=c["path"], prompt=c["prompt"], text_column=c["text_column"],
                                      weight=c["weight"], name="dataset"))
    tokenizer = stage.dep("tokenizer").dir(out) / "tokenizer.json"
    mix = MixConfig(components=comps, tokens=stage.spec["tokens"], seed=stage.spec["seed"], output=str(d),
                    tokenizer=str(tokenizer))
    manifest = run_mix(mix, overwrite=True)
    log(f"mix: {manifest['achieved_tokens']:,} tokens from {', '.join(c.label() for c in comps)}")
    return {"achieved_tokens": manifest["achieved_tokens"], "documents": manifest["documents"],
            "components": {c["name"]: {k: c[k] for k in ("achieved_share", "unique_documents", "repeat_factor")}
                           for c in manifest["components"]}}


def _require_rows(gen: Stage, out: Path) -> None:
    """A generation that kept no row cannot be mixed: say why (its rejection reasons), not 'no data/'."""
    g = (read_marker(gen, out) or {}).get("outputs", {})
    if (g.get("rows") or {}).get("ok", 1) == 0:
        reasons = "; ".join(f"{n}x {r}" for r, n in (g.get("rejection_reasons") or {}).items()) or "none recorded"
        raise RephraserError(f"generate stage {gen.key} kept no rows ({g['rows']}); top reasons: {reasons}")


# ---- tokenize: the mixture with the grid's tokenizer ---------------------------------------------
def _tokenize(stage: Stage, cfg: ExperimentConfig, out: Path, d: Path, log: Any) -> dict[str, Any]:
    tok_stage = stage.dep("tokenizer")
    tok = load_tokenizer(tok_stage.dir(out) / "tokenizer.json")
    meta = tokenize_texts(iter_texts(stage.dep("mix").dir(out)), d, tok, f"grid tokenizer {tok_stage.key}",
                          heldout_fraction=stage.spec["heldout_fraction"])
    return {"splits": meta["splits"]}


# ---- train: one proxy model per seed ----------------------------------------------------------
def train_config(stage: Stage, out: Path) -> TrainConfig:
    """The TrainConfig of a train stage (what `rephraser train` runs for it, under torchrun or not)."""
    spec = stage.spec
    extra: dict[str, Any] = {"data": str(stage.dep("tokenize").dir(out)), "output": str(stage.dir(out))}
    if "decay" in spec:  # a decay branch starts from its trunk's checkpoint
        trunk = next(d for d in stage.deps if d.kind == "train")
        step = spec["decay"]["at_step"]
        ckpt = trunk.dir(out) / "checkpoints" / f"step-{step:08d}"
        if not ckpt.is_dir():
            raise RephraserError(f"decay: the trunk run {trunk.key} has no checkpoint at step {step} (it finished "
                                 f"before the decay rule existed? delete {trunk.dir(out)} to train it again)")
        extra["init_from"] = str(ckpt)
    if stage.meta.get("keep_steps"):
        extra["keep_steps"] = sorted(set(stage.meta["keep_steps"]))
    return stage.meta["train"].model_copy(update=extra)


def _train(stage: Stage, cfg: ExperimentConfig, out: Path, d: Path, log: Any) -> dict[str, Any]:
    summary_file = d / "summary.json"
    if summary_file.is_file():  # finished before the marker was written (or by torchrun): keep it
        return json.loads(summary_file.read_text(encoding="utf-8"))
    tcfg = train_config(stage, out)
    log(f"train: {tcfg.preset}, seed {tcfg.seed}, data seed {tcfg.data_seed} -> {d}")

    def progress(point: dict, total: int) -> None:  # a long stage says how far it is while it runs
        held = f", held-out bpb {point['bpb']:.4f}" if point.get("bpb") is not None else ""
        log(f"train: step {point['step']}/{total}, loss {point['loss']:.4f}, {point['tok_s']:,.0f} tok/s{held}")

    return train(tcfg, progress=progress)


# ---- evaluate: benchmark suite + bits-per-byte on every source's held-out documents --------------
def _evaluate(stage: Stage, cfg: ExperimentConfig, out: Path, d: Path, log: Any) -> dict[str, Any]:
    ev: EvalSpec = stage.meta["eval"]
    model = load_scoring_model(stage.dep("train").dir(out) / "final", kind="auto", device=ev.device,
                               dtype=resolve_dtype(ev.dtype, ev.profile, ev.device))
    results, details = run_suite(model, profile=ev.profile, tasks=ev.tasks, seed=ev.seed,
                                 num_fewshot=ev.num_fewshot, max_items=ev.max_items, definitions=ev.definitions,
                                 prob_variant=ev.prob_variant, datasets=ev.datasets,
                                 truncate_fewshot=ev.truncate_fewshot)
    heldout = {}
    for src in (s for s in stage.deps if s.kind == "source"):
        texts = _source_texts(src, out, "heldout", ev.heldout_docs)
        heldout[src.key] = bits_per_byte(model, texts) if texts else None
    # Wrapped (no top-level "macro"), so `rephraser report` counts only the per-cell copies in cells/.
    evaluation = {"suite": results, "heldout_bpb": heldout}
    write_results(evaluation, details, d / "evaluation.json")
    macro = results.get("macro")
    log(f"evaluate: macro {macro:.3g}" if macro is not None else "evaluate: no task could be scored")
    items = sum(int(r.get("n_items", 0)) for r in results["results"].values())
    return {"macro": macro, "micro": results.get("micro"), "items": items}


_RUNNERS = {"source": _source, "tokenizer": _tokenizer, "generate": _generate, "mix": _mix,
            "tokenize": _tokenize, "train": _train, "evaluate": _evaluate}
