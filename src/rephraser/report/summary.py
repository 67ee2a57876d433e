"""Aggregate a run folder into the figures a card and a report print: counts, tokens, licenses, openings.

Computed from the rows themselves (not from stats.json), so a card is right even for a folder that was
merged from several shards or cleaned afterwards.
"""

from __future__ import annotations

import re
import statistics
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from rephraser.records import dumps_json, metadata_dict, sampling_dict, source_attribution, source_license
from rephraser.run_folder import RunFolder, scan_rows

_WORD = re.compile(r"[^\W_]+(?:'[^\W_]+)?")


@dataclass
class PromptSummary:
    prompt: str
    counts: Counter = field(default_factory=Counter)  # status -> rows
    documents: set = field(default_factory=set)
    prompt_tokens: int = 0
    completion_tokens: int = 0  # of ok rows: what the dataset actually contains
    completion_tokens_all: int = 0  # of every row: what the generation cost
    models: Counter = field(default_factory=Counter)
    hashes: Counter = field(default_factory=Counter)
    reasons: Counter = field(default_factory=Counter)  # rejected/failed reason -> rows
    finish_reasons: Counter = field(default_factory=Counter)
    truncated_inputs: int = 0

    @property
    def rows(self) -> int:
        return sum(self.counts.values())

    @property
    def compliance(self) -> float | None:
        """ok / (ok + rejected): failed rows never reached the contract, so they do not count."""
        judged = self.counts["ok"] + self.counts["rejected"]
        return self.counts["ok"] / judged if judged else None


@dataclass
class RunSummary:
    prompts: dict[str, PromptSummary]
    licenses: Counter
    attributions: Counter
    samplings: Counter  # canonical sampling JSON -> rows
    engines: Counter

    @property
    def total(self) -> PromptSummary:
        t = PromptSummary(prompt="(all)")
        for p in self.prompts.values():
            t.counts.update(p.counts)
            t.documents |= {(p.prompt, d) for d in p.documents}
            t.prompt_tokens += p.prompt_tokens
            t.completion_tokens += p.completion_tokens
            t.completion_tokens_all += p.completion_tokens_all
            t.models.update(p.models)
            t.reasons.update(p.reasons)
            t.finish_reasons.update(p.finish_reasons)
            t.truncated_inputs += p.truncated_inputs
        return t


def summarize(run: RunFolder) -> RunSummary:
    prompts = {name: PromptSummary(prompt=name) for name in run.prompts}
    licenses: Counter = Counter()
    attributions: Counter = Counter()
    samplings: Counter = Counter()
    engines: Counter = Counter()
    for _ref, row in scan_rows(run):
        name = row.get("prompt") or "(unknown)"
        s = prompts.setdefault(name, PromptSummary(prompt=name))
        status = row.get("status") or "(unknown)"
        s.counts[status] += 1
        s.documents.add(row.get("id"))
        s.prompt_tokens += row.get("prompt_tokens") or 0
        s.completion_tokens_all += row.get("completion_tokens") or 0
        if status == "ok":
            s.completion_tokens += row.get("completion_tokens") or 0
        else:
            s.reasons[row.get("reason") or "(no reason recorded)"] += 1
        if row.get("model"):
            s.models[row["model"]] += 1
        if row.get("prompt_hash"):
            s.hashes[row["prompt_hash"]] += 1
        if row.get("finish_reason"):
            s.finish_reasons[row["finish_reason"]] += 1
        if row.get("input_truncated"):
            s.truncated_inputs += 1
        meta = metadata_dict(row.get("source_metadata"))
        licenses[str(source_license(meta) or "unknown")] += 1
        if source_attribution(meta):
            attributions[str(source_attribution(meta))] += 1
        sent = sampling_dict(row.get("sampling"))
        if sent:
            samplings[dumps_json(sent)] += 1
        if row.get("engine"):
            engines[row["engine"]] += 1
    return RunSummary(prompts=prompts, licenses=licenses, attributions=attributions, samplings=samplings,
                      engines=engines)


def opening(text: str, words: int = 3) -> str:
    """The first k words, lowercased, punctuation stripped: the unit of 'opening collapse'."""
    return " ".join(_WORD.findall(text.lower())[:words])


def percentile(sorted_values: list[float], q: float) -> float:
    """Linearly interpolated percentile of a sorted list (q in 0..100; numpy's default method)."""
    if not sorted_values:
        return float("nan")
    pos = q / 100 * (len(sorted_values) - 1)
    lo = int(pos)
    hi = min(lo + 1, len(sorted_values) - 1)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (pos - lo)


def generation_stats(run: RunFolder, *, opening_words: int = 3, top: int = 5) -> dict[str, dict[str, Any]]:
    """Per prompt: compliance, opening collapse + top openings, length ratios, rejection reasons.

    Openings and length ratios are measured on ok rows (what training sees); compliance and reasons
    over every row.
    """
    acc: dict[str, dict[str, Any]] = {}
    cols = ("prompt", "status", "reason", "source_text", "generation")
    for _ref, row in scan_rows(run, cols):
        name = row.get("prompt") or "(unknown)"
        a = acc.setdefault(name, {"counts": Counter(), "openings": Counter(), "ratios": [], "reasons": Counter()})
        status = row.get("status") or "(unknown)"
        a["counts"][status] += 1
        if status != "ok":
            a["reasons"][row.get("reason") or "(no reason recorded)"] += 1
            continue
        gen, src = row.get("generation") or "", row.get("source_text") or ""
        a["openings"][opening(gen, opening_words)] += 1
        if src:
            a["ratios"].append(len(gen) / len(src))
    out: dict[str, dict[str, Any]] = {}
    for name in sorted(set(acc) | set(run.prompts)):
        a = acc.get(name) or {"counts": Counter(), "openings": Counter(), "ratios": [], "reasons": Counter()}
        ok, rej = a["counts"]["ok"], a["counts"]["rejected"]
        n_open = sum(a["openings"].values())
        ratios = sorted(a["ratios"])
        out[name] = {
            "rows": sum(a["counts"].values()),
            "ok": ok,
            "rejected": rej,
            "failed": a["counts"]["failed"],
            "compliance": ok / (ok + rej) if ok + rej else None,
            "opening_collapse": a["openings"].most_common(1)[0][1] / n_open if n_open else None,
            "top_openings": [(o, c / n_open) for o, c in a["openings"].most_common(top)],
            "length_ratio": {
                "mean": statistics.fmean(ratios), "p5": percentile(ratios, 5),
                "p50": percentile(ratios, 50), "p95": percentile(ratios, 95),
            } if ratios else None,
            "length_ratios": ratios,
            "rejection_reasons": a["reasons"].most_common(),
        }
    return out
