"""What `rephraser try` shows: each source beside its output, in the terminal (rich) and as a small HTML page.

Per document: the verdict (the prompt's format contract AND the run's content floor), the rule that failed, the length ratio, output tokens and the
faithfulness measures the rows carry; for the trial: compliance and diversity (opening collapse,
distinct-n). The page is static HTML with the report's CSS: no script, opens offline.
"""

from __future__ import annotations

import datetime as _dt
import html
import time
from pathlib import Path
from typing import Any

from rich.console import Console, Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from rephraser.atomic import atomic_write_text
from rephraser.records import Row
from rephraser.report.trial import Trial, TrialRow
from rephraser.report.viewer_assets import CSS

e = html.escape
VERDICT_STYLE = {"pass": "bold green", "fail": "bold red", "no answer": "bold red"}
FAITH_LABELS = {"invented_numbers": "invented numbers", "invented_entities": "invented names",
                "content_recall": "content recall", "novelty_3gram": "3-gram novelty"}

SMALL_N = 30  # below this many outputs a diversity share moves in steps too coarse to compare prompts by


def small_n(n: int, *, share: bool = True) -> str:
    """The caveat every diversity figure of a small trial carries; a `share` of n outputs moves in steps of 1/n."""
    if n >= SMALL_N:
        return ""
    if n == 0:
        return " [no outputs: nothing measured]"
    step = f"steps of {1 / n:.2f}; " if share else ""
    return f" [only {n} output{'s' if n != 1 else ''}: {step}a hint, not a measurement]"


def _num(v: Any, digits: int = 2) -> str:
    if v is None:
        return "–"
    return f"{v:,}" if isinstance(v, int) else f"{v:.{digits}f}"


def _pct(v: float | None) -> str:
    return "–" if v is None else f"{100 * v:.0f}%"


def _cut(text: str, max_chars: int) -> str:
    if len(text) <= max_chars:
        return text
    return text[:max_chars] + f"\n[… {len(text) - max_chars:,} more characters]"


def row_facts(r: TrialRow) -> list[tuple[str, str]]:
    """(label, value) pairs shown above each document, in both views."""
    facts = [("verdict", r.verdict)]
    if r.rule:
        facts.append(("failed rule", r.rule))
    if r.reason:
        facts.append(("reason", r.reason))
    facts += [("length ratio", _num(r.length_ratio)), ("output tokens", _num(r.completion_tokens)),
              ("finish", r.finish_reason or "–")]
    f = r.faithfulness
    for key, label in FAITH_LABELS.items():
        if key in f:
            items = f.get(f"{key[:-1]}_list") or []  # invented_numbers -> invented_number_list
            facts.append((label, _num(f[key]) + (f" ({', '.join(items[:6])}{', …' if len(items) > 6 else ''})"
                                                 if items else "")))
    return facts


def summary_facts(t: Trial) -> list[tuple[str, str]]:
    d = t.diversity
    caveat = small_n(d.get("outputs", 0))
    facts = [("prompt", f"{t.prompt.name} (hash {t.prompt.hash}, {t.prompt_ref})"), ("model", f"{t.model} ({t.engine})"),
             ("verdict", f"{t.passed} of {len(t.rows)} pass (format and content floor); "
                         f"{t.floor_rejected} well-formed output(s) turned down by the content floor"),
             ("opening collapse", f"{_num(d.get('opening_collapse'))} over {d.get('outputs', 0)} outputs"
                                  + (f" (most common: {d['top_opening']!r})" if d.get("top_opening") else "")
                                  + caveat),
             ("distinct-1/2/3", " / ".join(_num(d.get("distinct", {}).get(f"distinct_{n}")) for n in (1, 2, 3))
                                + small_n(d.get("outputs", 0), share=False)),
             ("calls", f"{t.engine_calls} to the engine, {t.cache_hits} from the request cache, "
                       f"{t.reused_units} document(s) reused from an earlier trial of this version"),
             ("folder", str(t.folder))]
    f = d.get("faithfulness") or {}
    if f.get("rows"):
        facts.insert(5, ("faithfulness", f"invented numbers in {_pct(f.get('invented_number_rate'))} and invented "
                         f"names in {_pct(f.get('invented_entity_rate'))} of {f['rows']} outputs; mean content "
                         f"recall {_num(f.get('mean_content_recall'))}, mean 3-gram novelty "
                         f"{_num(f.get('mean_novelty_3gram'))}" + small_n(f["rows"])))
    return facts


# ---- terminal ---------------------------------------------------------------------------------------
class LiveCalls:
    """One line per document as its calls finish (the run's `on_rows` hook), so a slow trial shows what is
    done, not only a spinner. Neutral on purpose: the verdicts come with the full view afterwards."""

    def __init__(self, console: Console, total: int):
        self.console, self.total, self.done, self.t0 = console, total, 0, time.monotonic()

    def finished(self, rows: list[Row]) -> None:
        self.done += 1
        r = rows[0]
        if r.status == "failed":
            what = f"no answer ({r.reason or 'failed'})"
        elif r.calls == 0:
            what = f"not sent ({r.reason})"
        else:
            tokens = sum(x.completion_tokens or 0 for x in rows)
            what = f"{tokens} output tokens, finish {r.finish_reason or '–'}" + (f", {len(rows)} rows" if len(rows) > 1 else "")
        self.console.print(f"  [{self.done}/{self.total}] {r.id}: {what} · {time.monotonic() - self.t0:.1f}s",
                           highlight=False, markup=False)


def print_trial(t: Trial, console: Console, *, max_chars: int = 1500, plain: bool = False) -> None:
    """Panels side by side on a terminal (its width); `plain` (piped): each text whole under its heading,
    no boxes or columns, so nothing is cut or padded to a width."""
    if plain:
        _print_plain(t, console, max_chars)
        return
    for i, r in enumerate(t.rows, 1):
        head = Text.assemble((f"[{i}/{len(t.rows)}] {r.id}  ", "bold"),
                             (r.verdict, VERDICT_STYLE.get(r.verdict, "bold")))
        facts = Text("  ·  ".join(f"{k}: {v}" for k, v in row_facts(r)[1:]), style="dim")
        grid = Table(show_header=True, expand=True, box=None, padding=(0, 1))
        grid.add_column("source", ratio=1)
        grid.add_column(f"output ({t.prompt.name})", ratio=1)
        out = r.output if r.output is not None else f"(no output: {r.reason or r.status})"
        grid.add_row(Text(_cut(r.source, max_chars)), Text(_cut(out, max_chars)))
        console.print(Panel(Group(facts, grid), title=head, title_align="left",
                            border_style=VERDICT_STYLE.get(r.verdict, "white").replace("bold ", "")))
    table = Table(show_header=False, box=None, padding=(0, 1))
    for k, v in summary_facts(t):
        table.add_row(Text(k, style="bold"), Text(v))
    console.print(table)


def _print_plain(t: Trial, console: Console, max_chars: int) -> None:
    say = lambda text: console.print(text, markup=False, highlight=False, soft_wrap=True)  # noqa: E731
    for i, r in enumerate(t.rows, 1):
        say(f"=== [{i}/{len(t.rows)}] {r.id}  {r.verdict}")
        say("  ·  ".join(f"{k}: {v}" for k, v in row_facts(r)[1:]))
        say("--- source ---")
        say(_cut(r.source, max_chars))
        say(f"--- output ({t.prompt.name}) ---")
        say(_cut(r.output, max_chars) if r.output is not None else f"(no output: {r.reason or r.status})")
        say("")
    for k, v in summary_facts(t):
        say(f"{k}: {v}")


# ---- HTML ---------------------------------------------------------------------------------------------
def _row_html(i: int, n: int, r: TrialRow, prompt: str) -> str:
    status = {"pass": "ok", "fail": "rejected"}.get(r.verdict, "failed")
    facts = "".join(f'<span{" class=reason" if k in ("reason", "failed rule") else ""}>{e(k)}: {e(v)}</span>'
                    for k, v in row_facts(r)[1:])
    out = e(r.output) if r.output is not None else e(f"(no output: {r.reason or r.status})")
    raw = (f'<details><summary>raw model output (before cleaning)</summary><pre>{e(r.raw)}</pre></details>'
           if r.raw is not None else "")
    return (f'<div class="vrow status-{status}" data-id="{e(r.id)}" data-verdict="{e(r.verdict)}">'
            f'<div class="vhead"><span class="badge">{e(r.verdict)}</span><span>[{i}/{n}] {e(r.id)}</span>{facts}</div>'
            f'<div class="vbody"><div class="src"><h4>source document</h4><pre>{e(r.source)}</pre></div>'
            f'<div class="gen"><h4>output ({e(prompt)})</h4><pre>{out}</pre>{raw}</div></div></div>')


def trial_html(t: Trial, *, refresh_s: int | None = None) -> str:
    """The page; `refresh_s` makes the browser reload it (for --watch, which rewrites it on every run)."""
    rows = "".join(_row_html(i, len(t.rows), r, t.prompt.name) for i, r in enumerate(t.rows, 1))
    summary = "".join(f"<tr><td>{e(k)}</td><td>{e(v)}</td></tr>" for k, v in summary_facts(t))
    stamp = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
    meta = f'<meta http-equiv="refresh" content="{refresh_s}">' if refresh_s else ""
    template = f'<details><summary>prompt template</summary><pre>{e(t.prompt.template)}</pre></details>'
    picked = f" · documents: {e(t.selection.describe())}" if t.selection is not None else ""
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">{meta}<title>rephraser try: {e(t.prompt.name)}</title>
<style>{CSS}</style></head>
<body><header><h1>rephraser try: {e(t.prompt.name)}</h1><p>{e(str(t.folder))} · {stamp}{picked}</p></header>
<main><section id="trial-summary"><table class="kv">{summary}</table>{template}</section>
<section id="trial-rows">{rows}</section></main></body></html>
"""


def write_trial_html(t: Trial, target: str | Path, *, refresh_s: int | None = None) -> Path:
    return atomic_write_text(Path(target), trial_html(t, refresh_s=refresh_s))


__all__ = ["LiveCalls", "print_trial", "small_n", "row_facts", "summary_facts", "trial_html", "write_trial_html"]
