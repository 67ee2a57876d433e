"""Calibrate the content floor on hand-labelled real outputs, and measure the verdict against the labels.

    PYTHONPATH=src .venv/bin/python bench/bench_floor_calibration.py            # print
    PYTHONPATH=src .venv/bin/python bench/bench_floor_calibration.py --figure   # + bench/results/floor_calibration.json

Reads tests/postprocess/fixtures/floor_outputs.json (real SmolLM2-135M outputs) and floor_labels.json (a
person's labels, rules in floor_labelling_rules.md). For each prompt with at least MIN_JUDGED labelled
outputs that pass its contract, and for all prompts together ('*', the floor of every other prompt), it searches a small grid of thresholds (min content recall, max
invented numbers, max invented names) for the one whose floor agrees best with the content labels (F1 of
"keeps source content") on the outputs that pass the prompt's contract; the floor always asks for some
content recall (> 0), so no ok row can keep nothing of its source. Ties go to the looser thresholds.

Figures (all recomputed from the fixture with the measures of this checkout):
- the chosen thresholds per prompt (postprocess/floor.py DEFAULT_FLOOR must equal them; a test checks);
- precision / recall of the row verdict (contract AND floor) against "acceptable" (format ok and
  content faithful or partial), for the contract alone and with the floor, in-sample and out-of-fold
  (thresholds chosen on one half of the documents, judged on the other, and back);
- the floor alone against the content labels, on the contract-passing rows.
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "postprocess" / "fixtures"
RECALLS = (0.01, 0.02, 0.03, 0.05, 0.075, 0.1, 0.125, 0.15, 0.2, 0.25, 0.3)
COUNTS = (None, 0, 1, 2, 3, 4, 6)  # None = not checked
MIN_JUDGED = 10  # contract-passing labelled rows a prompt needs for thresholds of its own


def load() -> list[dict[str, Any]]:
    """The fixture's records with their labels, contract verdict and measures."""
    from rephraser.postprocess.contract import apply_contract
    from rephraser.prompts.registry import resolve_prompt

    outputs = json.loads((FIXTURES / "floor_outputs.json").read_text(encoding="utf-8"))["records"]
    labels = json.loads((FIXTURES / "floor_labels.json").read_text(encoding="utf-8"))["labels"]
    rows = []
    for r in outputs:
        lab = labels.get(r["key"])
        if lab is None:
            continue
        spec = resolve_prompt(r["prompt"])
        v = apply_contract(spec, r["raw_generation"] or "", source_text=r["source_text"],
                           finish_reason=r["finish_reason"] or "stop")
        f = v.faithfulness.columns() if v.faithfulness else {}
        rows.append({"key": r["key"], "prompt": r["prompt"], "doc": r["id"], "lang": r["lang"],
                     "decoding": r["decoding"], "contract_ok": v.ok, **f,
                     "has_content": lab["content"] in ("faithful", "partial"),
                     "acceptable": lab["format"] == "ok" and lab["content"] in ("faithful", "partial")})
    return rows


def passes(row: dict[str, Any], t: dict[str, Any]) -> bool:
    if row.get("content_recall") is None or row["content_recall"] < t["min_content_recall"]:
        return False
    for key in ("invented_numbers", "invented_entities"):
        limit = t[f"max_{key}"]
        if limit is not None and (row.get(key) or 0) > limit:
            return False
    return True


def prf(pred: list[bool], truth: list[bool]) -> dict[str, Any]:
    tp = sum(p and t for p, t in zip(pred, truth, strict=True))
    fp = sum(p and not t for p, t in zip(pred, truth, strict=True))
    fn = sum(t and not p for p, t in zip(pred, truth, strict=True))
    precision = tp / (tp + fp) if tp + fp else None
    recall = tp / (tp + fn) if tp + fn else None
    f1 = 2 * precision * recall / (precision + recall) if precision and recall else 0.0
    return {"n": len(pred), "kept": tp + fp, "labelled_positive": tp + fn, "precision": _r(precision),
            "recall": _r(recall), "f1": _r(f1)}


def _r(x: float | None) -> float | None:
    return None if x is None else round(x, 3)


def candidates() -> list[dict[str, Any]]:
    grid = itertools.product(RECALLS, COUNTS, COUNTS)
    return [{"min_content_recall": r, "max_invented_numbers": n, "max_invented_entities": e} for r, n, e in grid]


def _looseness(t: dict[str, Any]) -> tuple:
    # Fewer checks and higher limits first: the floor should turn down no more than the labels ask.
    return (-t["min_content_recall"], *((99 if t[k] is None else t[k]) for k in ("max_invented_numbers",
                                                                                  "max_invented_entities")))


def calibrate(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The thresholds whose floor best matches has_content (F1) on contract-passing rows; looser on ties."""
    judged = [r for r in rows if r["contract_ok"]]
    truth = [r["has_content"] for r in judged]
    best = max(candidates(), key=lambda t: ((prf([passes(r, t) for r in judged], truth)["f1"] or 0.0), _looseness(t)))
    return best


def _fold(doc: str) -> int:
    return int(hashlib.sha256(doc.encode()).hexdigest(), 16) % 2


def choose(rows: list[dict[str, Any]], prompts: list[str]) -> dict[str, dict[str, Any]]:
    """Thresholds per prompt with enough contract-passing labelled rows, and '*' over all rows; a prompt with
    fewer is left to '*' (a floor fitted to a handful of rows would only describe those rows)."""
    chosen = {"*": calibrate(rows)}
    for p in prompts:
        own = [r for r in rows if r["prompt"] == p]
        if sum(r["contract_ok"] for r in own) >= MIN_JUDGED:
            chosen[p] = calibrate(own)
    return chosen


def evaluate(rows: list[dict[str, Any]], prompts: list[str]) -> dict[str, Any]:
    chosen = choose(rows, prompts)
    # out of fold: thresholds chosen on the other half of the documents, judged on this half
    oof: dict[str, bool] = {}
    oof_floor: dict[str, bool] = {}
    for k in (0, 1):
        fold_chosen = choose([r for r in rows if _fold(r["doc"]) != k], prompts)
        for r in rows:
            if _fold(r["doc"]) == k:
                oof_floor[r["key"]] = passes(r, fold_chosen.get(r["prompt"], fold_chosen["*"]))
                oof[r["key"]] = r["contract_ok"] and oof_floor[r["key"]]
    groups = [("all", rows)] + [(p, [r for r in rows if r["prompt"] == p]) for p in prompts] + \
        [(f"lang {lg}", [r for r in rows if r["lang"] == lg]) for lg in sorted({r["lang"] for r in rows})] + \
        [(d, [r for r in rows if r["decoding"] == d]) for d in ("constrained", "free")]
    def floor_of(r: dict[str, Any]) -> dict[str, Any]:
        return chosen.get(r["prompt"], chosen["*"])

    table = []
    for name, rs in groups:
        if not rs:
            continue
        truth = [r["acceptable"] for r in rs]
        contract = prf([r["contract_ok"] for r in rs], truth)
        floor_in = prf([r["contract_ok"] and passes(r, floor_of(r)) for r in rs], truth)
        floor_oof = prf([oof[r["key"]] for r in rs], truth)
        generic = prf([r["contract_ok"] and passes(r, chosen["*"]) for r in rs], truth)
        table.append({"group": name, "rows": len(rs), "acceptable": sum(truth),
                      "contract_ok": contract["kept"], "contract_p": contract["precision"], "contract_r": contract["recall"],
                      "verdict_ok": floor_in["kept"], "verdict_p": floor_in["precision"], "verdict_r": floor_in["recall"],
                      "oof_p": floor_oof["precision"], "oof_r": floor_oof["recall"],
                      "generic_p": generic["precision"], "generic_r": generic["recall"],
                      "zero_recall_ok_contract": sum(r["contract_ok"] and (r.get("content_recall") or 0) == 0 for r in rs),
                      "zero_recall_ok_verdict": sum(r["contract_ok"] and passes(r, floor_of(r))
                                                    and (r.get("content_recall") or 0) == 0 for r in rs)})
    judged = [r for r in rows if r["contract_ok"]]
    floor_only = prf([passes(r, floor_of(r)) for r in judged], [r["has_content"] for r in judged])
    floor_only_oof = prf([oof_floor[r["key"]] for r in judged], [r["has_content"] for r in judged])
    thresholds = [{"prompt": p, **chosen[p]} for p in [*prompts, "*"] if p in chosen]
    labels = {c: sum(1 for r in rows if r["has_content"] == (c == "content")) for c in ("content", "no content")}
    return {"thresholds": thresholds, "table": table, "floor_only": floor_only, "floor_only_oof": floor_only_oof,
            "rows": len(rows),
            "label_counts": labels}


def views() -> dict[str, Any]:
    return {
        "thresholds": {"rows": "thresholds", "columns": [
            ["prompt", "{prompt}"], ["min content recall", "{min_content_recall}"],
            ["max invented numbers", "{max_invented_numbers}"], ["max invented names", "{max_invented_entities}"]]},
        "verdict": {"rows": "table", "columns": [
            ["rows", "{group}"], ["labelled", "{rows}"], ["acceptable (labels)", "{acceptable}"],
            ["contract ok", "{contract_ok}"], ["contract alone: precision / recall", "{contract_p:.0%} / {contract_r:.0%}"],
            ["verdict ok", "{verdict_ok}"],
            ["contract + floor: precision / recall", "{verdict_p:.0%} / {verdict_r:.0%}"],
            ["out of fold", "{oof_p:.0%} / {oof_r:.0%}"],
            ["ok rows with zero recall (contract → verdict)", "{zero_recall_ok_contract} → {zero_recall_ok_verdict}"]]},
        "summary": {"text": "on {rows} hand-labelled outputs ({label_counts[content]} carrying some of their source), "
                            "the floor alone, on the {floor_only[n]} that pass their contract, agrees with the content "
                            "labels with precision {floor_only[precision]:.0%} and recall {floor_only[recall]:.0%} "
                            "in sample, {floor_only_oof[precision]:.0%} and {floor_only_oof[recall]:.0%} out of fold"},
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--figure", action="store_true", help="write bench/results/floor_calibration.json")
    args = ap.parse_args()
    rows = load()
    prompts = sorted({r["prompt"] for r in rows})
    result = evaluate(rows, prompts)
    print(json.dumps(result, indent=1))
    if args.figure:
        sys.path.insert(0, str(Path(__file__).parent))
        from figures import write_figure

        write_figure("floor_calibration", result, views(),
                     how="bench/bench_floor_calibration.py --figure",
                     where="tests/postprocess/fixtures/floor_outputs.json + floor_labels.json (no timing)",
                     note="labels by one reader, rules in tests/postprocess/fixtures/floor_labelling_rules.md")


if __name__ == "__main__":
    main()
