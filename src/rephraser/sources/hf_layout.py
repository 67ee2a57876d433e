"""Hugging Face dataset layouts: which files of a folder or repo hold the chosen config and split.

Recognised, in this order, for a folder (local, or any URL such as hf://datasets/org/name):
- `save_to_disk` of a DatasetDict: `dataset_dict.json` lists the splits, each a `save_to_disk` folder;
- `save_to_disk` of a Dataset: `state.json` lists its Arrow files (`data-NNNNN-of-NNNNN.arrow`);
- a Hub repo layout: README.md front matter with `configs:` (config_name, data_files as a glob, a list
  of globs, or a list of {split, path}; or data_dir), read the way `datasets` reads it;
- a dataset card without `configs:` (or an hf:// repo, or any folder when `source.split` is given):
  the split is inferred from file and folder names (train/training, validation/valid/val/dev,
  test/testing/eval/evaluation), as `datasets` does;
- otherwise None: the caller reads every data file below the folder.
Only small metadata files (README.md, JSON) are read here; data files are only listed.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import yaml

from rephraser import storage
from rephraser.config import SourceConfig
from rephraser.errors import SourceError
from rephraser.storage import Location, Url

GLOB_CHARS = "*?["
SPLIT_WORDS = {
    "train": ("train", "training"),
    "validation": ("validation", "valid", "val", "dev"),
    "test": ("test", "testing", "eval", "evaluation"),
}
_TOKENS = re.compile(r"[^a-z]+")


def split_glob(path: str) -> tuple[str, str | None]:
    """'hf://datasets/o/n/sample/10BT/*.parquet' -> ('hf://datasets/o/n/sample/10BT', '*.parquet')."""
    first = min((i for i in (path.find(c) for c in GLOB_CHARS) if i >= 0), default=-1)
    if first < 0:
        return path, None
    cut = path.rfind("/", 0, first)
    if cut < 0:
        return ".", path
    return path[:cut] or "/", path[cut + 1 :]


def glob_names(root: Location, patterns: list[str]) -> list[str]:
    """Relative names of the files below root matching any pattern (sorted, each once)."""
    names: set[str] = set()
    for pattern in patterns:
        for match in storage.glob(root, pattern.lstrip("/")):
            if isinstance(match, Path) and not match.is_file():
                continue  # a folder the pattern also matches
            names.add(str(match.relative_to(root)).replace("\\", "/"))
    return sorted(names)


def dataset_files(root: Location, cfg: SourceConfig) -> list[str] | None:
    """Relative names of the files holding cfg.config / cfg.split, or None for a plain folder."""
    if storage.exists(root / "dataset_dict.json"):
        splits = _json(root / "dataset_dict.json").get("splits") or []
        split = choose_split(cfg.split, splits, f"{root} (dataset_dict.json)")
        return [f"{split}/{name}" for name in _saved_arrow_files(root / split, None)]
    if storage.exists(root / "state.json") and storage.exists(root / "dataset_info.json"):
        return _saved_arrow_files(root, cfg.split)
    card = _card(root)
    if card is not None and card.get("configs"):
        return _config_files(root, card["configs"], cfg)
    if cfg.config:
        raise SourceError(f"source.config {cfg.config!r} given, but {root} declares no configs "
                          "(no `configs:` in its README.md)")
    if card is not None or cfg.split or (isinstance(root, Url) and root.protocol == "hf"):
        return _inferred_split(root, cfg.split)
    return None


def choose_split(wanted: str | None, splits: list[str], where: str) -> str:
    if wanted:
        if wanted not in splits:
            raise SourceError(f"{where} has no split {wanted!r} (splits: {', '.join(splits) or 'none'})")
        return wanted
    if "train" in splits:
        return "train"
    if len(splits) == 1:
        return splits[0]
    raise SourceError(f"{where} has splits {', '.join(splits)}: set source.split")


def _json(path: Location) -> dict[str, Any]:
    try:
        value = json.loads(storage.read_text(path))
    except (OSError, ValueError) as e:
        raise SourceError(f"cannot read {path}: {str(e).splitlines()[0]}") from None
    if not isinstance(value, dict):
        raise SourceError(f"{path} is not a JSON object")
    return value


def _saved_arrow_files(folder: Location, split: str | None) -> list[str]:
    state = _json(folder / "state.json")
    saved_split = state.get("_split")
    if split and saved_split and split != saved_split:
        raise SourceError(f"{folder} holds split {saved_split!r}, not {split!r}")
    files = [f.get("filename") for f in state.get("_data_files") or [] if isinstance(f, dict)]
    if not files or not all(isinstance(f, str) for f in files):
        raise SourceError(f"{folder / 'state.json'} lists no data files (not a save_to_disk folder?)")
    return files


def _card(root: Location) -> dict[str, Any] | None:
    """The YAML front matter of root/README.md, or None when there is none."""
    readme = root / "README.md"
    if not storage.exists(readme):
        return None
    text = storage.read_text(readme)
    if not text.startswith("---"):
        return None
    end = text.find("\n---", 3)
    if end < 0:
        return None
    try:
        meta = yaml.safe_load(text[3:end])
    except yaml.YAMLError as e:
        raise SourceError(f"cannot read the YAML front matter of {readme}: {str(e).splitlines()[0]}") from None
    return meta if isinstance(meta, dict) else None


def _config_files(root: Location, configs: Any, cfg: SourceConfig) -> list[str]:
    if not isinstance(configs, list) or not all(isinstance(c, dict) for c in configs):
        raise SourceError(f"{root / 'README.md'}: `configs:` must be a list of mappings")
    names = [str(c.get("config_name", "default")) for c in configs]
    if cfg.config:
        if cfg.config not in names:
            raise SourceError(f"{root} has no config {cfg.config!r} (configs: {', '.join(names)})")
        chosen = configs[names.index(cfg.config)]
    else:
        defaults = [c for c in configs if c.get("default")]
        if defaults:
            chosen = defaults[0]
        elif len(configs) == 1:
            chosen = configs[0]
        elif "default" in names:
            chosen = configs[names.index("default")]
        else:
            raise SourceError(f"{root} has configs {', '.join(names)}: set source.config")
    name = str(chosen.get("config_name", "default"))
    by_split = _data_files_by_split(chosen, root, name)
    split = choose_split(cfg.split, list(by_split), f"{root} config {name!r}")
    files = glob_names(root, by_split[split])
    if not files:
        raise SourceError(f"{root} config {name!r} split {split!r}: no file matches {', '.join(by_split[split])}")
    return files


def _data_files_by_split(config: dict[str, Any], root: Location, name: str) -> dict[str, list[str]]:
    data_files = config.get("data_files")
    if data_files is None:
        data_dir = str(config.get("data_dir") or "").strip("/")
        return {"train": [f"{data_dir}/**/*" if data_dir else "**/*"]}
    if isinstance(data_files, str):
        return {"train": [data_files]}
    if isinstance(data_files, dict):  # {split: glob or [globs]}
        return {str(k): [v] if isinstance(v, str) else list(v) for k, v in data_files.items()}
    if isinstance(data_files, list) and all(isinstance(x, str) for x in data_files):
        return {"train": list(data_files)}
    if isinstance(data_files, list) and all(isinstance(x, dict) for x in data_files):
        out: dict[str, list[str]] = {}
        for entry in data_files:
            path = entry.get("path")
            out.setdefault(str(entry.get("split", "train")), []).extend([path] if isinstance(path, str) else path or [])
        return out
    raise SourceError(f"{root / 'README.md'}: config {name!r} has data_files of an unknown form")


def split_of(name: str) -> str | None:
    """The split a relative file name belongs to by its words (folders first), as `datasets` infers it."""
    for part in name.lower().split("/"):
        words = set(_TOKENS.split(part))
        for split, keywords in SPLIT_WORDS.items():
            if words.intersection(keywords):
                return split
    return None


def _inferred_split(root: Location, wanted: str | None) -> list[str] | None:
    names = [n for n in storage.find(root) if not any(p.startswith((".", "_")) for p in n.split("/"))]
    by_split: dict[str, list[str]] = {}
    for n in names:
        split = split_of(n)
        if split:
            by_split.setdefault(split, []).append(n)
    if not by_split:
        if wanted and wanted != "train":
            raise SourceError(f"{root}: no file name says it belongs to split {wanted!r}")
        return None  # one unnamed split: every data file
    return by_split[choose_split(wanted, list(by_split), str(root))]
