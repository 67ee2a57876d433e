"""The side-by-side viewer: which rows are embedded, as what JSON, inside which HTML controls."""

from __future__ import annotations

import html
import json
from typing import Any

from rephraser.postprocess.faithfulness import measure
from rephraser.report.sampling import pick_rows, rank
from rephraser.report.viewer_assets import JS
from rephraser.run_folder import RunFolder, read_rows, scan_rows

VIEW_COLUMNS = ("id", "sample", "prompt", "model", "status", "reason", "finish_reason", "source_text",
                "generation", "raw_generation", "completion_tokens")


def _cap(text: str | None, max_chars: int) -> str | None:
    if text is None or len(text) <= max_chars:
        return text
    return text[:max_chars] + f"\n[... cut in the report: {len(text) - max_chars:,} more characters]"


def viewer_payload(run: RunFolder, *, max_rows: int = 2000, seed: int = 0, max_chars: int = 20_000,
                   page_size: int = 25) -> dict[str, Any]:
    """Rows for the viewer (sampled deterministically when there are more than max_rows)."""
    scanned = list(scan_rows(run, ("id", "sample", "prompt", "status")))
    refs = pick_rows(scanned, max_rows, seed)
    full = read_rows(refs, VIEW_COLUMNS)
    sources: dict[str, str] = {}
    rows: list[dict[str, Any]] = []
    for ref in refs:
        r = full[ref]
        src, gen, raw = r.get("source_text"), r.get("generation"), r.get("raw_generation")
        if src is not None:
            sources.setdefault(str(r["id"]), _cap(src, max_chars) or "")
        rows.append({
            "id": str(r["id"]), "sample": r.get("sample") or 0, "prompt": r.get("prompt"), "model": r.get("model"),
            "status": r.get("status"), "reason": r.get("reason"), "finish": r.get("finish_reason"),
            "gen": _cap(gen, max_chars), "raw": _cap(raw, max_chars) if raw is not None and raw != gen else None,
            "ratio": (len(gen) / len(src)) if gen is not None and src else None,
            "ctoks": r.get("completion_tokens"),
            "faith": _faith(gen, src),
            "_rank": rank(seed, str(r["id"]), int(r.get("sample") or 0)),
        })
    # Same document next to itself across prompts/models: order by document, then prompt.
    rows.sort(key=lambda x: (x.pop("_rank"), str(x["prompt"]), str(x["model"]), str(x["status"])))
    return {
        "rows": rows, "sources": sources, "page_size": page_size, "total_rows": len(scanned),
        "sampled": len(scanned) > len(rows), "seed": seed, "max_rows": max_rows,
        "prompts": sorted({str(x["prompt"]) for x in rows}),
        "models": sorted({str(x["model"]) for x in rows if x["model"]}),
        "statuses": [s for s in ("ok", "rejected", "failed") if any(x["status"] == s for x in rows)],
    }


def _faith(gen: str | None, src: str | None) -> dict[str, Any] | None:
    """The faithfulness measures with the flagged items themselves, so a reader can check them by eye."""
    if not gen or not src:
        return None
    return measure(gen, src).to_dict()


def _json_for_script(value: Any) -> str:
    # '<' escaped so no text in a document can close the <script> element.
    return json.dumps(value, ensure_ascii=False).replace("<", "\\u003c").replace("\u2028", "\\u2028")


def viewer_html(payload: dict[str, Any]) -> str:
    n, total = len(payload["rows"]), payload["total_rows"]
    if payload["sampled"]:
        note = (f"Showing a deterministic sample of {n:,} of {total:,} rows (cap --max-rows {payload['max_rows']:,}, "
                f"seed {payload['seed']}): the same documents are picked for every prompt so their rewrites can be "
                "compared, and every (prompt, status) group gets its share.")
    else:
        note = f"All {total:,} rows are embedded."
    sizes = "".join(f'<option value="{s}"{" selected" if s == payload["page_size"] else ""}>{s}</option>'
                    for s in sorted({10, 25, 50, 100, payload["page_size"]}))
    return f"""
<section id="viewer">
<h2>Side-by-side viewer</h2>
<p class="note" id="viewer-note">{html.escape(note)} Click a document id to see all its rewrites.
Status: <b>ok</b> = published, <b>rejected</b> = failed the prompt's contract (reason shown),
<b>failed</b> = no usable model answer after retries.</p>
<div id="viewer-controls">
  <label>prompt <select id="f-prompt"><option value="">all</option></select></label>
  <label>model <select id="f-model"><option value="">all</option></select></label>
  <label>status <select id="f-status"><option value="">all</option></select></label>
  <label>search <input type="search" id="f-query" placeholder="text in source, rewrite, reason or id"></label>
  <label>per page <select id="f-size">{sizes}</select></label>
  <span id="f-doc"></span><button id="f-doc-clear" hidden>show all documents</button>
  <span id="v-count"></span>
</div>
<div id="viewer-rows"></div>
<div id="viewer-pager"><button id="v-prev">&larr; previous</button><span id="v-page"></span>
<button id="v-next">next &rarr;</button></div>
<script type="application/json" id="viewer-data">{_json_for_script(payload)}</script>
<script>{JS}</script>
</section>"""
