"""Re-apply (possibly new) prompt contracts to a finished run, writing a NEW output folder.

Every row with a model output (ok and rejected) is judged again from its raw_generation, so a fixed
validator or a wider length window can rescue rows, and a stricter one can reject them, without
calling the model again. Rows without a model output (input rejections) and dead-lettered rows are
carried over unchanged. The input folder is only read; every file of the new folder is written to a
temp name, fsynced and renamed. With dedup "drop", duplicates among the new ok rows move to rejected/
with a "duplicate ... of ..." reason (never a silent drop); "report" only counts them.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from rephraser import storage
from rephraser.config import FloorThresholds, PostprocessConfig
from rephraser.errors import ConfigError, RephraserError
from rephraser.postprocess.contract import apply_contract
from rephraser.postprocess.dedup import DedupReport, RowKey, find_duplicates
from rephraser.postprocess.floor import floor_for
from rephraser.prompts.registry import resolve_prompt
from rephraser.prompts.spec import PromptSpec
from rephraser.records import FATE_DIRS, dicts_to_table
from rephraser.run_folder import (
    CONFIG_YAML,
    PartFile,
    RunFolderError,
    check_output_folder,
    list_parts,
    read_config,
    read_part,
)

DedupMode = Literal["off", "report", "drop"]


@dataclass
class CleanSummary:
    rows_in: Counter[str] = field(default_factory=Counter)  # by status
    rows_out: Counter[str] = field(default_factory=Counter)
    transitions: Counter[tuple[str, str, str]] = field(default_factory=Counter)  # (from, to, rule)
    text_changed: int = 0  # ok -> ok rows whose cleaned text differs
    not_rejudged: int = 0  # multi-chunk rows: their per-chunk verdicts cannot be recomputed from the joined text
    dedup: DedupReport | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "rows_in": dict(self.rows_in),
            "rows_out": dict(self.rows_out),
            "transitions": [{"from": a, "to": b, "rule": r, "rows": n} for (a, b, r), n in sorted(self.transitions.items())],
            "text_changed": self.text_changed,
            "not_rejudged_chunked": self.not_rejudged,
            "dedup": self.dedup.to_dict() if self.dedup else None,
        }


def _run_config(root: storage.Location) -> dict[str, Any]:
    """The run's config.yaml, read once ({} when absent or unreadable: the library still applies)."""
    try:
        return read_config(root)
    except RunFolderError:
        return {}


def _config_prompt_refs(config: dict[str, Any]) -> list[str]:
    refs = config.get("prompts")
    return [r for r in refs if isinstance(r, str)] if isinstance(refs, list) else []


def _config_allows_length_finish(config: dict[str, Any]) -> bool | None:
    """True when the run accepted length-cut outputs (postprocess.allow_length_finish), as the runner does."""
    post = config.get("postprocess")
    return True if isinstance(post, dict) and post.get("allow_length_finish") is True else None


def _config_floor(config: dict[str, Any], prompt: str) -> FloorThresholds | None:
    """The content floor the run's config.yaml asks for (postprocess.floor; absent = the default floor)."""
    post = config.get("postprocess")
    try:
        return floor_for(prompt, PostprocessConfig.model_validate(post if isinstance(post, dict) else {}))
    except ValueError:
        return floor_for(prompt, PostprocessConfig())


def resolve_specs(config: dict[str, Any], prompts: set[str], overrides: dict[str, PromptSpec]) -> dict[str, PromptSpec]:
    """The spec per prompt folder: --prompt-file override, else the run's config.yaml ref, else the library."""
    unknown = sorted(set(overrides) - prompts)
    if unknown:
        raise ConfigError(f"--prompt-file names a prompt that is not in this run: {', '.join(unknown)}")
    by_name: dict[str, PromptSpec] = {}
    for ref in _config_prompt_refs(config):
        try:
            spec = resolve_prompt(ref)
        except RephraserError:
            continue  # a prompt file that moved since the run; the library or an override may still cover it
        by_name[spec.name] = spec
    specs: dict[str, PromptSpec] = {}
    for p in sorted(prompts):
        if p in overrides:
            specs[p] = overrides[p]
        elif p in by_name:
            specs[p] = by_name[p]
        else:
            try:
                specs[p] = resolve_prompt(p)
            except RephraserError:
                raise ConfigError(f"no prompt spec found for {p!r}: pass --prompt-file {p}=PATH") from None
    return specs


def _groups(parts: list[PartFile]) -> dict[tuple[str, str], dict[str, PartFile]]:
    """(prompt, file name) -> {status: part}: a row may move between data/ and rejected/ under one name."""
    out: dict[tuple[str, str], dict[str, PartFile]] = {}
    for part in parts:
        out.setdefault((part.prompt, part.name), {})[part.status] = part
    return out


def _judged_rows(
    group: dict[str, PartFile], spec: PromptSpec, allow_length_finish: bool | None,
    floor: FloorThresholds | None = None,
) -> Iterator[tuple[dict[str, Any], str | None, str, str | None, str | None]]:
    """(row as stored, new generation, new status, new reason, rule), ok rows first, then rejected."""
    for status in ("ok", "rejected"):
        if status not in group:
            continue
        for row in read_part(group[status]).to_pylist():
            if row["raw_generation"] is None or _multi_chunk(row):
                # never generated, or judged chunk by chunk by the runner: carried over as they are
                yield row, row["generation"], status, row["reason"], None
                continue
            v = apply_contract(
                spec,
                row["raw_generation"],
                source_text=row["source_text"] or "",
                finish_reason=row["finish_reason"] or "stop",
                allow_length_finish=allow_length_finish,
                floor=floor,
            )
            yield row, v.text, ("ok" if v.ok else "rejected"), v.reason, v.rule


def _multi_chunk(row: dict[str, Any]) -> bool:
    return row["rollout"] == "chunked" and (row["calls"] or 1) > 1


def _key(row: dict[str, Any]) -> RowKey:
    return RowKey(row["prompt"], row["id"], int(row["sample"] or 0), row["model"] or "")


def reapply_contracts(
    out_dir: storage.PathLike,
    new_dir: storage.PathLike,
    *,
    overrides: dict[str, PromptSpec] | None = None,
    dedup: DedupMode = "off",
    threshold: float = 0.8,
    allow_length_finish: bool | None = None,
) -> CleanSummary:
    root = check_output_folder(out_dir)
    dest = storage.as_location(new_dir)
    if _inside(dest, root):
        raise RunFolderError(f"--output must be a new folder outside {root}")
    storage.check_writable(dest)
    if storage.listdir(dest) or (storage.exists(dest) and not storage.is_dir(dest)):
        raise RunFolderError(f"output folder {dest} already exists and is not empty; choose a new one")
    parts = list_parts(root)
    groups = _groups([p for p in parts if p.status != "failed"])
    config = _run_config(root)
    specs = resolve_specs(config, {p.prompt for p in parts}, overrides or {})
    if allow_length_finish is None:
        allow_length_finish = _config_allows_length_finish(config)

    summary = CleanSummary()
    dropped: dict[Any, tuple[Any, str]] = {}
    if dedup != "off":  # first pass: dedup the NEW ok texts, per prompt
        report = DedupReport()
        for prompt in sorted({p for p, _ in groups}):
            items = (
                (_key(row), text or "")
                for (p, _name), g in sorted(groups.items())
                if p == prompt
                for row, text, st, _reason, _rule in _judged_rows(g, specs[p], allow_length_finish,
                                                                        _config_floor(config, p))
                if st == "ok"
            )
            report.merge(find_duplicates(items, threshold=threshold))
        summary.dedup = report
        if dedup == "drop":
            dropped = report.duplicate_of

    storage.makedirs(dest)
    for (prompt, name), group in sorted(groups.items()):
        out_rows: dict[str, list[dict[str, Any]]] = {"ok": [], "rejected": []}
        for row, text, status, reason, rule in _judged_rows(group, specs[prompt], allow_length_finish,
                                                             _config_floor(config, prompt)):
            old_status = row["status"]
            summary.rows_in[old_status] += 1
            summary.not_rejudged += row["raw_generation"] is not None and _multi_chunk(row)
            if status == "ok" and _key(row) in dropped:
                kept, kind = dropped[_key(row)]
                status, reason, rule = "rejected", f"duplicate ({kind}) of {kept}", f"dedup:{kind}"
            if old_status != status or (status == "rejected" and reason != row["reason"]):
                summary.transitions[(old_status, status, rule or "ok")] += 1
            elif status == "ok" and text != row["generation"]:
                summary.text_changed += 1
            out_rows[status].append({**row, "generation": text, "status": status, "reason": reason})
            summary.rows_out[status] += 1
        for status, rows in out_rows.items():
            if rows:
                table = dicts_to_table(rows)
                storage.write_table(table, dest / FATE_DIRS[status] / prompt / name)
    for part in parts:
        if part.status == "failed":
            rows = read_part(part)
            summary.rows_in["failed"] += rows.num_rows
            summary.rows_out["failed"] += rows.num_rows
            target = dest / FATE_DIRS["failed"] / part.prompt / part.name
            storage.write_bytes(target, storage.read_bytes(part.path))
    if storage.exists(root / CONFIG_YAML):
        storage.write_bytes(dest / CONFIG_YAML, storage.read_bytes(root / CONFIG_YAML))
    record = {
        "source": str(root),
        "prompts": {p: {"hash": s.hash, "version": s.version} for p, s in sorted(specs.items())},
        "dedup": dedup,
        "allow_length_finish": allow_length_finish,
        **summary.to_dict(),
    }
    storage.write_json(dest / "clean.json", record)
    return summary


def _inside(dest: storage.Location, root: storage.Location) -> bool:
    """dest is root or below it (compared resolved for local paths, as URLs for remote ones)."""
    if isinstance(dest, Path) and isinstance(root, Path):
        return dest.resolve() == root.resolve() or root.resolve() in dest.resolve().parents
    return str(dest) == str(root) or str(dest).startswith(str(root).rstrip("/") + "/")
