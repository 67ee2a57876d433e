"""A run folder's identity, written and checked by every writer as it starts (`prepare`, under the folder
lease): run.json holds the config's fingerprint, the prompts' hashes and the fields that change outputs;
config.yaml the resolved RunConfig. A restart with a different config or an edited prompt is refused with
the list of what changed (or accepted with --force); --overwrite clears the previous results first, and
only in a folder a run wrote.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rephraser import storage
from rephraser.atomic import fsync_dir
from rephraser.config import RunConfig
from rephraser.config.run import FILE_PROMPT, fingerprint_of, with_prompt_ids
from rephraser.errors import ResumeError
from rephraser.lease import LeaseHeld
from rephraser.records import FATE_DIRS
from rephraser.run_folder import CONFIG_YAML, OVERWRITE_PREFIX, RUN_JSON
from rephraser.writer_leases import LEASES_DIR, live_shard_writers


def _flatten(d: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(d, dict):
        out: dict[str, Any] = {}
        for k, v in d.items():
            out.update(_flatten(v, f"{prefix}{k}."))
        return out
    return {prefix.rstrip("."): d}


def identity(cfg: RunConfig, prompt_hashes: dict[str, str],
             prompt_ids: Mapping[str, str] | None = None) -> dict[str, Any]:
    """prompt_ids: ref -> id (prompts/registry.py `prompt_ids`), so a prompt file enters by name, not path."""
    fields = cfg.outcome_fields(prompt_ids)
    return {
        "fingerprint": fingerprint_of(fields),
        "prompt_hashes": dict(prompt_hashes),
        "outcome_fields": fields,
    }


@dataclass(frozen=True)
class Destination:
    """An output location checked once, before the writer takes its lease there: writable (a read-only
    location such as https:// or hf:// is refused) and, for --overwrite, a run folder or empty (the lease
    must not create OUT/leases in someone else's folder). Only `check_destination` makes one."""

    location: storage.Location
    overwrite: bool


def check_destination(out: storage.Location, *, overwrite: bool = False) -> Destination:
    storage.check_writable(out)
    if overwrite:
        refuse_foreign_folder(out)
    return Destination(out, overwrite)


def prepare(cfg: RunConfig, prompt_hashes: dict[str, str], *, force: bool = False,
            overwrite: bool = False, tag: str | None = None, dest: Destination | None = None,
            prompt_ids: Mapping[str, str] | None = None) -> storage.Location:
    """Create or validate the output folder (local or remote); write run.json and config.yaml.
    `prompt_hashes`: prompt name -> hash; `prompt_ids`: prompt ref -> its id in the identity (a prompt file
    by name, not path). Called under the folder lease (writer_leases.py) by the writer of shard `tag`.
    `dest`: the output checked before the lease (the runner's; its `overwrite` replaces the flag); without
    one, cfg.output.dir is checked here."""
    dest = dest or check_destination(storage.as_location(cfg.output.dir), overwrite=overwrite)
    out = dest.location
    entries = storage.listdir(out)  # first touch of a remote output: a missing bucket or bad credentials fail here
    if dest.overwrite and set(entries) - {LEASES_DIR}:
        live = live_shard_writers(out, besides=tag)
        if live:
            name, holder = sorted(live.items())[0]
            what = f"shard {name}" if not name.startswith("_") else f"its {name[1:]}"  # _push: a push
            raise LeaseHeld(f"refusing to --overwrite {out}: {what} is being written by {holder.describe()}"
                            f"{f' (and {len(live) - 1} more shards)' if len(live) > 1 else ''}; wait for it to finish")
        clear_outputs(out)
        entries = storage.listdir(out)
    if not entries and storage.exists(out) and not storage.is_dir(out):
        raise ResumeError(f"output path {out} exists and is not a folder")
    storage.makedirs(out)
    for name in entries:
        if name.startswith(OVERWRITE_PREFIX) and isinstance(out, Path):  # an --overwrite killed mid-way
            shutil.rmtree(out / name, ignore_errors=True)  # (we hold the folder lease: its writer is gone)
    ident = identity(cfg, prompt_hashes, prompt_ids)
    run_json = out / RUN_JSON
    if RUN_JSON in entries:
        try:
            old = json.loads(storage.read_text(run_json))
        except (OSError, ValueError) as e:
            raise ResumeError(f"{run_json} is unreadable ({e})") from None
        changes = describe_changes(old, ident)
        if changes and not force:
            raise ResumeError(
                f"{out} was produced with a different configuration ({'; '.join(changes[:4])}"
                f"{'; …' if len(changes) > 4 else ''}); use another --output, --overwrite to start over, "
                "or --force to continue anyway"
            )
    elif any(name in FATE_DIRS.values() for name in entries):
        raise ResumeError(f"{out} holds outputs but no run.json; refusing to mix runs (use another --output)")
    storage.write_json(run_json, ident, sort_keys=True)
    whole_run = cfg.model_copy(deep=True)
    whole_run.source.shard_index = 0  # shards share one config; a worker adds --shard i/N
    storage.write_text(out / CONFIG_YAML, whole_run.to_yaml())
    return out


def refuse_foreign_folder(out: storage.PathLike) -> None:
    """--overwrite deletes only what a run wrote: refuse a non-empty folder that is not a run folder."""
    names = set(storage.listdir(out)) - {LEASES_DIR}
    ours = RUN_JSON in names or "manifests" in names or any(n.startswith(OVERWRITE_PREFIX) for n in names)
    if names and not ours:
        raise ResumeError(f"refusing to --overwrite {out}: it is not empty and not a rephraser output folder")


def clear_outputs(out: storage.Location) -> None:
    """--overwrite: the manifests go first, so from then on nothing is committed; run.json goes last, so
    a kill -9 part-way leaves a folder that a plain rerun redoes from scratch and that --overwrite still
    recognises. Locally every result is first renamed aside (atomic), then deleted; object stores have
    no rename, so there each entry is deleted in the same order. The leases stay."""
    names = [n for n in storage.listdir(out) if n != LEASES_DIR and not n.startswith(OVERWRITE_PREFIX)]
    last = [n for n in (RUN_JSON, CONFIG_YAML) if n in names]
    order = [n for n in names if n == "manifests"] + [n for n in names if n not in ("manifests", *last)] + last
    if not isinstance(out, Path):
        for name in order:
            if storage.is_dir(out / name):
                storage.remove_tree(out / name)
            else:
                storage.remove(out / name)
        return
    trash = out / f"{OVERWRITE_PREFIX}{uuid.uuid4().hex[:12]}"
    trash.mkdir()
    for name in order:
        os.rename(out / name, trash / name)
    fsync_dir(out)
    shutil.rmtree(trash)


def describe_changes(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    changes = []
    old = _paths_as_ids(old, new)
    a, b = _flatten(old.get("outcome_fields", {})), _flatten(new["outcome_fields"])
    for k in sorted(set(a) | set(b)):
        if a.get(k) != b.get(k):
            changes.append(f"{k}: {a.get(k)!r} -> {b.get(k)!r}")
    pa_, pb = old.get("prompt_hashes", {}), new["prompt_hashes"]
    for name in sorted(set(pa_) & set(pb)):
        if pa_[name] != pb[name]:
            changes.append(f"prompt {name} edited (hash {pa_[name]} -> {pb[name]})")
    if not changes and old.get("fingerprint") != new["fingerprint"]:
        changes.append("fingerprint differs")
    return changes


def _paths_as_ids(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """A run.json written before prompt files entered the identity by name lists them by path: read each
    such path as the id of the prompt file at the same place in the new list when the old run had a prompt
    of that name (its content is then compared by the prompt hashes), so an old run resumes, moved or not."""
    fields = old.get("outcome_fields", {})
    before, now = fields.get("prompts"), new["outcome_fields"].get("prompts")
    if not isinstance(before, list) or not isinstance(now, list) or len(before) != len(now):
        return old
    named = old.get("prompt_hashes", {})
    ids = {b: n for b, n in zip(before, now, strict=True) if isinstance(b, str) and not b.startswith(FILE_PROMPT)
           and b != n and n.startswith(FILE_PROMPT) and n[len(FILE_PROMPT):] in named}
    if not ids:
        return old
    fields = with_prompt_ids(fields, ids)
    return {**old, "outcome_fields": fields, "fingerprint": fingerprint_of(fields)}
