"""The report's inline CSS and the side-by-side viewer's JavaScript.

Kept as Python strings (not package data files) so the report stays one self-contained file that works
from any install, with no CDN and no network. The viewer reads rows from a <script type="application/json">
block and renders them with textContent only, so document text can never inject markup.
"""

CSS = r"""
:root { --fg:#1d2330; --muted:#5b6475; --line:#d9dee7; --ok:#1a7f37; --rej:#b35900; --fail:#c62828; --bg2:#f5f7fa; }
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--fg); margin: 0;
       background: #fff; }
header { background: #24324a; color: #fff; padding: 18px 28px; }
header h1 { margin: 0 0 4px; font-size: 22px; }
header p { margin: 0; color: #cdd6e4; }
main { padding: 8px 28px 40px; max-width: 1500px; margin: 0 auto; }
h2 { border-bottom: 2px solid var(--line); padding-bottom: 4px; margin-top: 32px; }
table.kv, table.grid { border-collapse: collapse; margin: 8px 0 16px; }
table.kv td, table.grid td, table.grid th { border: 1px solid var(--line); padding: 4px 8px; vertical-align: top; }
table.grid th { background: var(--bg2); text-align: left; }
table.kv td:first-child { color: var(--muted); white-space: nowrap; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.note { color: var(--muted); font-size: 13px; }
.plots { display: flex; flex-wrap: wrap; gap: 16px; }
.plots figure { margin: 0; border: 1px solid var(--line); padding: 6px; background: #fff; }
.plots img { max-width: 640px; display: block; }
.plots figcaption { color: var(--muted); font-size: 12px; }
#viewer-controls { display: flex; flex-wrap: wrap; gap: 10px; align-items: center; background: var(--bg2);
                   padding: 10px; border: 1px solid var(--line); position: sticky; top: 0; z-index: 2; }
#viewer-controls label { font-size: 13px; color: var(--muted); }
#viewer-controls input[type=search] { width: 260px; }
.vrow { border: 1px solid var(--line); border-left: 5px solid var(--ok); margin: 12px 0; background: #fff; }
.vrow.status-rejected { border-left-color: var(--rej); }
.vrow.status-failed { border-left-color: var(--fail); }
.vhead { display: flex; flex-wrap: wrap; gap: 14px; padding: 6px 10px; background: var(--bg2); font-size: 13px; }
.vhead .badge { font-weight: 600; text-transform: uppercase; }
.status-ok .badge { color: var(--ok); } .status-rejected .badge { color: var(--rej); }
.status-failed .badge { color: var(--fail); }
.vhead .reason { color: var(--rej); }
.vbody { display: grid; grid-template-columns: 1fr 1fr; }
.vbody > div { padding: 8px 10px; min-width: 0; }
.vbody > div + div { border-left: 1px solid var(--line); }
.vbody h4 { margin: 0 0 4px; font-size: 12px; color: var(--muted); text-transform: uppercase; }
.vbody pre { white-space: pre-wrap; word-wrap: break-word; margin: 0; font: 13px/1.4 ui-monospace, Menlo, monospace;
             max-height: 420px; overflow: auto; }
.vbody details { margin-top: 8px; }
a.docfilter { cursor: pointer; color: #1f5fbf; text-decoration: underline; }
#viewer-pager { display: flex; gap: 10px; align-items: center; margin: 12px 0; }
mark { background: #ffe58a; }
"""

JS = r"""
(function () {
  "use strict";
  const data = JSON.parse(document.getElementById("viewer-data").textContent);
  const rows = data.rows, sources = data.sources;
  const $ = (id) => document.getElementById(id);
  const state = { prompt: "", model: "", status: "", query: "", doc: "", page: 0, size: data.page_size };

  function fillSelect(el, values) {
    for (const v of values) { const o = document.createElement("option"); o.value = v; o.textContent = v; el.appendChild(o); }
  }
  fillSelect($("f-prompt"), data.prompts);
  fillSelect($("f-model"), data.models);
  fillSelect($("f-status"), data.statuses);

  function matches(r) {
    if (state.prompt && r.prompt !== state.prompt) return false;
    if (state.model && r.model !== state.model) return false;
    if (state.status && r.status !== state.status) return false;
    if (state.doc && r.id !== state.doc) return false;
    if (state.query) {
      const q = state.query;
      const hay = (r.id + "\n" + (r.gen || "") + "\n" + (r.reason || "") + "\n" + (sources[r.id] || "")).toLowerCase();
      if (!hay.includes(q)) return false;
    }
    return true;
  }

  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = text;
    return e;
  }

  function renderRow(r) {
    const box = el("div", "vrow status-" + r.status);
    box.dataset.prompt = r.prompt; box.dataset.status = r.status; box.dataset.id = r.id;
    const head = el("div", "vhead");
    head.appendChild(el("span", "badge", r.status));
    head.appendChild(el("span", "", "prompt: " + r.prompt));
    head.appendChild(el("span", "", "model: " + (r.model || "?")));
    const doc = el("a", "docfilter", r.id + (r.sample ? " #" + r.sample : ""));
    doc.title = "show every rewrite of this document";
    doc.addEventListener("click", () => { state.doc = r.id; $("f-doc").textContent = "document: " + r.id;
      $("f-doc-clear").hidden = false; state.page = 0; render(); });
    head.appendChild(doc);
    if (r.ratio !== null) head.appendChild(el("span", "", "length ratio: " + r.ratio.toFixed(2)));
    if (r.ctoks !== null) head.appendChild(el("span", "", "output tokens: " + r.ctoks));
    if (r.finish) head.appendChild(el("span", "", "finish: " + r.finish));
    if (r.reason) head.appendChild(el("span", "reason", "reason: " + r.reason));
    if (r.faith) {
      const f = r.faith, list = (xs) => xs.length ? " (" + xs.join(", ") + ")" : "";
      head.appendChild(el("span", "faith", "invented numbers: " + f.invented_numbers + list(f.invented_number_list)
        + "; invented names: " + f.invented_entities + list(f.invented_entity_list)
        + "; content recall: " + (f.content_recall === null ? "-" : f.content_recall.toFixed(2))
        + "; 3-gram novelty: " + (f.novelty_3gram === null ? "-" : f.novelty_3gram.toFixed(2))));
    }
    box.appendChild(head);
    const body = el("div", "vbody");
    const left = el("div", "src"); left.appendChild(el("h4", "", "source document"));
    left.appendChild(el("pre", "", sources[r.id] || "(source text not stored)"));
    const right = el("div", "gen"); right.appendChild(el("h4", "", "rewrite (" + r.prompt + ")"));
    right.appendChild(el("pre", "", r.gen === null ? "(no generation: " + (r.reason || r.status) + ")" : r.gen));
    if (r.raw !== null) {
      const d = el("details"); d.appendChild(el("summary", "", "raw model output (before cleaning)"));
      d.appendChild(el("pre", "", r.raw)); right.appendChild(d);
    }
    body.appendChild(left); body.appendChild(right); box.appendChild(body);
    return box;
  }

  function render() {
    const hits = rows.filter(matches);
    const pages = Math.max(1, Math.ceil(hits.length / state.size));
    state.page = Math.min(state.page, pages - 1);
    const list = $("viewer-rows");
    list.replaceChildren();
    const start = state.page * state.size;
    for (const r of hits.slice(start, start + state.size)) list.appendChild(renderRow(r));
    $("v-count").textContent = hits.length + " of " + rows.length + " rows";
    $("v-page").textContent = "page " + (state.page + 1) + " of " + pages;
    $("v-prev").disabled = state.page === 0;
    $("v-next").disabled = state.page >= pages - 1;
    document.body.dataset.viewerPage = String(state.page + 1);
    document.body.dataset.viewerHits = String(hits.length);
  }

  // A link may preset the filters: report.html?status=ok&prompt=faq#viewer (an experiment cell links to the rows
  // it trained on; #viewer lands on the rows, not the summary). The older report.html#status=ok form still works.
  const preset = new URLSearchParams(location.search.slice(1) || location.hash.slice(1));
  let presetGiven = false;
  for (const key of ["prompt", "model", "status"]) {
    const v = preset.get(key);
    if (v && [...$("f-" + key).options].some((o) => o.value === v)) {
      state[key] = v; $("f-" + key).value = v; presetGiven = true;
    }
  }
  $("f-prompt").addEventListener("change", (e) => { state.prompt = e.target.value; state.page = 0; render(); });
  $("f-model").addEventListener("change", (e) => { state.model = e.target.value; state.page = 0; render(); });
  $("f-status").addEventListener("change", (e) => { state.status = e.target.value; state.page = 0; render(); });
  $("f-size").addEventListener("change", (e) => { state.size = parseInt(e.target.value, 10); state.page = 0; render(); });
  let timer = null;
  $("f-query").addEventListener("input", (e) => {
    clearTimeout(timer);
    timer = setTimeout(() => { state.query = e.target.value.trim().toLowerCase(); state.page = 0; render(); }, 150);
  });
  $("f-doc-clear").addEventListener("click", () => { state.doc = ""; $("f-doc").textContent = "";
    $("f-doc-clear").hidden = true; state.page = 0; render(); });
  $("v-prev").addEventListener("click", () => { state.page -= 1; render(); window.scrollTo(0, $("viewer").offsetTop); });
  $("v-next").addEventListener("click", () => { state.page += 1; render(); window.scrollTo(0, $("viewer").offsetTop); });
  render();
  if (presetGiven) $("viewer").scrollIntoView();  // the rows are what the link was for
})();
"""
