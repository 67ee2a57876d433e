"""The study's real datasets, read only from where the user says (opt-in; nothing downloads by default).

`--datasets SPEC` chooses, per task, where its rows come from:
  DIR          DIR/<task>/ for every task that has such a folder (the others are reported missing);
  hub          every task from the study's Hub repo through `datasets.load_dataset` (this reads the
               local Hugging Face cache first and downloads what is absent, unless HF_DATASETS_OFFLINE=1);
  FILE.yaml    a mapping task -> source, where a source is a local path, `hub`, or `hub:owner/name`
               (optionally `hub:owner/name:subset`) to read a copy published under another id.
A local path may hold a `datasets.save_to_disk` folder (a DatasetDict, one folder per split, or one
Dataset whose saved split is the one asked for), or
data files per split (`test.parquet`, `validation.jsonl`, `data/test-00000-of-00001.parquet` as in a
Hub snapshot). MMLU-Redux has one dataset per subject: <path>/<subject>/ each laid out as above.
Anything that cannot be read raises TaskMissing with the reason, and the task is listed as missing.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from rephraser.errors import RephraserError
from rephraser.evaluate.tasks.items import TaskMissing
from rephraser.evaluate.tasks.study import STUDY_TASKS, Row, StudyTask

DATA_SUFFIXES = {".parquet": "parquet", ".jsonl": "json", ".json": "json", ".csv": "csv", ".arrow": "arrow"}


@dataclass(frozen=True)
class Source:
    kind: str  # "path" | "hub"
    location: str  # a folder, or a Hub repo id
    subset: str | None = None

    def describe(self) -> str:
        return self.location if self.kind == "path" else f"hub:{self.location}" + (f":{self.subset}" if self.subset else "")


def parse_source(text: str, task: StudyTask, base: Path | None = None) -> Source:
    text = str(text).strip()
    if text == "hub":
        return Source("hub", task.repo, task.subset)
    if text.startswith("hub:"):
        repo, _, subset = text[4:].partition(":")
        if not repo:
            raise RephraserError(f"task {task.key}: empty Hub id in {text!r}")
        return Source("hub", repo, subset or task.subset)
    path = Path(text).expanduser()
    return Source("path", str(path if path.is_absolute() or base is None else base / path))


def resolve_datasets(spec: str) -> dict[str, Source]:
    """task key -> Source for a `--datasets` value (tasks without a source are absent)."""
    if spec == "hub":
        return {k: parse_source("hub", t) for k, t in STUDY_TASKS.items()}
    p = Path(spec).expanduser()
    if p.is_dir():
        return {k: Source("path", str(p / k)) for k in STUDY_TASKS if (p / k).exists()}
    if p.is_file():
        import yaml

        try:
            mapping = yaml.safe_load(p.read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError) as e:
            raise RephraserError(f"cannot read datasets file {p}: {str(e).splitlines()[0]}") from None
        if not isinstance(mapping, dict):
            raise RephraserError(f"{p}: expected a mapping task -> source")
        unknown = sorted(set(mapping) - set(STUDY_TASKS))
        if unknown:
            raise RephraserError(f"{p}: unknown task(s) {', '.join(unknown)}; known: {', '.join(STUDY_TASKS)}")
        return {k: parse_source(v, STUDY_TASKS[k], p.parent) for k, v in mapping.items()}
    raise RephraserError(f"--datasets {spec!r} is neither 'hub', a folder, nor a YAML/JSON mapping file")


def _split_files(folder: Path, split: str) -> list[Path]:
    found = []
    for f in sorted(folder.rglob("*")):
        if f.is_file() and f.suffix in DATA_SUFFIXES and not f.name.startswith(".") and (
            f.stem == split or f.name.startswith(f"{split}-") or f.parent.name == split
        ):
            found.append(f)
    return found


def _from_path(folder: Path, split: str) -> list[Row]:
    import datasets

    if not folder.is_dir():
        raise TaskMissing(f"no folder {folder}")
    if (folder / "dataset_dict.json").is_file():
        dd = datasets.load_from_disk(str(folder))
        if split not in dd:
            raise TaskMissing(f"{folder} has no split {split!r} (has {', '.join(dd)})")
        return dd[split].to_list()
    if (folder / split / "state.json").is_file():
        return datasets.load_from_disk(str(folder / split)).to_list()
    if (folder / "state.json").is_file():  # one saved Dataset (as each MMLU-Redux subject on the Hub)
        saved = json.loads((folder / "state.json").read_text(encoding="utf-8")).get("_split")
        if saved not in (None, split):
            raise TaskMissing(f"{folder} holds split {saved!r}, not {split!r}")
        return datasets.load_from_disk(str(folder)).to_list()
    files = _split_files(folder, split)
    if not files:
        raise TaskMissing(f"{folder} holds no data for split {split!r}")
    kinds = {DATA_SUFFIXES[f.suffix] for f in files}
    if len(kinds) > 1:
        raise TaskMissing(f"{folder}: split {split!r} mixes file types {sorted(kinds)}")
    return datasets.load_dataset(kinds.pop(), data_files=[str(f) for f in files], split="train").to_list()


def _from_hub(source: Source, split: str, subset: str | None) -> list[Row]:
    import datasets

    return datasets.load_dataset(source.location, subset, split=split).to_list()


def read_rows(source: Source, split: str, subject: str | None = None) -> list[Row]:
    """Rows of one split; a subject selects an MMLU-Redux subset (Hub config or sub-folder)."""
    try:
        if source.kind == "hub":
            return _from_hub(source, split, subject or source.subset)
        folder = Path(source.location) / subject if subject else Path(source.location)
        return _from_path(folder, split)
    except TaskMissing:
        raise
    except ImportError as e:
        raise TaskMissing(f"reading real datasets needs the `datasets` package ({e})") from None
    except Exception as e:  # noqa: BLE001 - datasets/pyarrow/network raise many types; report, never crash
        first = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise TaskMissing(f"{source.describe()}: {first}") from None
