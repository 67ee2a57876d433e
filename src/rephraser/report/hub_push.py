"""`rephraser push`: a run folder to a Hub dataset repo — the data, then the card, config and statistics.

The plan is made from the folder alone and is what `--dry-run` prints:
- step 1, the data: every committed Parquet file of data/<prompt>/ (and, with include_rejected, of
  rejected/ and dead_letter/), at the same path in the repo, so the card's configs (one per prompt
  plus `all`, as `rephraser card` writes them) find them. Files of parts that never got their
  manifest are never uploaded. They go by huggingface_hub's resumable large-folder upload from a
  staging folder of hard links (OUT/.hub-push/<repo>/): rerunning an interrupted push resumes it.
- step 2, one commit: README.md (the dataset card, made now for this repo and also written to
  OUT/README.md), config.yaml, stats.json (and sharding.json, dedup.json when present) — last, so
  the card never names data the repo does not have yet.
Never uploaded: cache/ (request cache), manifests/, per-shard stats/, the staging folder.
"""

from __future__ import annotations

import os
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rephraser import storage
from rephraser.atomic import atomic_write_text
from rephraser.errors import ConfigError
from rephraser.hub.client import HubRepo, require_token
from rephraser.records import FATE_DIRS
from rephraser.report.card import build_card
from rephraser.report.finephrase import FINEPHRASE_DIR
from rephraser.run_folder import RunFolderError, committed_files, open_run
from rephraser.sizes import human_bytes
from rephraser.writer_leases import sole_writer

STAGE_DIR = ".hub-push"
PUSH_LEASE = "_push"
META_FILES = ("config.yaml", "stats.json", "sharding.json", "dedup.json")
_REPO_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


@dataclass(frozen=True)
class PlannedFile:
    path: str  # in the repo, and relative to the run folder
    size: int
    config: str  # the prompt whose config holds it, or "" for metadata


@dataclass
class PushPlan:
    out: Path
    repo: str
    private: bool
    card: str
    data: list[PlannedFile] = field(default_factory=list)
    meta: list[PlannedFile] = field(default_factory=list)
    left_out: dict[str, int] = field(default_factory=dict)  # what stays local -> files

    @property
    def files(self) -> list[PlannedFile]:
        return self.data + self.meta


def plan_push(out_dir: str | Path, repo: str, *, private: bool = False, include_rejected: bool = False) -> PushPlan:
    if not _REPO_ID.match(repo):
        raise ConfigError(f"--repo must look like org/name (got {repo!r})")
    if storage.is_remote(out_dir):
        raise RunFolderError(f"push reads a local run folder, not {out_dir}: copy it here first, or set output.hub_repo "
                             "so the run uploads its parts as it commits them")
    run = open_run(out_dir)
    out = run.path
    committed = committed_files(out)
    card = build_card(out, repo=repo)
    plan = PushPlan(out, repo, private, card)
    uploaded_fates = ["ok", "rejected", "failed"] if include_rejected else ["ok"]
    for fate, sub in FATE_DIRS.items():
        for f in sorted((out / sub).glob("*/*.parquet")):
            rel = f.relative_to(out).as_posix()
            if rel not in committed:
                plan.left_out["uncommitted part files (no manifest)"] = plan.left_out.get(
                    "uncommitted part files (no manifest)", 0) + 1
            elif fate in uploaded_fates:
                plan.data.append(PlannedFile(rel, f.stat().st_size, f.parent.name if fate == "ok" else ""))
            else:
                key = f"{sub}/ (add --include-rejected)"
                plan.left_out[key] = plan.left_out.get(key, 0) + 1
    # The study's layout (report/finephrase.py), when written: the card names its configs, so it travels too.
    for f in sorted((out / FINEPHRASE_DIR).glob("*/*.parquet")):
        plan.data.append(PlannedFile(f.relative_to(out).as_posix(), f.stat().st_size, f"finephrase-{f.parent.name}"))
    plan.meta.append(PlannedFile("README.md", len(card.encode("utf-8")), ""))
    plan.meta += [PlannedFile(name, (out / name).stat().st_size, "") for name in META_FILES if (out / name).is_file()]
    for sub in ("cache", "manifests", "stats"):
        n = sum(1 for p in (out / sub).rglob("*") if p.is_file()) if (out / sub).is_dir() else 0
        if n:
            plan.left_out[f"{sub}/"] = n
    return plan


def _upload_method(n_files: int) -> str:
    try:
        import huggingface_hub
        from huggingface_hub import HfApi
    except ImportError:
        return "huggingface_hub's resumable folder upload (not installed here: pip install \"rephraser[hub]\")"
    version = huggingface_hub.__version__
    if hasattr(HfApi, "upload_large_folder"):
        return (f"HfApi.upload_large_folder (huggingface_hub {version}): worker threads hash, pre-upload and "
                "commit the files in batches; rerunning resumes from its state in the staging folder")
    try:
        from huggingface_hub import _upload_pipeline as up

        first = up.COMMIT_SIZE_SCALE[up.INITIAL_COMMIT_SIZE_INDEX]
        batches = (f"first commit up to {first} files, then {up.COMMIT_SIZE_SCALE[0]}-{up.COMMIT_SIZE_SCALE[-1]} "
                   f"files per commit (adapted to aim at {up.TARGET_COMMIT_DURATION:.0f} s each), a commit at least "
                   f"every {up.MAX_COMMIT_INTERVAL / 60:.0f} min — {-(-n_files // first)} commit(s) at the first "
                   "batch size")
    except (ImportError, AttributeError, IndexError):
        batches = "committed in batches chosen by the library"
    return (f"HfApi.upload_folder (huggingface_hub {version}: the resumable large-folder upload, streamed through "
            f"Xet): {batches}; rerunning resumes, files already in the repo are skipped")


def format_plan(plan: PushPlan) -> str:
    width = max((len(f.path) for f in plan.files), default=10)
    lines = [f"push plan: {plan.out} -> https://huggingface.co/datasets/{plan.repo} "
             f"(dataset repo, {'private' if plan.private else 'public'} if created; an existing repo keeps its visibility)"]
    configs = sorted({f.config for f in plan.data if f.config})
    lines.append("configs in the card: all (default: data/*/*.parquet), "
                 + ", ".join(f"{c} (data/{c}/*.parquet)" for c in configs) if configs else
                 "configs in the card: all (default) — no prompt has data rows yet")
    size = sum(f.size for f in plan.data)
    lines += ["", f"step 1 — data: {len(plan.data)} file(s), {human_bytes(size)}, by {_upload_method(len(plan.data))}"]
    lines += [f"  {f.path:<{width}}  {human_bytes(f.size):>10}  {f.config and 'config ' + f.config}".rstrip()
              for f in plan.data]
    meta = sum(f.size for f in plan.meta)
    lines += ["", f"step 2 — one commit \"rephraser: dataset card, config and statistics\": {len(plan.meta)} file(s), "
                  f"{human_bytes(meta)}"]
    lines += [f"  {f.path:<{width}}  {human_bytes(f.size):>10}" for f in plan.meta]
    if plan.left_out:
        lines += ["", "not uploaded: " + "; ".join(f"{what} {n} file(s)" for what, n in sorted(plan.left_out.items()))]
    lines += ["", f"total: {len(plan.files)} file(s), {human_bytes(size + meta)}"]
    return "\n".join(lines)


def stage(plan: PushPlan) -> Path:
    """OUT/.hub-push/<repo>/ mirroring the data files (hard links; copies where links fail). Files of an
    earlier push that are no longer planned are removed; the upload library's own state is kept."""
    folder = plan.out / STAGE_DIR / plan.repo.replace("/", "--")
    wanted = {f.path for f in plan.data}
    if folder.is_dir():
        for p in sorted(folder.rglob("*"), reverse=True):
            rel = p.relative_to(folder).as_posix()
            if rel.startswith(".cache"):
                continue
            if p.is_file() and rel not in wanted:
                p.unlink()
            elif p.is_dir() and not any(p.iterdir()):
                p.rmdir()
    for f in plan.data:
        src, dst = plan.out / f.path, folder / f.path
        if dst.exists() and os.path.samefile(src, dst):
            continue
        dst.parent.mkdir(parents=True, exist_ok=True)
        dst.unlink(missing_ok=True)
        try:
            os.link(src, dst)
        except OSError:
            shutil.copy2(src, dst)
    return folder


def push(plan: PushPlan, api: Any | None = None) -> dict[str, Any]:
    """Execute the plan; returns what was sent. `api` is an HfApi (default: a new one). One push of a
    folder at a time (its `_push` lease): two would share the staging folder and the upload's state."""
    require_token()
    with sole_writer(plan.out, "rephraser push", name=PUSH_LEASE):
        return _push(plan, api)


def _push(plan: PushPlan, api: Any | None) -> dict[str, Any]:
    repo = HubRepo(plan.repo, api)
    repo.ensure(plan.private)
    if plan.data:
        repo.upload_folder(stage(plan), plan.private)
    atomic_write_text(plan.out / "README.md", plan.card)
    meta: dict[str, Path | bytes] = {"README.md": plan.card.encode("utf-8")}
    meta.update({f.path: plan.out / f.path for f in plan.meta if f.path != "README.md"})
    repo.commit(meta, "rephraser: dataset card, config and statistics")
    return {"repo": plan.repo, "data_files": len(plan.data), "meta_files": len(meta),
            "bytes": sum(f.size for f in plan.files)}
