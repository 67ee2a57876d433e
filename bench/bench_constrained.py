"""Constrained decoding on the embedded model: compliance, faithfulness and diversity, off vs on, and its cost.

    .venv/bin/python bench/bench_constrained.py                  # 40 wiki extracts x faq,table,math,tutorial
    .venv/bin/python bench/bench_constrained.py --ratio          # tok/s with vs without constraints, one engine
    .venv/bin/python bench/bench_constrained.py --docs 12 --variants study,small --prompts faq,table

Quality mode runs `rephraser run` once per (variant, constrain) with the same documents and seeds, then
prints, per prompt, format compliance next to faithfulness (invented-number / invented-entity rates,
content recall, 3-gram novelty) and diversity (opening collapse, distinct-2): the study's lesson is that
messy-but-varied outputs can beat tidy ones that all open the same way, so no figure is read alone.
Variants are sampling presets (config.SAMPLING_PRESETS) or `<preset>+exemplar`, which reads
bench/prompts/<prompt>_exemplar.yaml (a library prompt with one short worked example added; not written yet:
the variant stops with a one-line error until they exist).

Ratio mode keeps one engine loaded and alternates rounds of the same requests without and with their
structures (ABBA order), so both see the same machine load; it prints tok/s and the load average per
round and the median ratio. With a small --max-tokens (64) most sequences run to the limit either way, so
both sides decode similarly full batches; the tokens per request of each side are printed to check that.
Numbers on a shared machine are noisy: read the ratio, not the absolute tok/s. Recorded results:
bench/results/constrained_2026-11-29.md, and as figure files (`--figure NAME`, rendered into
docs/results.md by bench/render_docs.py) bench/results/constrained_*.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import time
from pathlib import Path

from rephraser.config import SAMPLING_PRESETS, LlamaCppConfig, RunConfig, SourceConfig
from rephraser.generate.runner import run_config
from rephraser.postprocess.stats import compute_stats

HERE = Path(__file__).parent


def prompt_refs(prompts: list[str], exemplar: bool) -> list[str]:
    if not exemplar:
        return prompts
    paths = [HERE / "prompts" / f"{p}_exemplar.yaml" for p in prompts]
    missing = [str(p) for p in paths if not p.exists()]
    if missing:  # never fall back to the plain prompt: the variant would silently measure the wrong thing
        sys.exit(f"error: the exemplar variant needs {', '.join(missing)} (a copy of the library prompt with one "
                 "short worked example added); none is written yet")
    return [str(p) for p in paths]


def run_variant(out: Path, variant: str, constrain: str, docs: int, prompts: list[str], max_tokens: int,
                threads: int | None) -> dict:
    preset, _, extra = variant.partition("+")
    cfg = RunConfig.model_validate({
        "engine": {"threads": threads},
        "source": {"limit": docs}, "prompts": prompt_refs(prompts, extra == "exemplar"),
        "sampling": {"preset": preset, "max_tokens": max_tokens, "seed": 0},
        "postprocess": {"constrain": constrain},
        "output": {"dir": str(out / f"{variant}-{constrain}")},
    })
    session = run_config(cfg, progress=False).session
    return {"ok_rows": compute_stats(cfg.output.dir, quality=False)["prompts"],
            "all_outputs": compute_stats(cfg.output.dir, quality=False, outputs="all")["prompts"],
            "tok_s": session.output_tok_per_s, "wall_s": session.wall_s}


def pct(v: float | None) -> str:
    return "-" if v is None else f"{100 * v:.0f}%"


def num(v: float | None) -> str:
    return "-" if v is None else f"{v:.2f}"


def cells(s: dict) -> list[str]:
    """Faithfulness then diversity of one stats group."""
    f = s.get("faithfulness") or {}
    d = s.get("distinct") or {}
    return [str(f.get("rows", 0)), pct(f.get("invented_number_rate")), pct(f.get("invented_entity_rate")),
            num(f.get("mean_content_recall")), num(f.get("mean_novelty_3gram")), pct(s.get("opening_collapse")),
            num(d.get("distinct_2")), num(d.get("distinct_3"))]


def compliance_cells(s: dict) -> list[str]:
    judged = (s.get("ok") or 0) + (s.get("contract_rejected") or 0)
    rules = s.get("rejection_rules") or {}
    cut = rules.get("finish_reason", 0)
    others = ", ".join(f"{r} {n}" for r, n in rules.items() if r != "finish_reason") or "-"
    tok = (s.get("output_tokens") or {}).get("mean")
    return [f"{s.get('ok', 0)}/{judged}", pct(s.get("format_compliance")), pct(cut / judged if judged else None),
            "-" if tok is None else f"{tok:.0f}", others]


COMPLIANCE_KEYS = ("ok", "compliance", "cut", "mean_tokens", "other")
FAITH_KEYS = ("n", "invented_numbers", "invented_entities", "recall", "novelty3", "collapse", "distinct2", "distinct3")
COMPLIANCE_HEAD = ["ok", "compliance", "cut at max_tokens", "mean tokens", "other rejections"]
FAITH_HEAD = ["n", "invented-number rate", "invented-entity rate", "content recall", "3-gram novelty",
              "opening collapse", "distinct-2", "distinct-3"]
# How render_docs.py shows this bench's figure files (bench/results/<--figure>.json) in the docs.
def _columns(head: list[str], keys: tuple[str, ...]) -> list[list[str]]:
    return [["prompt", "{prompt}"], ["variant / constrain", "{run}"],
            *[[h, f"{{{k}}}"] for h, k in zip(head, keys, strict=True)]]


VIEWS = {"compliance": {"rows": "compliance", "columns": _columns(COMPLIANCE_HEAD, COMPLIANCE_KEYS)},
         **{kind: {"rows": kind, "columns": _columns(FAITH_HEAD, FAITH_KEYS)} for kind in ("all_outputs", "ok_rows")}}
RATIO_VIEWS = {"ratio": {"text": "constrained/unconstrained tok/s per round {rounds_text}, median **{median:.2f}**, "
                                 "load average {load_first:.1f} → {load_last:.1f} on {cores} cores"}}


def table_rows(results: dict, prompts: list[str]) -> dict[str, list[dict]]:
    """The printed tables as rows (the figure file's data): compliance, all_outputs, ok_rows."""
    def group(r: dict, kind: str, p: str) -> dict:
        # exemplar variants run the bench copy of the prompt: same name inside the file
        return r[kind].get(p) or r[kind].get(f"{p}_exemplar") or {}

    rows: dict[str, list[dict]] = {"compliance": [], "all_outputs": [], "ok_rows": []}
    for p in prompts:
        for label, r in results.items():
            rows["compliance"].append({"prompt": p, "run": label,
                                       **dict(zip(COMPLIANCE_KEYS, compliance_cells(group(r, "ok_rows", p)), strict=True))})
            for kind in ("all_outputs", "ok_rows"):
                rows[kind].append({"prompt": p, "run": label, **dict(zip(FAITH_KEYS, cells(group(r, kind, p)), strict=True))})
    return rows


def print_tables(rows: dict[str, list[dict]]) -> None:
    def table(head: list[str], keys: tuple[str, ...], items: list[dict]) -> None:
        print("| prompt | variant / constrain | " + " | ".join(head) + " |")
        print("|---|---|" + "---|" * len(head))
        for it in items:
            print("| " + " | ".join([it["prompt"], it["run"], *(it[k] for k in keys)]) + " |")

    print("\n**Compliance** (ok / outputs judged by the contract; cut = finish_reason length)\n")
    table(COMPLIANCE_HEAD, COMPLIANCE_KEYS, rows["compliance"])
    for kind, title in (("all_outputs", "every model output (what `enforce: false` would keep)"),
                        ("ok_rows", "ok rows only (what the contract keeps)")):
        print(f"\n**Faithfulness and diversity, {title}**\n")
        table(FAITH_HEAD, FAITH_KEYS, rows[kind])


def command_line() -> str:
    """This run's command, without --figure (what a reader reruns to measure again)."""
    args, skip = [], False
    for a in sys.argv[1:]:
        if skip or a.startswith("--figure"):
            skip = a == "--figure"
            continue
        args.append(a)
    return " ".join(["bench/bench_constrained.py", *args])


def quality(args: argparse.Namespace) -> None:
    out = Path(args.out)
    prompts = args.prompts.split(",")
    results = {}
    runs = [r.split("/") for r in args.runs.split(",")] if args.runs else [
        (v, c) for v in args.variants.split(",") for c in args.constrain.split(",")]
    for variant, constrain in runs:
        t = time.perf_counter()
        results[f"{variant}/{constrain}"] = r = run_variant(out, variant, constrain, args.docs, prompts,
                                                            args.max_tokens, args.threads)
        print(f"# {variant} constrain={constrain}: {time.perf_counter() - t:.0f}s, {r['tok_s']:.1f} tok/s",
              file=sys.stderr)
    rows = table_rows(results, prompts)
    print_tables(rows)
    keys = ("ok", "contract_rejected", "format_compliance", "faithfulness", "opening_collapse", "distinct",
            "rejection_rules", "top_openings", "output_tokens")
    summary = {k: {"tok_s": v["tok_s"], "wall_s": v["wall_s"],
                   **{kind: {p: {key: s.get(key) for key in keys} for p, s in v[kind].items()}
                      for kind in ("ok_rows", "all_outputs")}}
               for k, v in results.items()}
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    print(f"\nwrote {out / 'summary.json'}; presets: {json.dumps(SAMPLING_PRESETS)}", file=sys.stderr)
    if args.figure:
        from figures import write_figure

        where = (f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at the end; run times "
                 + ", ".join(f"{k} {v['wall_s']:.0f} s ({v['tok_s']:.1f} tok/s)" for k, v in results.items()))
        write_figure(args.figure, rows, VIEWS, how=command_line(), where=where)


async def _ratio(args: argparse.Namespace) -> None:
    from rephraser.engines.base import GenerationRequest, OutputStructure, Sampling
    from rephraser.engines.llamacpp import LlamaCppEngine
    from rephraser.prompts.registry import resolve_prompt
    from rephraser.sources import iter_source

    docs = list(iter_source(SourceConfig(limit=args.docs)))
    engine = LlamaCppEngine(LlamaCppConfig(parallel=8, n_ctx=2048, threads=args.threads))
    await engine.start()
    pairs = []
    for name in args.prompts.split(","):
        spec = resolve_prompt(name)
        st = spec.contract.structure
        for i, d in enumerate(docs):
            pairs.append((spec.messages(d.text), OutputStructure(st.kind, st.value) if st else None, i))

    async def round_(constrained: bool) -> float:
        reqs = [GenerationRequest(messages=m, sampling=Sampling(max_tokens=args.max_tokens, seed=i),
                                  structure=st if constrained else None) for m, st, i in pairs]
        t = time.perf_counter()
        outs = await asyncio.gather(*(engine.generate(r) for r in reqs))
        tokens = sum(o.completion_tokens for o in outs)
        # free sequences may stop early (emptier batches, lower tok/s); print it so the ratio can be read
        print(f"  {'constrained' if constrained else 'unconstrained'}: {tokens / len(outs):.0f} tokens/request")
        return tokens / (time.perf_counter() - t)

    ratios, loads = [], []
    try:
        for k in range(args.rounds):
            # alternate which goes first (ABBA) so a load change during a round does not favour one side
            if k % 2:
                cons = await round_(True)
                free = await round_(False)
            else:
                free = await round_(False)
                cons = await round_(True)
            ratios.append(cons / free)
            load = os.getloadavg()[0]  # the machine is shared: say how busy it was
            loads.append(load)
            print(f"round {k + 1}: unconstrained {free:.1f} tok/s, constrained {cons:.1f} tok/s, "
                  f"ratio {cons / free:.3f}, load average {load:.1f} on {os.cpu_count()} cores", flush=True)
    finally:
        await engine.stop()
    print(f"median ratio constrained/unconstrained: {statistics.median(ratios):.3f} over {len(ratios)} rounds "
          f"({len(pairs)} requests per round, up to {engine.cfg.parallel} decoded together, "
          f"max_tokens {args.max_tokens}, {args.threads or 'default'} threads)")
    if args.figure:
        from figures import write_figure

        data = {"rounds": ratios, "rounds_text": ", ".join(f"{r:.2f}" for r in ratios),
                "median": statistics.median(ratios), "load_first": loads[0], "load_last": loads[-1],
                "cores": os.cpu_count()}
        write_figure(args.figure, data, RATIO_VIEWS, how=command_line(),
                     where=f"{len(pairs)} requests per round, {args.threads or 'default'} threads")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--docs", type=int, default=40)
    ap.add_argument("--prompts", default="faq,table,math,tutorial")
    ap.add_argument("--variants", default="study", help="comma-separated: study, small, study+exemplar, ...")
    ap.add_argument("--constrain", default="off,on")
    ap.add_argument("--runs", default=None, help="explicit variant/constrain list, e.g. study/off,study/on,small/on")
    ap.add_argument("--threads", type=int, default=None, help="llama.cpp threads (1 is faster on a busy machine)")
    ap.add_argument("--max-tokens", type=int, default=512)
    ap.add_argument("--out", default="out/bench_constrained")
    ap.add_argument("--ratio", action="store_true", help="measure the tok/s cost of constraints instead")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--figure", default=None, help="also write the tables to bench/results/<FIGURE>.json "
                    "for the docs (bench/render_docs.py)")
    args = ap.parse_args()
    if args.ratio:
        asyncio.run(_ratio(args))
    else:
        quality(args)


if __name__ == "__main__":
    main()
