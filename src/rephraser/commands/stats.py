"""`rephraser stats OUT_DIR`: generation statistics of a run folder (compliance, openings, diversity),
plus opt-in quality-classifier score distributions (postprocess/classifiers.py).

Writes OUT_DIR/stats_quality.json next to the runner's stats.json (never overwriting it).
"""

from __future__ import annotations

import json
from typing import Any

import typer


def _fmt(v: Any, pct: bool = False) -> str:
    if v is None:
        return "-"
    if pct:
        return f"{100 * v:.1f}%"
    return f"{v:.2f}" if isinstance(v, float) else str(v)


def _table(title: str, groups: dict[str, dict[str, Any]], first_col: str) -> Any:
    from rich.markup import escape
    from rich.table import Table

    from rephraser.report.trial_view import SMALL_N

    t = Table(title=title)
    cols = (first_col, "docs", "ok", "rej", "fail", "compliance", "floor pass", "len ratio p50 [p5-p95]", "tok/row",
            "collapse", "distinct-1/2/3", "zlib", "gopher pass", "inv. num", "inv. ent", "recall", "novelty")
    for c in cols:
        t.add_column(escape(c), justify="left" if c == first_col else "right")
    few = False
    for name, s in groups.items():
        lr, d = s["length_ratio"], s["distinct"]
        mark = "*" if s["ok"] < SMALL_N else ""  # a share over a handful of outputs moves in coarse steps
        few = few or bool(mark)
        q = s.get("quality") or {}
        f = s.get("faithfulness") or {}
        t.add_row(
            escape(name), str(s["documents"]), str(s["ok"]), str(s["rejected"]), str(s["failed"]),
            _fmt(s["format_compliance"], pct=True),
            _fmt(s.get("content_floor_pass"), pct=True),
            escape(f"{_fmt(lr['p50'])} [{_fmt(lr['p5'])}-{_fmt(lr['p95'])}]") if lr["p50"] is not None else "-",
            _fmt(s["output_tokens"]["mean"]),
            _fmt(s["opening_collapse"], pct=True) + mark,
            "/".join(_fmt(d[f"distinct_{n}"]) for n in (1, 2, 3)) + mark,
            _fmt(s["compression_ratio"]),
            _fmt(q.get("pass_rate"), pct=True),
            _fmt(f.get("invented_number_rate"), pct=True),
            _fmt(f.get("invented_entity_rate"), pct=True),
            _fmt(f.get("mean_content_recall")),
            _fmt(f.get("mean_novelty_3gram")),
        )
    if few:
        t.caption = f"* over fewer than {SMALL_N} outputs: a hint, not a measurement"
    return t


def _details(prompt: str, s: dict[str, Any]) -> Any:
    from rich.markup import escape
    from rich.table import Table

    t = Table(title=escape(f"{prompt}: top openings and rejections"), show_header=True)
    t.add_column("top openings", overflow="fold")
    t.add_column("share", justify="right")
    t.add_column("rejection reason", overflow="fold")
    t.add_column("rows", justify="right")
    openings = [(o["opening"] or "(empty)", _fmt(o["share"], pct=True)) for o in s["top_openings"]]
    reasons = [(f"rule {k}", str(v)) for k, v in s["rejection_rules"].items()]
    reasons += [(k, str(v)) for k, v in s["rejection_reasons"].items()]
    reasons += [(f"failed: {k}", str(v)) for k, v in s["failure_reasons"].items()]
    for i in range(max(len(openings), len(reasons))):
        o = openings[i] if i < len(openings) else ("", "")
        r = reasons[i] if i < len(reasons) else ("", "")
        t.add_row(escape(o[0]), o[1], escape(r[0]), r[1])
    return t


def _print_routes(console: Any, result: dict[str, Any]) -> None:
    """Counts and outcomes by route (runs with routes): each route over all its prompts, then per prompt,
    and the cached source scores that routed them."""
    from rich.markup import escape

    rows = {}
    for route, s in result["routes"].items():
        rows[route] = s
        rows.update({f"  {route} / {p}": ps for p, ps in s["prompts"].items()})
    console.print(_table("by route (route, then route / prompt)", rows, "route"))
    console.print("no-digit share of outputs by route: " + escape(", ".join(
        f"{name.strip()} {_fmt(s.get('no_digit_share'), pct=True)}" for name, s in rows.items())))
    scores = result.get("route_source_scores") or {}
    for route, per in (scores.get("routes") or {}).items():
        console.print(escape(f"source scores of route {route}: " + ", ".join(
            f"{n} mean {v['mean']:.3f} (n={v['n']})" for n, v in per.items())))


def register(app: typer.Typer) -> None:
    @app.command("stats")
    def stats(
        out_dir: str = typer.Argument(..., help="a run output folder (data/, rejected/, dead_letter/), local or URL"),
        as_json: bool = typer.Option(False, "--json", help="print the statistics as JSON instead of tables"),
        opening_words: int = typer.Option(3, "--opening-words", min=1, help="words that make an output's opening"),
        top: int = typer.Option(10, "--top", min=1, help="how many top openings to list"),
        quality: bool = typer.Option(True, "--quality/--no-quality", help="Gopher repetition/quality rules"),
        classifier: list[str] = typer.Option(
            None, "--classifier", help="NAME=PATH[#LABEL]: also score ok outputs with a local transformers "
                                       "classifier folder or fastText model file (repeatable; opt-in)"),
        device: str = typer.Option("cpu", help="torch device for transformers classifiers"),
    ) -> None:
        """Per-prompt (and per-model) compliance, rejection reasons, length ratios, tokens, opening
        collapse, distinct-n, compression ratio and Gopher quality; writes OUT_DIR/stats_quality.json."""
        from rich.markup import escape

        from rephraser import storage
        from rephraser.commands._console import console as out_console
        from rephraser.postprocess.stats import compute_stats

        result = compute_stats(out_dir, opening_words=opening_words, top=top, quality=quality)
        if classifier:
            from rephraser.postprocess.classifiers import load_classifier, score_folder

            result["classifier_scores"] = score_folder(out_dir, [load_classifier(c, device) for c in classifier])
        if result["routes"]:
            from rephraser.routing.scores import scores_by_route

            result["route_source_scores"] = scores_by_route(out_dir)  # the routing pass's cache, no model loaded
        blob = json.dumps(result, indent=2, ensure_ascii=False)
        target = storage.as_location(out_dir) / "stats_quality.json"
        written = _save(storage, target, blob + "\n")
        if as_json:
            typer.echo(blob)
            return
        console = out_console()
        if not result["prompts"]:
            console.print(escape(f"{out_dir}: no rows yet"))
            return
        console.print(_table(escape(f"{out_dir} (opening = first {opening_words} words)"), result["prompts"], "prompt"))
        if len(result["models"]) > 1:
            for prompt, models in result["by_model"].items():
                console.print(_table(escape(f"{prompt} by model"), models, "model"))
        for prompt, s in result["prompts"].items():
            console.print(_details(prompt, s))
        if result["routes"]:
            _print_routes(console, result)
        if classifier:
            from rephraser.postprocess.classifiers import print_scores

            print_scores(console, result["classifier_scores"])
        if written:
            console.print(escape(f"wrote {target}"))


def _save(storage: Any, target: Any, text: str) -> bool:
    """stats_quality.json is a copy of what is printed: a read-only folder (or URL) still gets its statistics,
    with one warning instead of the file."""
    from rephraser.errors import StorageError, WriteError
    from rephraser.logs import get_logger

    try:
        storage.write_text(target, text)
        return True
    except (OSError, WriteError, StorageError) as e:
        get_logger(__name__).warning(f"cannot write {target} ({getattr(e, 'strerror', None) or e}); statistics printed only")
        return False
