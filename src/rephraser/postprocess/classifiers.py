"""Quality-classifier scores of generated outputs (opt-in; local model files only).

The study scored every output with the FineWeb-Edu classifier (a BERT-style regression head over
transformers) and the DCLM classifier (a fastText model) to see whether they predict downstream
results; they did poorly (best Spearman 0.61). Any scorer with `name` and `score(texts) -> floats`
plugs in; two are provided:
  HFClassifier        a local transformers sequence-classification folder: the regression output when
                      the head has one label (FineWeb-Edu: roughly 0-5), else the probability of one
                      label (by name or index; default the last);
  FastTextClassifier  a local fastText model file: the probability of one label (default __label__hq,
                      DCLM's positive class). Needs the `fasttext-community` wheel.
`rephraser stats OUT --classifier NAME=PATH[#LABEL]` scores the ok rows of a run folder and reports
each prompt's (and prompt x model's) score distribution; experiments/classifier_correlation.py
relates them to a grid's macro scores.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from rephraser.errors import RephraserError
from rephraser.run_folder import check_output_folder, iter_rows

PERCENTILES = (5, 25, 50, 75, 95)


class TextScorer(Protocol):
    name: str

    def score(self, texts: Sequence[str]) -> list[float]: ...


class HFClassifier:
    def __init__(self, name: str, path: str | Path, label: str | None = None, *, max_length: int = 512,
                 batch_size: int = 16, device: str = "cpu") -> None:
        try:
            from transformers import AutoModelForSequenceClassification, AutoTokenizer
        except ImportError as e:
            raise RephraserError("a transformers classifier needs `pip install transformers`") from e
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(str(path), local_files_only=True)
            self.model = AutoModelForSequenceClassification.from_pretrained(str(path), local_files_only=True)
        except (OSError, ValueError) as e:
            raise RephraserError(f"classifier {name}: cannot load {path}: {str(e).splitlines()[0]}") from None
        self.model = self.model.to(device).eval()
        self.name, self.device, self.batch_size = name, device, batch_size
        self.max_length = min(max_length, int(getattr(self.tokenizer, "model_max_length", max_length) or max_length))
        labels = self.model.config.num_labels
        self.column = None if labels == 1 else _label_index(name, label, self.model.config.id2label, labels)

    def score(self, texts: Sequence[str]) -> list[float]:
        import torch

        out: list[float] = []
        with torch.inference_mode():
            for i in range(0, len(texts), self.batch_size):
                enc = self.tokenizer(list(texts[i : i + self.batch_size]), truncation=True, padding=True,
                                     max_length=self.max_length, return_tensors="pt").to(self.device)
                logits = self.model(**enc).logits.float()
                vals = logits[:, 0] if self.column is None else torch.softmax(logits, dim=-1)[:, self.column]
                out.extend(vals.tolist())
        return out


def _label_index(name: str, label: str | None, id2label: dict, n: int) -> int:
    if label is None:
        return n - 1
    if label.isdigit() and int(label) < n:
        return int(label)
    for i, lab in id2label.items():
        if str(lab) == label:
            return int(i)
    raise RephraserError(f"classifier {name}: no label {label!r} (labels: {', '.join(map(str, id2label.values()))})")


class FastTextClassifier:
    def __init__(self, name: str, path: str | Path, label: str | None = None) -> None:
        try:
            import fasttext
        except ImportError as e:
            raise RephraserError("a fastText classifier needs `pip install fasttext-community`") from e
        try:
            self.model = fasttext.load_model(str(path))
        except ValueError as e:
            raise RephraserError(f"classifier {name}: cannot load {path}: {e}") from None
        self.name, self.label = name, label or "__label__hq"
        if self.label not in self.model.labels:
            raise RephraserError(f"classifier {name}: no label {self.label!r} (labels: {', '.join(self.model.labels)})")

    def score(self, texts: Sequence[str]) -> list[float]:
        out = []
        for text in texts:  # fastText reads one line: newlines become blanks
            labels, probs = self.model.predict(" ".join(text.split()), k=-1)
            out.append(float(dict(zip(labels, probs, strict=True)).get(self.label, 0.0)))
        return out


def load_classifier(spec: str, device: str = "cpu") -> TextScorer:
    """NAME=PATH[#LABEL]: a folder with config.json is a transformers classifier, a file a fastText model."""
    name, sep, rest = spec.partition("=")
    if not sep or not name.strip() or not rest.strip():
        raise RephraserError(f"--classifier {spec!r}: expected NAME=PATH[#LABEL]")
    path_text, _, label = rest.partition("#")
    path = Path(path_text).expanduser()
    if path.is_dir() and (path / "config.json").is_file():
        return HFClassifier(name.strip(), path, label or None, device=device)
    if path.is_file():
        return FastTextClassifier(name.strip(), path, label or None)
    raise RephraserError(f"classifier {name}: {path} is neither a transformers folder nor a fastText model file")


def summarize(scores: Sequence[float]) -> dict[str, Any]:
    if not scores:
        return {"n": 0, "mean": None, "std": None, **{f"p{p}": None for p in PERCENTILES}}
    a = np.asarray(scores, dtype=np.float64)
    return {"n": int(a.size), "mean": round(float(a.mean()), 4), "std": round(float(a.std()), 4),
            **{f"p{p}": round(float(v), 4) for p, v in zip(PERCENTILES, np.percentile(a, PERCENTILES), strict=True)}}


def score_folder(out_dir: str | Path, scorers: Sequence[TextScorer], *, batch: int = 256) -> dict[str, Any]:
    """Scores of every ok row's generation, summarised per prompt and per (prompt, model)."""
    root = check_output_folder(out_dir)
    per_prompt: dict[str, dict[str, list[float]]] = {}
    per_model: dict[tuple[str, str], dict[str, list[float]]] = {}
    pending: list[tuple[str, str, str]] = []

    def flush() -> None:
        texts = [t for _, _, t in pending]
        for s in scorers:
            for (prompt, model, _), v in zip(pending, s.score(texts), strict=True):
                per_prompt.setdefault(prompt, {}).setdefault(s.name, []).append(v)
                per_model.setdefault((prompt, model), {}).setdefault(s.name, []).append(v)
        pending.clear()

    for part, row in iter_rows(root, ("prompt", "model", "generation"), statuses=("ok",)):
        pending.append((row.get("prompt") or part.prompt, row.get("model") or "(unknown)", row.get("generation") or ""))
        if len(pending) >= batch:
            flush()
    if pending:
        flush()
    by_model: dict[str, dict[str, Any]] = {}
    for (p, m), vals in sorted(per_model.items()):
        by_model.setdefault(p, {})[m] = {n: summarize(v) for n, v in vals.items()}
    return {"classifiers": [s.name for s in scorers],
            "prompts": {p: {n: summarize(v) for n, v in vals.items()} for p, vals in sorted(per_prompt.items())},
            "by_model": by_model}


def print_scores(console: Any, result: dict[str, Any]) -> None:
    """One table: per prompt (and prompt x model when several models), each classifier's distribution."""
    from rich.markup import escape
    from rich.table import Table

    t = Table(title="quality-classifier scores of ok outputs: mean [p5 / p50 / p95]")
    t.add_column("prompt")
    for name in result["classifiers"]:
        t.add_column(escape(name), justify="right")

    def cell(s: dict[str, Any]) -> str:
        return "-" if not s["n"] else f"{s['mean']:.3f} [{s['p5']:.3f} / {s['p50']:.3f} / {s['p95']:.3f}]"

    for prompt, scores in result["prompts"].items():
        t.add_row(escape(prompt), *(cell(scores[n]) if n in scores else "-" for n in result["classifiers"]))
        models = result["by_model"].get(prompt, {})
        if len(models) > 1:
            for model, ms in models.items():
                t.add_row(escape(f"  {model}"), *(cell(ms[n]) if n in ms else "-" for n in result["classifiers"]))
    console.print(t)
