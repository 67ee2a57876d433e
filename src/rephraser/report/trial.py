"""`rephraser try`: rephrase a handful of documents with one prompt and gather what a prompt designer reads.

A trial is an ordinary run (generate/runner.py: the same engines, rollouts, contract and request cache)
into its own folder under the trial workspace, named by the prompt's content hash and the config's
fingerprint. The documents are a random sample of the source (a seeded reservoir over every usable
document, so the first articles of a file do not stand for all of it) or, with an offset, the next N in
source order; they are written to a small JSONL file of the workspace (`inputs/`, metadata kept) that the
run reads, so the same seed and N find the same folder again and nothing is generated twice. An edited
prompt gets a new folder, and going back to an earlier version finds its folder again. Nothing here
generates text itself.
"""

from __future__ import annotations

import hashlib
import json
import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rephraser.atomic import atomic_write_text
from rephraser.config import RunConfig, SourceConfig
from rephraser.errors import ConfigError
from rephraser.generate.runner import run_config
from rephraser.postprocess.contract import NOT_ENFORCED
from rephraser.postprocess.faithfulness import measure
from rephraser.postprocess.stats import classify_reason, compute_stats
from rephraser.prompts.registry import LIBRARY_DIR, library, prompt_ids, resolve_prompt
from rephraser.prompts.spec import PromptSpec
from rephraser.records import Document, Rejection, Row, document_record
from rephraser.run_folder import iter_rows
from rephraser.sources import iter_source

DEFAULT_DOCS = 5
_ROW_COLUMNS = ("id", "sample", "status", "reason", "source_text", "generation", "raw_generation", "finish_reason",
                "completion_tokens", "model")


@dataclass
class TrialRow:
    """One document and what the prompt made of it."""

    id: str
    source: str
    output: str | None  # the cleaned output (also for a failed contract, to see why)
    raw: str | None  # the model's raw answer when cleaning changed it
    status: str  # ok | rejected | failed (the run's verdict)
    verdict: str  # pass | fail (the contract's verdict) | no answer (the calls failed)
    rule: str | None  # the contract rule that failed (contract.RULES names), None when it passed
    reason: str | None
    length_ratio: float | None  # output chars / source chars
    completion_tokens: int | None
    finish_reason: str | None
    faithfulness: dict[str, Any] = field(default_factory=dict)  # postprocess/faithfulness.py measures


@dataclass
class Trial:
    prompt: PromptSpec
    prompt_ref: str
    folder: Path
    model: str
    engine: str
    rows: list[TrialRow]
    diversity: dict[str, Any]  # over this trial's outputs: opening collapse, distinct-n, faithfulness means
    engine_calls: int  # calls sent to the engine this time
    cache_hits: int  # calls answered by the request cache
    reused_units: int  # documents finished by an earlier trial of the same prompt version
    wall_s: float
    selection: Selection | None = None

    @property
    def passed(self) -> int:
        return sum(r.verdict == "pass" for r in self.rows)

    @property
    def floor_rejected(self) -> int:
        """Rows whose format passed but whose content the floor turned down (postprocess/floor.py)."""
        return sum(bool(r.rule and r.rule.startswith("faithfulness")) for r in self.rows)


@dataclass(frozen=True)
class Selection:
    """Which documents a trial took, said so that it can be taken again."""

    n: int
    seed: int | None  # the sample's seed (None: --offset, source order)
    offset: int | None
    usable: int | None  # usable documents in the source (counted when sampling)
    ids: tuple[str, ...]

    def describe(self) -> str:
        if self.offset is not None:
            return f"documents {self.offset + 1}-{self.offset + len(self.ids)} of the source, in source order"
        return (f"a random sample of {len(self.ids)} of {self.usable:,} usable documents, seed {self.seed} "
                f"(--seed {self.seed} takes the same documents again)")


def new_seed() -> int:
    return random.SystemRandom().randrange(10_000)  # short enough to retype


def pick_documents(source: SourceConfig, n: int, *, seed: int | None = None,
                   offset: int | None = None) -> tuple[list[Document], Selection]:
    """`n` usable documents of `source`: the `offset`-th and following in source order, or else a random
    sample drawn with `seed` (reservoir sampling: one pass, `n` documents in memory, every usable document
    equally likely), returned in source order. No usable document is one clear error."""
    if n < 1:
        raise ConfigError(f"--sample must be at least 1, got {n}")
    src = source.model_copy(update={"limit": None, "shard_index": 0, "shard_count": 1})
    rng = random.Random(seed)
    picked: list[tuple[int, Document]] = []
    rejected: dict[str, int] = {}
    usable = 0
    for item in iter_source(src):
        if isinstance(item, Rejection):
            rejected[item.reason] = rejected.get(item.reason, 0) + 1
            continue
        if not isinstance(item, Document):
            continue
        usable += 1
        if offset is not None:
            if usable > offset:
                picked.append((usable, item))
            if len(picked) >= n:
                break
        elif len(picked) < n:
            picked.append((usable, item))
        else:
            j = rng.randrange(usable)
            if j < n:
                picked[j] = (usable, item)
    where = source.path or "the embedded wiki extracts"
    if not usable:
        why = "; ".join(f"{k}x {r}" for r, k in sorted(rejected.items(), key=lambda kv: -kv[1])[:3])
        raise ConfigError(f"source {where} has no usable document" + (f" ({why})" if why else " (it is empty)"))
    if not picked:
        raise ConfigError(f"--offset {offset} is past the end: source {where} has {usable} usable document(s)")
    docs = [d for _, d in sorted(picked, key=lambda p: p[0])]
    return docs, Selection(n=n, seed=None if offset is not None else seed, offset=offset,
                           usable=None if offset is not None else usable, ids=tuple(d.id for d in docs))


def write_inputs(docs: list[Document], workdir: str | Path) -> Path:
    """The chosen documents as a JSONL file named by their content (the same sample finds the same file)."""
    lines = "".join(json.dumps(document_record(d), ensure_ascii=False) + "\n" for d in docs)
    name = hashlib.sha256(lines.encode("utf-8", "surrogatepass")).hexdigest()[:16]
    path = Path(workdir) / "inputs" / f"{name}.jsonl"
    if not path.is_file():
        atomic_write_text(path, lines)
    return path


def trial_config(prompt_ref: str, base: RunConfig, inputs: Path, workdir: str | Path) -> tuple[RunConfig, PromptSpec]:
    """The run config of a trial: `base` (engine, sampling, ...) on the chosen documents (`inputs`, see
    write_inputs), its output a folder of the workspace named by prompt version and config fingerprint."""
    spec = resolve_prompt(prompt_ref)
    cfg = base.model_copy(deep=True)
    cfg.prompts = [prompt_ref]
    cfg.source = SourceConfig(path=str(inputs), format="jsonl", text_column="text", id_column="id",
                              max_chars=base.source.max_chars)
    # Every output is judged but kept, so diversity is measured over all of them, not only the passing ones.
    cfg.postprocess.enforce = False
    # a prompt file by its name, as runs name it (prompt_ids): the same prompt at another path reuses its trials
    fingerprint = cfg.fingerprint(prompt_ids([prompt_ref], [spec]))
    cfg.output.dir = str(Path(workdir) / f"{spec.name}-{spec.hash}-{fingerprint[:8]}")
    cfg.output.hub_repo = None
    return cfg, spec


def run_trial(prompt_ref: str, base: RunConfig, *, docs: int = DEFAULT_DOCS, workdir: str | Path = "out/try",
              seed: int | None = None, offset: int | None = None,
              on_rows: Callable[[list[Row]], None] | None = None) -> Trial:
    """Rephrase `docs` documents of `base.source` (a random sample drawn with `seed`, or from `offset` in
    source order); `on_rows` sees each document's rows as soon as its calls finish."""
    chosen, selection = pick_documents(base.source, docs, seed=seed, offset=offset)
    cfg, spec = trial_config(prompt_ref, base, write_inputs(chosen, workdir), workdir)
    stats = run_config(cfg, progress=False, on_rows=on_rows)
    folder = Path(cfg.output.dir)
    session = stats.session
    return Trial(prompt=spec, prompt_ref=prompt_ref, folder=folder, model=stats.model or "",
                 engine=stats.engine or "", rows=_rows(folder, spec, list(selection.ids)),
                 diversity=_diversity(folder, spec.name),
                 engine_calls=session.engine_calls if session else 0, cache_hits=session.cache_hits if session else 0,
                 reused_units=session.units_done_before if session else 0, wall_s=session.wall_s if session else 0.0,
                 selection=selection)


def _rows(folder: Path, spec: PromptSpec, order: list[str]) -> list[TrialRow]:
    position = {doc_id: i for i, doc_id in enumerate(order)}
    rows = []
    for _part, r in iter_rows(folder, _ROW_COLUMNS):
        if str(r["id"]) not in position:
            continue  # an earlier, larger trial of this version: show only the documents asked for
        rows.append(_trial_row(r, spec))
    rows.sort(key=lambda t: position[t.id])
    return rows


def _trial_row(r: dict[str, Any], spec: PromptSpec) -> TrialRow:
    status, reason = r["status"], r.get("reason")
    src, out = r.get("source_text") or "", r.get("generation")
    if status == "failed":
        verdict, rule = "no answer", None
    elif status == "rejected":
        verdict = "fail"
        rule = "input" if r.get("raw_generation") is None else classify_reason(reason, spec.contract.validator)
    elif reason and reason.startswith(NOT_ENFORCED):  # a trial keeps every output (see trial_config)
        reason = reason[len(NOT_ENFORCED):]
        verdict, rule = "fail", classify_reason(reason, spec.contract.validator)
    else:
        verdict, rule = "pass", None
    raw = r.get("raw_generation")
    return TrialRow(
        id=str(r["id"]), source=src, output=out, raw=raw if raw is not None and raw != out else None,
        status=status, verdict=verdict, rule=rule, reason=reason,
        length_ratio=len(out) / len(src) if out is not None and src else None,
        completion_tokens=r.get("completion_tokens"), finish_reason=r.get("finish_reason"),
        # the measures with the flagged numbers and names themselves, so a reader can check them by eye
        faithfulness=measure(out, src).to_dict() if out and src else {},
    )


def _diversity(folder: Path, prompt: str) -> dict[str, Any]:
    """The trial's diversity and faithfulness figures from `rephraser stats` (postprocess/stats.py)."""
    s = compute_stats(folder, quality=False)["prompts"].get(prompt) or {}
    return {
        "outputs": s.get("ok", 0),
        "format_compliance": s.get("format_compliance"),
        "opening_collapse": s.get("opening_collapse"),
        "top_opening": (s.get("top_openings") or [{}])[0].get("opening"),
        "distinct": {k: v for k, v in (s.get("distinct") or {}).items() if k.startswith("distinct_")},
        "length_ratio_p50": (s.get("length_ratio") or {}).get("p50"),
        "faithfulness": s.get("faithfulness") or {},
    }


# ---- --watch ------------------------------------------------------------------------------------------
def prompt_file(prompt_ref: str) -> Path:
    """The file --watch follows: a prompt given by path (a library prompt is edited as a copy)."""
    p = Path(prompt_ref)
    if p.is_file():
        return p
    if not prompt_ref.endswith((".yaml", ".yml")) and "/" not in prompt_ref and prompt_ref in library():
        raise ConfigError(f"--watch follows a file you edit; {prompt_ref} is a library prompt: copy "
                          f"{LIBRARY_DIR / (prompt_ref + '.yaml')} and try the copy")
    raise ConfigError(f"prompt file not found: {p}")


def _read(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except OSError:
        return None  # between an editor's delete and its rename: look again


def watch_changes(path: Path, *, poll_s: float = 0.5) -> Iterator[bytes]:
    """Yield the file's content now, then each time it changes (polled: one small file, any editor's way of
    saving — in place, or write-and-rename — and any filesystem). A change is taken once two looks
    `poll_s` apart agree, so a save in progress is not run half-written."""
    last = _read(path)
    if last is None:
        raise ConfigError(f"prompt file not found: {path}")
    yield last
    while True:
        time.sleep(poll_s)
        now = _read(path)
        if now is None or now == last:
            continue
        time.sleep(poll_s)
        if _read(path) != now:
            continue  # still being written
        last = now
        yield now
