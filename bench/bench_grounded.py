"""Outputs that keep the source: off / on / grounded / grounded + context-aware / exemplar, side by side, EN and FR.

    .venv/bin/python bench/bench_grounded.py generate --variants off,on --en 20 --fr 10   # one process per variant or two
    .venv/bin/python bench/bench_grounded.py measure --variants off,grounded --figure NAME  # table + JSON from the runs
    .venv/bin/python bench/bench_grounded.py cost --docs 4 --rounds 2         # context-aware time per token

Documents: Wikipedia lead extracts of the embedded package that no test uses (English and French;
from index 3000 on in title order, every 97th with 400-1500 characters; tests read the first few
hundred), interleaved EN, FR, EN, ... so a run cut short still holds both languages. `generate` runs
`rephraser run` once per variant on the same documents, seeds and sampling (study settings, max_tokens
256, one llama.cpp thread: the machine is shared); `exemplar` is `grounded` with the prompts that carry
a short worked example (library `<prompt>_exemplar`, else bench/prompts/<prompt>_exemplar.yaml). A
variant may run on fewer documents (its own --out, linked into the main one): `measure` compares only the
units (document x prompt) that every variant it is given finished. `measure` re-reads every output and
judges it with the CURRENT contract and measures (so improved measures apply to the same outputs;
`--figure` writes bench/results/NAME.json, which docs/results.md renders): ok share, invented numbers
(math: also those left after correct computed results, postprocess/arithmetic.py), invented entities,
content recall, distinct-2, opening collapse, length ratio, rows with a unit cut mid-word
(postprocess/cuts.py with the contract's word list, postprocess/lexicon.py), language kept
(prompts/language.py), and the hand-labelled usefulness rate of the fixed sample (`--labels`, default
bench/labels/grounded_labels.json; rules in its "rules" field; a label counts only for the text it was
given, by SHA-256 prefix, so labels never carry over to another run's outputs).

`cost` keeps one engine per setting and times the same requests with and without context-aware
decoding (ABBA rounds, same load): time per generated token, ratio cad/plain (`--figure`:
bench/results/context_aware_cost.json).
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import statistics
import sys
import time
from collections import Counter
from pathlib import Path

from rephraser.config import PostprocessConfig, RunConfig
from rephraser.generate.runner import run_config
from rephraser.postprocess.arithmetic import unexplained
from rephraser.postprocess.contract import apply_contract
from rephraser.postprocess.cuts import cut_units
from rephraser.postprocess.faithfulness import measure
from rephraser.postprocess.floor import floor_for
from rephraser.postprocess.lexicon import wiki_lexicon
from rephraser.postprocess.stats import words_of
from rephraser.prompts.language import detect_language
from rephraser.prompts.layouts import source_numbers
from rephraser.prompts.registry import resolve_prompt
from rephraser.records import metadata_dict
from rephraser.run_folder import iter_rows
from rephraser.sources.wiki import wiki_data_path

HERE = Path(__file__).parent
RESULTS = HERE / "results"
PROMPTS = ["faq", "table", "math", "tutorial"]
# variant -> (postprocess.constrain, engine.context_aware_alpha); `exemplar` is grounded with the prompts that
# carry a short worked example (exemplar_refs); `+retry` variants sample again (new seed) while the output fails
# its contract, at most RETRY_N calls (rollout samples, keep first_ok)
VARIANTS = {"off": ("off", 0.0), "on": ("on", 0.0), "grounded": ("grounded", 0.0), "grounded+cad": ("grounded", 0.5),
            "exemplar": ("grounded", 0.0), "grounded+retry": ("grounded", 0.0), "on+retry": ("on", 0.0)}
RETRY_N = 3
# engine/sampling modifiers a variant name may end with (after its decoding mode): `+q8kv` decodes with a q8_0
# KV cache (engine.kv_cache), `+seed1` samples with seed 1 instead of 0 (the seed-to-seed spread that any
# other change has to exceed), e.g. `off+q8kv`, `on+seed1`
MODIFIERS = ("+q8kv", "+seed1")


def decoding_mode(variant: str) -> tuple[str, set[str]]:
    """`on+q8kv` -> ("on", {"+q8kv"}): the VARIANTS key and the modifiers."""
    found = set()
    for m in MODIFIERS:
        if variant.endswith(m):
            found.add(m)
            variant = variant.removesuffix(m)
    if variant not in VARIANTS:
        sys.exit(f"error: unknown variant {variant!r}; known: {', '.join(VARIANTS)} (+ {', '.join(MODIFIERS)})")
    return variant, found
EXEMPLAR_DIR = HERE / "prompts"


def exemplar_refs() -> list[str]:
    """The exemplar prompt of each bench prompt: a library prompt `<p>_exemplar`, else bench/prompts/<p>_exemplar.yaml."""
    from rephraser.prompts.registry import library

    refs, missing = [], []
    for p in PROMPTS:
        path = EXEMPLAR_DIR / f"{p}_exemplar.yaml"
        if f"{p}_exemplar" in library():
            refs.append(f"{p}_exemplar")
        elif path.is_file():
            refs.append(str(path))
        else:
            missing.append(p)
    if missing:
        sys.exit(f"error: the exemplar variant needs an exemplar prompt for {', '.join(missing)} "
                 f"(library `<prompt>_exemplar` or {EXEMPLAR_DIR}/<prompt>_exemplar.yaml)")
    return refs


def base_prompt(name: str) -> str:
    """faq_exemplar -> faq: an exemplar output is compared with the other variants' outputs of its prompt."""
    return name.removesuffix("_exemplar")
FILES = {"en": "summaries_en-us.json", "fr": "summaries_fr-fr.json"}


def held_out(lang: str, n: int, start: int = 3000, stride: int = 97) -> list[dict]:
    data = json.loads((wiki_data_path().parent / FILES[lang]).read_text(encoding="utf-8"))
    titles = sorted(data)
    docs = []
    for i in range(start, len(titles), stride):
        art = data[titles[i]]
        text = (art.get("extract") or "") if isinstance(art, dict) else ""
        if 400 <= len(text) <= 1500 and detect_language(text) == lang:
            docs.append({"id": f"wiki-{lang}/{titles[i]}", "text": text, "lang": lang})
        if len(docs) == n:
            break
    return docs


def docs_file(out: Path, en: int, fr: int, start: int = 3000) -> Path:
    path = out / "docs.jsonl"
    # interleaved (en, fr, en, fr, ...), so a run cut short still holds both languages
    ens, frs = held_out("en", en, start), held_out("fr", fr, start)
    docs = [d for pair in zip(ens, frs, strict=False) for d in pair] + ens[len(frs):] + frs[len(ens):]
    out.mkdir(parents=True, exist_ok=True)
    text = "".join(json.dumps(d, ensure_ascii=False) + "\n" for d in docs)
    if not path.exists() or path.read_text(encoding="utf-8") != text:
        path.write_text(text, encoding="utf-8")
    return path


def generate(args: argparse.Namespace) -> None:
    out = Path(args.out)
    src = docs_file(out, args.en, args.fr, args.start)
    for variant in args.variants.split(","):
        mode, mods = decoding_mode(variant)
        constrain, alpha = VARIANTS[mode]
        cfg = RunConfig.model_validate({
            "source": {"path": str(src), "format": "jsonl", "metadata_columns": ["lang"]},
            "prompts": exemplar_refs() if mode == "exemplar" else PROMPTS,
            "engine": {"threads": args.threads, "parallel": 8, "n_ctx": 2048, "context_aware_alpha": alpha,
                       "kv_cache": "q8_0" if "+q8kv" in mods else "f16"},
            "sampling": {"max_tokens": args.max_tokens, "seed": 1 if "+seed1" in mods else 0,
                         "n": RETRY_N if mode.endswith("+retry") else 1},
            "rollout": {"kind": "samples", "keep": "first_ok"} if mode.endswith("+retry") else {},
            "postprocess": {"constrain": constrain},
            "output": {"dir": str(out / variant)},
        })
        t = time.perf_counter()
        load0 = os.getloadavg()[0]
        s = run_config(cfg, progress=False).session
        meta = {"wall_s": round(time.perf_counter() - t, 1), "tok_s": s.output_tok_per_s,
                "load_start": load0, "load_end": os.getloadavg()[0], "cpus": os.cpu_count()}
        (out / variant / "bench_meta.json").write_text(json.dumps(meta))
        print(f"# {variant}: {meta}", file=sys.stderr)


def judge(variant_dir: Path, lex) -> list[dict]:
    """Every output of one variant, judged again with the current contract and measures."""
    specs: dict[str, object] = {}
    refs = exemplar_refs() if variant_dir.name == "exemplar" else PROMPTS
    for ref in refs:
        spec = resolve_prompt(ref)
        specs[spec.name] = spec
    rows = []
    cols = ["id", "prompt", "status", "source_text", "source_metadata", "raw_generation", "finish_reason", "reason",
            "calls"]
    for _, r in iter_rows(variant_dir, cols):
        lang = metadata_dict(r["source_metadata"]).get("lang", "en")  # a struct (or JSON text in older runs)
        raw = r["raw_generation"]
        row = {"id": r["id"], "prompt": base_prompt(r["prompt"]), "lang": lang, "failed": raw is None,
               "calls": r["calls"] or 0,
               # refused before decoding: the layout cannot ground this prompt on this source (grounded math
               # on a source without numbers); a routing question, shown apart from outputs that failed
               "refused": raw is None and "needs numbers in the source" in (r["reason"] or "")}
        if raw is None:
            rows.append(row | {"ok": False, "format_ok": False, "reason": r["reason"]})
            continue
        # the default run's verdict (format contract + the default content floor), and the format alone
        v = apply_contract(specs[r["prompt"]], raw, source_text=r["source_text"], finish_reason=r["finish_reason"],
                           floor=floor_for(row["prompt"], PostprocessConfig()))
        fmt = apply_contract(specs[r["prompt"]], raw, source_text=r["source_text"], finish_reason=r["finish_reason"])
        text = v.text
        f = measure(text, r["source_text"])
        inv = list(f.invented_numbers)
        if row["prompt"] == "math":
            inv_left = unexplained(inv, text, set(source_numbers(r["source_text"])))
        else:
            inv_left = inv
        row |= {"ok": v.ok, "format_ok": fmt.ok, "reason": v.reason, "text": text, "invented_numbers": inv, "unexplained_numbers": inv_left,
                "invented_entities": list(f.invented_entities), "content_recall": f.content_recall,
                "length_ratio": round(len(text) / max(1, len(r["source_text"])), 3),
                "cuts": cut_units(text, r["source_text"], lex), "out_lang": detect_language(text)}
        rows.append(row)
    return rows


def text_sha(text: str | None) -> str:
    """The first 12 hex digits of the judged text's SHA-256: a label applies to that text only."""
    return hashlib.sha256((text or "").encode("utf-8")).hexdigest()[:12]


def labels_for(all_labels: dict, variant: str, rows: list[dict]) -> tuple[dict[str, str], int]:
    """unit -> label for this variant's rows, only where the label was given to this very text (a label
    file kept from an earlier run would otherwise judge new outputs); and how many were stale."""
    texts = {f"{r['id']}|{r['prompt']}": r.get("text") for r in rows}
    out, stale = {}, 0
    for key, v in all_labels.get("labels", {}).get(variant, {}).items():
        if key not in texts:
            continue
        if "sha" in v and v["sha"] != text_sha(texts[key]):
            stale += 1
            continue
        out[key] = v["label"]
    return out, stale


def summarise(rows: list[dict], labels: dict[str, str]) -> dict:
    judged = [r for r in rows if not r["failed"]]
    ok = [r for r in judged if r["ok"]]

    def share(sel: list[dict], key) -> float | None:
        return round(sum(1 for r in sel if key(r)) / len(sel), 3) if sel else None

    def mean(sel: list[dict], key: str) -> float | None:
        vals = [r[key] for r in sel if r.get(key) is not None]
        return round(statistics.mean(vals), 3) if vals else None

    texts = [r["text"] for r in judged]
    grams = [tuple(w[i:i + 2]) for w in map(words_of, texts) for i in range(len(w) - 1)]
    openings = Counter(" ".join(words_of(t)[:3]) for t in texts)
    fr = [r for r in judged if r["lang"] == "fr"]
    useful = [labels[k] for k in (f"{r['id']}|{r['prompt']}" for r in rows) if k in labels]
    return {
        # ok over every unit: a row refused before decoding (grounded math on a source without numbers) or
        # dead-lettered has no output and counts as not ok; the other measures read the outputs there are
        "outputs": len(rows), "failed": len(rows) - len(judged), "ok_share": share(rows, lambda r: r["ok"]),
        "format_ok_share": share(rows, lambda r: r["format_ok"]),
        "no_output_share": share(rows, lambda r: r["failed"]),
        "refused_share": share(rows, lambda r: r.get("refused")),
        # ok over the units the layout could ground (a router sends the others to another prompt)
        "ok_share_groundable": share([r for r in rows if not r.get("refused")], lambda r: r["ok"]),
        "calls_per_unit": round(sum(r.get("calls", 0) for r in rows) / len(rows), 2) if rows else None,
        "invented_number_rate": share(judged, lambda r: r["invented_numbers"]),
        "unexplained_number_rate": share(judged, lambda r: r["unexplained_numbers"]),
        "invented_entity_rate": share(judged, lambda r: r["invented_entities"]),
        "content_recall": mean(judged, "content_recall"),
        "ok_unexplained_number_rate": share(ok, lambda r: r["unexplained_numbers"]),
        "ok_content_recall": mean(ok, "content_recall"),
        "distinct_2": round(len(set(grams)) / len(grams), 3) if grams else None,
        "opening_collapse": round(openings.most_common(1)[0][1] / len(texts), 3) if texts else None,
        "length_ratio": mean(judged, "length_ratio"),
        "cut_rows": share(judged, lambda r: r["cuts"]), "ok_cut_rows": share(ok, lambda r: r["cuts"]),
        "fr_kept": share(fr, lambda r: r["out_lang"] == "fr"), "fr_rows": len(fr),
        "useful": round(useful.count("useful") / len(useful), 3) if useful else None,
        "marginal": round(useful.count("marginal") / len(useful), 3) if useful else None,
        "labelled": len(useful),
    }


def measure_all(args: argparse.Namespace) -> None:
    out = Path(args.out)
    lex = wiki_lexicon  # the contract's own word list (loaded on first need)
    label_file = Path(args.labels)
    all_labels = json.loads(label_file.read_text(encoding="utf-8")) if label_file.exists() else {}
    result: dict = {"documents": [], "variants": {}, "settings": {
        "prompts": PROMPTS, "sampling": "study (temperature 1.0, top_p 0.95, top_k 64), seed 0 (1 for +seed1 variants)",
        "max_tokens": args.max_tokens, "model": "smollm2-135m (embedded llama.cpp)",
        "variants": {k: {"constrain": c, "context_aware_alpha": a, "max_calls": RETRY_N if k.endswith("+retry") else 1}
                     for k, (c, a) in VARIANTS.items()}}}
    docs = [json.loads(ln) for ln in (out / "docs.jsonl").read_text(encoding="utf-8").splitlines()]
    result["documents"] = [{"id": d["id"], "lang": d["lang"], "chars": len(d["text"])} for d in docs]
    samples = {}
    judged = {v: judge(out / v, lex) for v in args.variants.split(",") if (out / v / "run.json").exists()}
    # only the units (document, prompt) that every compared variant finished: a run cut short by the
    # deadline then compares like with like
    common = set.intersection(*({(r["id"], r["prompt"]) for r in rows} for rows in judged.values()))
    result["units"] = len(common)
    for variant, rows in judged.items():
        vdir = out / variant
        rows = [r for r in rows if (r["id"], r["prompt"]) in common]
        labels, stale = labels_for(all_labels, variant, rows)
        if stale:
            print(f"# {variant}: {stale} labels judged another text (an earlier run): not used", file=sys.stderr)
        per_prompt = {p: summarise([r for r in rows if r["prompt"] == p], labels) for p in PROMPTS}
        per_lang = {lang: summarise([r for r in rows if r["lang"] == lang], labels) for lang in ("en", "fr")}
        meta = json.loads((vdir / "bench_meta.json").read_text()) if (vdir / "bench_meta.json").exists() else {}
        result["variants"][variant] = {"all": summarise(rows, labels), "prompts": per_prompt, "langs": per_lang,
                                       "run": meta}
        samples[variant] = {f"{r['id']}|{r['prompt']}": {"text": r.get("text"), "sha": text_sha(r.get("text")),
                                                          "ok": r["ok"], "reason": r.get("reason")}
                            for r in rows if r["id"] in set(all_labels.get("sample_ids", []))}
    result["labelling"] = {"rules": all_labels.get("rules"), "sample_ids": all_labels.get("sample_ids")}
    (out / "grounded_measures.json").write_text(json.dumps(result, indent=1, ensure_ascii=False) + "\n")
    (out / "sample_texts.json").write_text(json.dumps(samples, indent=1, ensure_ascii=False))
    print(render(result))
    result["documents"] = [d for d in result["documents"] if any(d["id"] == i for i, _ in common)]
    if args.figure:
        write_result_figure(args, result)


def write_result_figure(args: argparse.Namespace, result: dict) -> None:
    """bench/results/grounded_decoding.json: the rows of the docs/results.md tables (bench/figures.py)."""
    from figures import write_figure

    rows, langs = [], []
    for p in [*PROMPTS, "all"]:
        for variant, v in result["variants"].items():
            rows.append({"prompt": p, "variant": variant, **(v["all"] if p == "all" else v["prompts"][p])})
    for lang in ("en", "fr"):
        for variant, v in result["variants"].items():
            langs.append({"lang": lang, "variant": variant, **v["langs"][lang]})
    # a run stopped before its end (the deadline) wrote no bench_meta.json: its wall time is unknown
    runs = [{"variant": k, **v["run"]} for k, v in result["variants"].items() if v["run"]]
    loads = [x for r in runs for x in (r.get("load_start"), r.get("load_end")) if x is not None]
    data = {"rows": rows, "langs": langs, "runs": runs, "documents": result["documents"], "units": result["units"],
            "document_count": len(result["documents"]),
            "settings": result["settings"], "labelling": result["labelling"]}
    cols = [["prompt", "{prompt}"], ["variant", "{variant}"], ["outputs", "{outputs}"]] + [
        [head, "{" + key + (":.0%" if kind == "pct" else ":.2f") + "}"] for key, head, kind in COLUMNS]
    lang_cols = [["source", "{lang}"], ["variant", "{variant}"], ["outputs", "{outputs}"], ["ok", "{ok_share:.0%}"],
                 ["invented numbers", "{unexplained_number_rate:.0%}"], ["recall", "{content_recall:.2f}"],
                 ["rows cut mid-word", "{cut_rows:.0%}"], ["French kept", "{fr_kept:.0%}"],
                 ["useful (labelled)", "{useful:.0%} of {labelled}"]]
    views = {"table": {"rows": "rows", "columns": cols}, "langs": {"rows": "langs", "columns": lang_cols}}
    if runs:
        views["runs"] = {"rows": "runs", "columns": [["variant", "{variant}"], ["wall s", "{wall_s}"],
                                                     ["output tok/s", "{tok_s:.1f}"], ["load at start", "{load_start:.1f}"],
                                                     ["load at end", "{load_end:.1f}"]]}
    where = args.where or (f"shared {os.cpu_count()}-core machine, load average {min(loads):.0f}-{max(loads):.0f} "
                           "during generation" if loads else "shared machine")
    # the document counts of the generation that ran (docs.jsonl), not this measure call's --en/--fr defaults
    langs = Counter(d["lang"] for d in result["documents"])
    write_figure(args.figure, data, views, how=f"bench/bench_grounded.py generate --variants {args.variants} "
                 f"--en {langs['en']} --fr {langs['fr']} --start {args.start} --max-tokens {args.max_tokens} && "
                 f"bench/bench_grounded.py measure --variants {args.variants} --figure {args.figure}", where=where,
                 note=f"{result['units']} units (document x prompt) that every variant finished, "
                      f"{len(result['documents'])} documents" + (f"; {args.note}" if args.note else ""))


COLUMNS = [("no_output_share", "no output", "pct"), ("refused_share", "refused: no source numbers", "pct"),
           ("format_ok_share", "format ok", "pct"), ("ok_share", "ok (+ content floor)", "pct"),
           ("ok_share_groundable", "ok of groundable units", "pct"), ("calls_per_unit", "calls per unit", "num"), ("unexplained_number_rate", "invented numbers", "pct"),
           ("invented_entity_rate", "invented entities", "pct"), ("content_recall", "recall", "num"),
           ("distinct_2", "distinct-2", "num"), ("opening_collapse", "opening collapse", "pct"),
           ("length_ratio", "length ratio", "num"), ("cut_rows", "rows cut mid-word", "pct"),
           ("ok_cut_rows", "ok rows cut", "pct"), ("fr_kept", "French kept", "pct"), ("useful", "useful", "pct")]


def _fmt(v, kind: str) -> str:
    if v is None:
        return "-"
    return f"{100 * v:.0f}%" if kind == "pct" else f"{v:.2f}"


def render(result: dict) -> str:
    """The markdown table docs/results.md shows (per prompt, then all prompts), from grounded.json."""
    head = "| prompt | variant | n | " + " | ".join(c[1] for c in COLUMNS) + " |"
    lines = [head, "|" + "---|" * (len(COLUMNS) + 3)]
    for p in [*PROMPTS, "all"]:
        for variant, v in result["variants"].items():
            s = v["all"] if p == "all" else v["prompts"][p]
            lines.append(f"| {p} | {variant} | {s['outputs']} | " + " | ".join(_fmt(s.get(k), kind) for k, _, kind in COLUMNS) + " |")
    return "\n".join(lines)


async def _cost(args: argparse.Namespace) -> None:
    from rephraser.config import LlamaCppConfig
    from rephraser.engines.base import GenerationRequest, Sampling
    from rephraser.engines.llamacpp import LlamaCppEngine

    docs = held_out("en", args.docs)
    spec = resolve_prompt("faq")
    engines = {}
    for alpha in (0.0, 0.5):
        engines[alpha] = LlamaCppEngine(LlamaCppConfig(parallel=4, n_ctx=1024, threads=args.threads,
                                                     context_aware_alpha=alpha))
        await engines[alpha].start()

    async def round_(alpha: float) -> float:
        reqs = [GenerationRequest(messages=spec.messages(d["text"]), contrast=spec.messages("") if alpha else None,
                                  sampling=Sampling(max_tokens=args.max_tokens, seed=i, temperature=0.0))
                for i, d in enumerate(docs)]
        t = time.perf_counter()
        outs = await asyncio.gather(*(engines[alpha].generate(r) for r in reqs))
        return (time.perf_counter() - t) / max(1, sum(o.completion_tokens for o in outs))

    ratios = []
    try:
        for k in range(args.rounds):
            order = (0.0, 0.5) if k % 2 == 0 else (0.5, 0.0)  # ABBA: a load change favours neither
            times = {a: await round_(a) for a in order}
            ratios.append(times[0.5] / times[0.0])
            print(f"round {k + 1}: plain {1000 * times[0.0]:.0f} ms/token, context-aware {1000 * times[0.5]:.0f} "
                  f"ms/token, ratio {ratios[-1]:.2f}, load {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores",
                  flush=True)
    finally:
        for e in engines.values():
            await e.stop()
    med = statistics.median(ratios)
    print(f"median time-per-token ratio context-aware/plain: {med:.2f} over {len(ratios)} rounds "
          f"({len(docs)} requests of {args.max_tokens} tokens, greedy, prefill included)")
    if args.figure:
        from figures import write_figure

        data = {"ratios": ", ".join(f"{r:.2f}" for r in ratios), "median": med, "docs": len(docs),
                "max_tokens": args.max_tokens, "threads": args.threads, "load_end": os.getloadavg()[0]}
        write_figure(args.figure, data, {"ratio": {"text": (
            "time per token with context-aware decoding / without, per round {ratios}, median **{median:.2f}** "
            "({docs} requests of {max_tokens} tokens decoded together, greedy, prefill included, {threads} thread, "
            "load average {load_end:.0f} on 2 cores at the end)")}},
            how=f"bench/bench_grounded.py cost --docs {args.docs} --rounds {args.rounds} --max-tokens {args.max_tokens}",
            where="shared 2-core machine")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("mode", choices=["generate", "measure", "cost"])
    ap.add_argument("--variants", default=",".join(VARIANTS))
    ap.add_argument("--en", type=int, default=4)
    ap.add_argument("--fr", type=int, default=2)
    ap.add_argument("--docs", type=int, default=4, help="cost: requests per round")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--start", type=int, default=3000,
                    help="generate: the first title index of the held-out documents (3000: the measured set; "
                         "use another, e.g. 3050 (never one of the measured titles: same stride, other offset), as a development set so fixes are not tuned on the measured one)")
    ap.add_argument("--max-tokens", type=int, default=256)
    ap.add_argument("--out", default="out/bench_grounded7")
    ap.add_argument("--figure", default=None, help="measure/cost: the figure file (bench/results/NAME.json) to write")
    ap.add_argument("--where", default=None, help="measure: the machine and its load, for the figure")
    ap.add_argument("--note", default=None, help="measure: anything a reader of the figure must know")
    ap.add_argument("--labels", default=str(HERE / "labels" / "grounded_labels.json"),
                    help="measure: the hand labels of the fixed sample (rules, sample_ids, labels per variant)")
    args = ap.parse_args()
    if args.mode == "generate":
        generate(args)
    elif args.mode == "measure":
        measure_all(args)
    else:
        asyncio.run(_cost(args))


if __name__ == "__main__":
    main()
