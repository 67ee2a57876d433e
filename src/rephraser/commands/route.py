"""`rephraser route`: where documents go under a run's routes, before any model time is spent.

    rephraser route -c run.yaml --dry-run -n 20     # a sample: each document's route, prompts and deciding values
    rephraser route -c run.yaml --shard 3/8         # the scoring pass: classifier scores of shard 3 into OUT/scores

Routes come from the config's `routing:` or `--routes FILE` (route_config.py describes the syntax).
`rephraser run` routes by itself (and scores what is not cached); the separate scoring pass lets a
cluster compute scores as an array job before generation, and `stats` reads the same cache.
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import typer

from rephraser.commands.run import build_config, parse_shard, read_routes
from rephraser.errors import ConfigError


def register(app: typer.Typer) -> None:
    @app.command("route")
    def route(
        config: str | None = typer.Option(None, "--config", "-c", help="YAML RunConfig with `routing:` (local or URL)"),
        routes: str | None = typer.Option(None, "--routes", help="YAML file of routes (replaces the config's routing)"),
        source: str | None = typer.Option(None, "--source", "-i", help="input file/folder; default: the config's"),
        prompts: str | None = typer.Option(None, "--prompts", "-p", help="comma-separated prompts (default: the routes')"),
        output: str | None = typer.Option(None, "--output", "-o", help="run folder whose score cache is used/filled"),
        limit: int | None = typer.Option(None, "--limit", "-n", min=1, help="documents to route (dry run: default 20)"),
        shard: str | None = typer.Option(None, help="scoring pass: shard i of N, e.g. 0/8"),
        dry_run: bool = typer.Option(False, "--dry-run", help="show each document's route and deciding values; "
                                     "write nothing"),
        as_json: bool = typer.Option(False, "--json", help="print JSON instead of tables"),
        width: int = typer.Option(60, help="characters of each document shown (dry run)"),
    ) -> None:
        """Preview the routes on a sample (--dry-run), or run the scoring pass that caches classifier scores."""
        overrides: dict[str, Any] = {
            "source.path": source, "output.dir": output,
            "prompts": [p.strip() for p in prompts.split(",") if p.strip()] if prompts else None,
            "routing": read_routes(routes) if routes else None,
            "source.limit": limit if limit is not None else (20 if dry_run else None),
        }
        if shard:
            overrides["source.shard_index"], overrides["source.shard_count"] = parse_shard(shard)
        cfg = build_config(config, overrides)
        if cfg.routing is None:
            raise ConfigError("no routes: give --routes FILE or a --config with `routing:`")
        if as_json:  # the JSON on stdout is the whole answer: progress lines stay off stderr too
            import logging

            from rephraser import logs

            logs.configure(level=logging.WARNING)
        from rephraser import storage
        from rephraser.generate.checkpoint import shard_tag
        from rephraser.records import Document
        from rephraser.routing import RoutingError, prepare_router
        from rephraser.sources import iter_source
        from rephraser.sources.sharding import run_plan

        out = storage.as_location(cfg.output.dir)
        plan = run_plan(cfg.source, out)
        tag = shard_tag(cfg.source.shard_index, cfg.source.shard_count)
        records = list(iter_source(cfg.source, plan=plan)) if dry_run else None
        router = prepare_router(cfg.routing, (lambda: records) if records is not None else
                                (lambda: iter_source(cfg.source, plan=plan)), out=out, tag=tag, write=not dry_run)
        decided = []
        for rec in records if records is not None else iter_source(cfg.source, plan=plan):
            if not isinstance(rec, Document):
                decided.append({"id": rec.id, "route": None, "prompts": [], "values": {}, "rejected": rec.reason})
                continue
            try:
                d = router.decide(rec)
            except RoutingError as e:  # shown per document, as `run` rejects it
                decided.append({"id": rec.id, "route": None, "prompts": [], "values": {}, "rejected": str(e)})
                continue
            decided.append({"id": rec.id, "route": d.route, "prompts": list(d.prompts), "values": d.values,
                            "text": rec.text if dry_run else None})
        summary = _summary(decided)
        if as_json:
            typer.echo(json.dumps({"documents": decided if dry_run else None, **summary}, ensure_ascii=False, indent=2))
            return
        _print(decided if dry_run else [], summary, width, scored=not dry_run and bool(cfg.routing.score_names()),
               out=str(out))


def _summary(decided: list[dict[str, Any]]) -> dict[str, Any]:
    routes: Counter[str] = Counter()
    units: dict[str, Counter[str]] = {}
    for d in decided:
        name = d["route"] or "(rejected)"
        routes[name] += 1
        units.setdefault(name, Counter()).update(d["prompts"])
    return {"routes": {r: {"documents": n, "prompts": dict(units[r])} for r, n in routes.items()},
            "prompt_units": dict(sum(units.values(), Counter()))}


def _print(decided: list[dict[str, Any]], summary: dict[str, Any], width: int, *, scored: bool, out: str) -> None:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    con = Console(width=200)
    if decided:
        t = Table(title="routes of a sample (dry run: nothing written, no model called)")
        for col in ("id", "route", "prompts", "deciding values", "document"):
            t.add_column(col, overflow="fold")
        for d in decided:
            values = ", ".join(f"{k}={v}" for k, v in d["values"].items()) or d.get("rejected") or ""
            head = " ".join((d.get("text") or "").split())[:width]
            t.add_row(escape(str(d["id"])), escape(d["route"] or "rejected"), escape(", ".join(d["prompts"])),
                      escape(values), escape(head))
        con.print(t)
    s = Table(title="documents per route")
    for col in ("route", "documents", "prompts given"):
        s.add_column(col)
    for name, v in summary["routes"].items():
        s.add_row(escape(name), str(v["documents"]), escape(", ".join(f"{p} ×{n}" for p, n in v["prompts"].items())))
    con.print(s)
    if scored:
        con.print(escape(f"classifier scores cached under {out}/scores (reused by `rephraser run` and `stats`)"))
