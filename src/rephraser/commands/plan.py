"""`rephraser plan`: projected tokens, hours and money for a run, from a pilot or the study's table."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import typer

from rephraser.errors import ConfigError


def register(app: typer.Typer) -> None:
    @app.command("plan")
    def plan(
        config: Path = typer.Option(..., "--config", help="run config YAML"),
        pilot_docs: int = typer.Option(20, "--pilot-docs", min=1, help="documents the pilot rephrases"),
        price_per_hour: float = typer.Option(2.5, "--price-per-hour", min=0.0, help="$ per device-hour"),
        target_tokens: float = typer.Option(None, "--target-tokens", help="also plan for this many kept output tokens"),
        reference: str = typer.Option(None, "--reference", help="project from the study's H100 table for MODEL (no pilot)"),
        devices: int = typer.Option(1, "--devices", min=1, help="devices (GPUs / machines) sharing the work"),
        tokens_per_doc: float = typer.Option(None, "--tokens-per-doc", help="with --reference: output tokens per document (default 359)"),
        hardware: str = typer.Option("this machine", "--hardware", help="label of the pilot's hardware"),
        keep_pilot: Path = typer.Option(None, "--keep-pilot", help="keep the pilot's output in this folder"),
        as_json: bool = typer.Option(False, "--json", help="print JSON only"),
    ) -> None:
        """Count the input, run a short pilot (or use --reference) and project the full run."""
        from rephraser.config import load_yaml
        from rephraser.cost import reference as lookup
        from rephraser.scale.plan import count_records, plan_from_pilot, plan_from_reference, run_pilot

        if target_tokens is not None and not target_tokens > 0:
            raise ConfigError("--target-tokens must be > 0")
        if reference is not None:
            try:
                lookup(reference)
            except KeyError as e:
                raise ConfigError(str(e.args[0])) from None
        cfg = load_yaml(config)
        total = count_records(cfg.source)
        if total == 0:
            raise ConfigError("the input holds no records: nothing to plan")
        pilot_info: dict[str, Any] | None = None
        if reference is not None:
            proj = plan_from_reference(cfg, reference, total, price_per_hour=price_per_hour,
                                       target_tokens=target_tokens, devices=devices,
                                       output_tokens_per_doc=tokens_per_doc)
        else:
            pilot = run_pilot(cfg, pilot_docs, keep_dir=keep_pilot, hardware=hardware)
            proj = plan_from_pilot(cfg, pilot, total, price_per_hour=price_per_hour,
                                   target_tokens=target_tokens, devices=devices)
            m = pilot.measurement
            pilot_info = {"documents": pilot.documents, "requests": m.units, "wall_s": round(m.wall_s, 3),
                          "startup_s": round(m.startup_s, 3), "window": m.window,
                          "output_tok_per_s": round(m.output_tok_per_s, 2)}
        engine = {"kind": cfg.engine.kind, "model": cfg.engine.model, **dict(cfg.engine.settings())}
        result = {"input_records": total, "engine": engine, "pilot": pilot_info,
                  "projection": _jsonable(proj.as_dict())}
        if as_json:
            print(json.dumps(result, indent=2))
        else:
            _print_table(result)


def _jsonable(d: dict[str, Any]) -> dict[str, Any]:
    return {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in d.items()}


def _fmt(v: Any, unit: str = "") -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        if abs(v) >= 1e9:
            return f"{v / 1e9:,.2f}B{unit}"
        if abs(v) >= 1e6:
            return f"{v / 1e6:,.2f}M{unit}"
        return f"{v:,.3g}{unit}" if abs(v) < 100 else f"{v:,.0f}{unit}"
    return f"{v:,}{unit}" if isinstance(v, int) else f"{v}{unit}"


def _print_table(result: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    p = result["projection"]
    t = Table(title=f"Projection ({p['source']}, {p['devices']} x {p['hardware']})", show_header=False)
    t.add_column("what")
    t.add_column("value", justify="right")
    rows = [
        ("input records", _fmt(result["input_records"])),
        ("requests (docs x prompts x samples)", _fmt(p["units"])),
        ("input tokens", _fmt(p["input_tokens"])),
        ("output tokens generated", _fmt(p["output_tokens"])),
        ("output tokens kept", f"{_fmt(p['output_tokens_kept'])} ({p['keep_rate']:.0%} of requests kept)"),
        ("throughput per device", _fmt(p["output_tok_per_s"], " tok/s")),
        ("wall time", _fmt(p["wall_hours"], " h")),
        ("device-hours", _fmt(p["device_hours"], " h")),
        (f"cost at ${p['price_per_hour']}/h", "$" + _fmt(p["cost"])),
        ("device-hours per 1B output tokens", _fmt(p["hours_per_billion"], " h")),
        ("cost per 1B output tokens", "$" + _fmt(p["cost_per_billion"])),
    ]
    if p["target_tokens"] is not None:
        rows += [
            (f"for {_fmt(float(p['target_tokens']))} kept tokens: requests", _fmt(p["target_units"])),
            ("  wall time", _fmt(p["target_wall_hours"], " h")),
            ("  device-hours", _fmt(p["target_device_hours"], " h")),
            ("  cost", "$" + _fmt(p["target_cost"])),
        ]
    for r in rows:
        t.add_row(*r)
    console = Console()
    console.print("engine: " + "; ".join(f"{k}: {v}" for k, v in result["engine"].items()), markup=False)
    if result["pilot"]:
        pi = result["pilot"]
        console.print(f"pilot: {pi['documents']} documents, {pi['requests']} requests in {pi['wall_s']} s "
                      f"(start-up {pi['startup_s']} s, window {pi['window']}, {pi['output_tok_per_s']} tok/s)")
    console.print(t)
    for note in p["notes"]:
        console.print(f"[yellow]note:[/] {note}")
