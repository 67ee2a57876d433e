"""Generation statistics of a run folder, per prompt and per (prompt, model).

What the numbers mean (all text measures are over the ok rows' `generation`, the text training uses):
- format_compliance = well-formed outputs / (ok + rejected rows that have a model output): rows turned
  down only by the content floor count as well-formed. Rejected rows without a raw_generation were
  refused before generation (input problems) and say nothing about the format.
- content_floor_pass = of the well-formed outputs, the share that also met the content floor
  (postprocess/floor.py); verdict_ok = the share of judged outputs that passed both (the row verdict).
- length_ratio = generation chars / source chars (ok rows with a non-empty source).
- opening collapse = share of outputs whose first k words (lowercased, punctuation stripped) equal the
  most common opening; a model that starts everything with the same template scores near 1.
- distinct_n = unique n-grams / total n-grams (n-grams never cross two outputs).
- compression_ratio = zlib-compressed bytes / raw bytes of the outputs joined by newlines; lower
  means more repetitive text.
- quality = Gopher repetition + quality rules (postprocess/quality.py): pass rate and failing rules.
- faithfulness = invented numbers / entities, content recall, 3-gram novelty vs the source
  (postprocess/faithfulness.py): rates and means over ok rows, from the row columns (computed for rows
  written before those columns existed).
With `outputs="all"` the text measures cover every model output (ok rows' generation, contract-rejected
rows' raw_generation): what training would see with `postprocess.enforce: false`, and the only way to
compare a generator whose outputs mostly fail their contract with one whose outputs pass.
"""

from __future__ import annotations

import re
import zlib
from array import array
from collections import Counter
from pathlib import Path
from typing import Any, Literal

import numpy as np

from rephraser.errors import RephraserError
from rephraser.postprocess.contract import NOT_ENFORCED
from rephraser.postprocess.faithfulness import FaithfulnessSummary, measure, rule_of_reason
from rephraser.postprocess.quality import assess
from rephraser.prompts.registry import library
from rephraser.records import FATE_DIRS
from rephraser.run_folder import check_output_folder, iter_rows

STATS_COLUMNS = (
    "id",
    "sample",
    "prompt",
    "model",
    "source_text",
    "generation",
    "raw_generation",
    "completion_tokens",
    "prompt_tokens",
    "status",
    "reason",
    "constraint",
    "invented_numbers",
    "invented_entities",
    "content_recall",
    "novelty_3gram",
    "route",
)
_DIGIT = re.compile(r"\d")
_WORD = re.compile(r"[^\W_]+(?:['’][^\W_]+)*")  # letters/digits, keeping inner apostrophes
_QUALITY_MEANS = ("words", "mean_word_length", "dup_line_frac", "top_ngram_2", "dup_ngram_5")
DISTINCT_EXACT_CAP = 2_000_000  # unique n-grams held exactly per group before switching to HyperLogLog
_U64 = (1 << 64) - 1


class _Distinct:
    """Unique n-gram count: exact (a set of hashes) up to the cap, then a HyperLogLog++ estimate, so
    a run of millions of outputs is counted in bounded memory (HLL p=14: about 1% error)."""

    def __init__(self) -> None:
        self.seen: set[int] = set()
        self.hll: Any = None
        self.total = 0

    def update(self, hashes: list[int]) -> None:
        self.total += len(hashes)
        if self.hll is None:
            self.seen.update(hashes)
            if len(self.seen) <= DISTINCT_EXACT_CAP:
                return
            from datasketch import HyperLogLogPlusPlus

            self.hll = HyperLogLogPlusPlus(p=14, hashfunc=lambda h: h)
            hashes, self.seen = list(self.seen), set()
        for h in hashes:
            self.hll.update(h & _U64)

    @property
    def exact(self) -> bool:
        return self.hll is None

    def ratio(self) -> float | None:
        if not self.total:
            return None
        unique = len(self.seen) if self.hll is None else min(self.total, int(round(self.hll.count())))
        return round(unique / self.total, 4)


def words_of(text: str) -> list[str]:
    """Lowercased words with punctuation stripped: the unit of openings and distinct-n."""
    return _WORD.findall(text.lower())


def classify_reason(reason: str | None, validator: str | None = None) -> str:
    """The contract rule (contract.RULES names) a stored rejection reason came from.

    Rows keep the reason text, not the rule, so the rule is recovered from the reason wording of
    postprocess/contract.py; any other reason came from the prompt's format validator.
    """
    r = (reason or "").strip().lower()
    if not r:
        return "unknown"
    if r.startswith("finish_reason"):
        return "finish_reason"
    if r == "refusal":
        return "refusal"
    if r == "empty output":
        return "empty"
    if r.startswith("length ratio"):
        return "length_window"
    if r.startswith("unit cut mid-word"):
        return "cut"
    if r.startswith("copies the prompt"):
        return "echo"
    if r.startswith("duplicate"):
        return "dedup"
    faith = rule_of_reason(r)
    if faith:
        return faith
    if r.startswith(("missing <", "unterminated <")) and r.endswith("block"):
        return "tagged_block"
    return f"validator:{validator}" if validator else "validator"


def _validator_of(prompt: str) -> str | None:
    """The validator of a library prompt (None for unknown prompts, e.g. a user's own YAML file)."""
    try:
        spec = library().get(prompt)
    except RephraserError:
        return None
    return spec.contract.validator if spec else None


def _summary(values: array | list[float], pcts: tuple[int, ...]) -> dict[str, float | None]:
    if len(values) == 0:
        return {"mean": None, **{f"p{p}": None for p in pcts}}
    a = np.asarray(values, dtype=np.float64)
    out: dict[str, float | None] = {"mean": round(float(a.mean()), 4)}
    for p, v in zip(pcts, np.percentile(a, pcts), strict=True):
        out[f"p{p}"] = round(float(v), 4)
    return out


class _Group:
    """Streaming accumulator for one prompt or one (prompt, model)."""

    def __init__(self, opening_words: int, top: int, quality: bool) -> None:
        self.k, self.top, self.quality = opening_words, top, quality
        self.ids: set[str] = set()
        self.counts: Counter[str] = Counter()
        self.contract_rejected = self.input_rejected = self.kept_failing = 0
        self.reasons: Counter[str] = Counter()
        self.rules: Counter[str] = Counter()
        self.failures: Counter[str] = Counter()
        self.ratios = array("d")
        self.tokens = array("d")
        self.completion_total = self.prompt_total = self.ok_completion_total = 0
        self.openings: Counter[str] = Counter()
        self.ngrams: dict[int, _Distinct] = {n: _Distinct() for n in (1, 2, 3)}
        self.zlib = zlib.compressobj(6)
        self.raw_bytes = self.zip_bytes = 0
        self.q_pass = self.q_docs = 0
        self.q_fail: Counter[str] = Counter()
        self.q_sums: dict[str, float] = dict.fromkeys(_QUALITY_MEANS, 0.0)
        self.faith = FaithfulnessSummary()
        self.constrained = 0
        self.texts = self.no_digit = 0

    def add(self, status: str, row: dict[str, Any], derived: dict[str, Any]) -> None:
        self.ids.add(row["id"])
        self.counts[status] += 1
        ct = row.get("completion_tokens")
        if ct is not None:
            self.tokens.append(ct)
            self.completion_total += ct
        self.prompt_total += row.get("prompt_tokens") or 0
        if status == "rejected":
            if row.get("raw_generation") is None:
                self.input_rejected += 1
            else:
                self.contract_rejected += 1
            self.reasons[row.get("reason") or "(none)"] += 1
            self.rules[derived["rule"]] += 1
            if "text" in derived:  # outputs="all": the rejected output counts in the text measures
                self._add_text(derived)
        elif status == "failed":
            self.failures[row.get("reason") or "(none)"] += 1
        elif status == "ok":
            self.ok_completion_total += ct or 0
            self.constrained += bool(row.get("constraint"))
            if derived["rule"] is not None:  # kept although its contract failed (postprocess.enforce=false)
                self.kept_failing += 1
                self.reasons[row["reason"]] += 1
                self.rules[derived["rule"]] += 1
            self._add_text(derived)

    def _add_text(self, d: dict[str, Any]) -> None:
        self.texts += 1
        self.no_digit += not _DIGIT.search(d["text"])
        if d["ratio"] is not None:
            self.ratios.append(d["ratio"])
        words = d["words"]
        if words:
            self.openings[" ".join(words[: self.k])] += 1
        for n in (1, 2, 3):
            self.ngrams[n].update([hash(tuple(words[i : i + n])) for i in range(len(words) - n + 1)])
        self.faith.add(d["faith"])
        data = d["text"].encode("utf-8", "surrogatepass") + b"\n"
        self.raw_bytes += len(data)
        self.zip_bytes += len(self.zlib.compress(data))
        q = d.get("quality")
        if q is not None:
            self.q_docs += 1
            self.q_pass += q.passed
            self.q_fail.update(q.failures)
            for name in _QUALITY_MEANS:
                self.q_sums[name] += q.metrics[name]

    def finish(self) -> dict[str, Any]:
        ok, rej, failed = self.counts["ok"], self.counts["rejected"], self.counts["failed"]
        judged = ok + self.contract_rejected
        compliant = ok - self.kept_failing
        # Rows the content floor turned down had the right format (the floor is judged after the format rules).
        floor_failed = sum(n for rule, n in self.rules.items() if rule.startswith("faithfulness"))
        formatted = compliant + floor_failed
        outputs = sum(self.openings.values())
        top_openings = [
            {"opening": o, "count": c, "share": round(c / outputs, 4)} for o, c in self.openings.most_common(self.top)
        ]
        zip_total = self.zip_bytes + (len(self.zlib.copy().flush()) if self.raw_bytes else 0)
        out: dict[str, Any] = {
            "documents": len(self.ids),
            "rows": ok + rej + failed,
            "ok": ok,
            "rejected": rej,
            "failed": failed,
            "contract_rejected": self.contract_rejected,
            "input_rejected": self.input_rejected,
            "kept_failing_contract": self.kept_failing,
            "format_compliance": round(formatted / judged, 4) if judged else None,
            # of the well-formed outputs, the share that also met the content floor (postprocess/floor.py)
            "content_floor_pass": round(compliant / formatted, 4) if formatted else None,
            "content_floor_rejected": floor_failed,
            # the row verdict: format AND content floor
            "verdict_ok": round(compliant / judged, 4) if judged else None,
            "rejection_reasons": dict(self.reasons.most_common()),
            "rejection_rules": dict(self.rules.most_common()),
            "failure_reasons": dict(self.failures.most_common()),
            "length_ratio": _summary(self.ratios, (5, 50, 95)),
            "output_tokens": {
                **_summary(self.tokens, (50, 95)),
                "completion_total": self.completion_total,
                "ok_completion_total": self.ok_completion_total,
                "prompt_total": self.prompt_total,
            },
            "opening_collapse": top_openings[0]["share"] if top_openings else None,
            "top_openings": top_openings,
            "distinct": {
                **{f"distinct_{n}": self.ngrams[n].ratio() for n in (1, 2, 3)},
                "exact": all(d.exact for d in self.ngrams.values()),
            },
            "compression_ratio": round(zip_total / self.raw_bytes, 4) if self.raw_bytes else None,
            "constrained_share": round(self.constrained / ok, 4) if ok else None,
            # outputs without a single digit (the study: 23% of SmolLM2's math problems had none)
            "no_digit_share": round(self.no_digit / self.texts, 4) if self.texts else None,
            "faithfulness": self.faith.finish(),
        }
        if self.quality:
            out["quality"] = {
                "documents": self.q_docs,
                "pass_rate": round(self.q_pass / self.q_docs, 4) if self.q_docs else None,
                "failed_rules": dict(self.q_fail.most_common()),
                "means": {k: round(v / self.q_docs, 4) for k, v in self.q_sums.items()} if self.q_docs else {},
            }
        return out


def _derive(status: str, row: dict[str, Any], quality: bool, validator: str | None,
            all_outputs: bool = False) -> dict[str, Any]:
    """Per-row values computed once and shared by the prompt and (prompt, model) groups."""
    d: dict[str, Any] = {"rule": None}
    if status == "rejected":
        # no model output => refused before generation (input problem), not a contract verdict
        d["rule"] = "input" if row.get("raw_generation") is None else classify_reason(row.get("reason"), validator)
    if status == "ok" and (row.get("reason") or "").startswith(NOT_ENFORCED):
        d["rule"] = classify_reason(row["reason"][len(NOT_ENFORCED):], validator)  # kept, but failed its contract
    rejected_output = all_outputs and status == "rejected" and d["rule"] != "input"
    if status == "ok" or rejected_output:
        text = (row.get("generation") if status == "ok" else row.get("raw_generation")) or ""
        src = row.get("source_text") or ""
        d["text"] = text
        d["words"] = words_of(text)
        d["ratio"] = len(text) / len(src) if src else None
        d["quality"] = assess(text) if quality else None
        cols = {k: row.get(k) for k in ("invented_numbers", "invented_entities", "content_recall", "novelty_3gram")}
        if cols["invented_numbers"] is None and text:  # written before the columns existed / a rejected output
            cols = measure(text, src).columns()
        d["faith"] = cols
    return d


def compute_stats(out_dir: str | Path, *, opening_words: int = 3, top: int = 10, quality: bool = True,
                  outputs: Literal["ok", "all"] = "ok") -> dict:
    """Statistics of a run folder: {"prompts": {prompt: stats}, "by_model": {prompt: {model: stats}}, ...}.

    outputs="all": text measures (openings, distinct-n, faithfulness, length, quality) over every model
    output, rejected ones included; counts and compliance are the same either way."""
    if opening_words < 1:
        raise ValueError("opening_words must be >= 1")
    if outputs not in ("ok", "all"):
        raise ValueError(f"outputs must be 'ok' or 'all', got {outputs!r}")
    root = check_output_folder(out_dir)
    prompts: dict[str, _Group] = {}
    by_model: dict[tuple[str, str], _Group] = {}
    by_route: dict[tuple[str, str], _Group] = {}  # (route, prompt), for runs with routes (route_config.py)
    validators: dict[str, str | None] = {}
    for part, row in iter_rows(root, STATS_COLUMNS):
        status = part.status  # the folder is the committed fate
        prompt = row.get("prompt") or part.prompt
        model = row.get("model") or "(unknown)"
        if prompt not in validators:
            validators[prompt] = _validator_of(prompt)
        derived = _derive(status, row, quality, validators[prompt], outputs == "all")
        keyed: list[tuple[Any, dict]] = [(prompt, prompts), ((prompt, model), by_model)]
        if row.get("route"):
            keyed += [((row["route"], ""), by_route), ((row["route"], prompt), by_route)]
        for key, groups in keyed:
            if key not in groups:
                groups[key] = _Group(opening_words, top, quality)
            groups[key].add(status, row, derived)
    nested: dict[str, dict[str, Any]] = {}
    for (p, m), g in sorted(by_model.items()):
        nested.setdefault(p, {})[m] = g.finish()
    routes: dict[str, dict[str, Any]] = {}
    for (r, p), g in sorted(by_route.items()):
        entry = routes.setdefault(r, {"prompts": {}})
        if p:
            entry["prompts"][p] = g.finish()
        else:
            entry.update(g.finish())
    return {
        "out_dir": str(root),
        "opening_words": opening_words,
        "outputs": outputs,
        "statuses": dict(FATE_DIRS),
        "models": sorted({m for _, m in by_model}),
        "prompts": {p: g.finish() for p, g in sorted(prompts.items())},
        "by_model": nested,
        "routes": routes,  # route -> its stats over every prompt, and per prompt ("prompts"); {} without routes
    }
