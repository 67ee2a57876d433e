"""`rephraser run`: generate (or resume) a rephrasing run from a YAML config and/or flags.

Flags are shortcuts that fill the same RunConfig a YAML file describes; a flag overrides the file.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.console import Console
from rich.table import Table

from rephraser.config import RunConfig, read_yaml_document, validate
from rephraser.config.legacy import MOVED
from rephraser.engines import ENGINE_MODULES
from rephraser.errors import ConfigError
from rephraser.route_config import RoutingConfig

if TYPE_CHECKING:
    from rephraser.generate.stats import RunStats
    from rephraser.storage import Location


def parse_shard(value: str) -> tuple[int, int]:
    try:
        i, n = value.split("/")
        return int(i), int(n)
    except ValueError:
        raise ConfigError(f"--shard must look like i/N (e.g. 3/10), got {value!r}") from None


def read_routes(path: str) -> dict[str, Any]:
    """A routes file: the `routing:` mapping itself (or a file whose only key is `routing`), validated here so
    an error names the file."""
    raw, text = read_yaml_document(path, what="routes file")
    if set(raw) == {"routing"} and isinstance(raw["routing"], dict):
        raw, text = raw["routing"], None  # nested: line numbers would point at the wrong key
    validate(raw, RoutingConfig, origin=path, text=text)
    return raw


def build_config(config: str | Path | None, overrides: dict[str, Any]) -> RunConfig:
    """YAML (if any, local or URL) + flag overrides (dotted keys) -> validated RunConfig. The flags are
    applied before validation, so a file may leave out what the command line supplies (e.g. engine.base_url)."""
    base, text = read_yaml_document(config) if config else ({}, None)
    for dotted, value in overrides.items():
        if value is None:
            continue
        node = base
        *parents, leaf = dotted.split(".")
        for p in parents:
            if not isinstance(node.get(p), dict):
                node[p] = {}
            node = node[p]
        node[leaf] = value
    flags = frozenset(k for k, v in overrides.items() if v is not None)
    for (section, key), new in MOVED.items():  # a flag sets a moved key's new place: the file's old one gives way
        if ".".join(new) in flags and isinstance(base.get(section), dict):
            base[section].pop(key, None)
    return validate(base, RunConfig, origin=str(config) if config else "flags", text=text, flags=flags)


def register(app: typer.Typer) -> None:
    @app.command("run")
    def run(
        config: str | None = typer.Option(None, "--config", "-c", help="YAML RunConfig, local or URL (flags override it)"),
        source: str | None = typer.Option(None, "--source", "-i", help="input file/folder (jsonl[.gz|.zst], parquet); default: embedded wiki"),
        text_column: str | None = typer.Option(None, help="column holding the document text"),
        id_column: str | None = typer.Option(None, help="column holding unique ids (derived from text when absent)"),
        limit: int | None = typer.Option(None, "--limit", "-n", help="at most this many input records (per shard)"),
        shard: str | None = typer.Option(None, help="process shard i of N, e.g. 0/8"),
        prompts: str | None = typer.Option(None, "--prompts", "-p", help="comma-separated prompt names or YAML paths"),
        routes: str | None = typer.Option(None, "--routes", help="YAML file of document routes (which prompts each "
                                          "document gets; see `rephraser route --help`); replaces the config's routing"),
        engine: str | None = typer.Option(None, help=" | ".join(ENGINE_MODULES)),
        model: str | None = typer.Option(None, "--model", "-m", help="model alias, GGUF path or served model name"),
        base_url: str | None = typer.Option(None, help="OpenAI-compatible endpoint (engine openai)"),
        api_key_env: str | None = typer.Option(None, help="environment variable holding the API key"),
        n_ctx: int | None = typer.Option(None, help="context window (tokens)"),
        parallel: int | None = typer.Option(None, help="sequences decoded together (llamacpp)"),
        speculative: str | None = typer.Option(None, help="off | ngram: prompt-lookup speculative decoding (llamacpp; vllm also suffix)"),
        kv_cache: str | None = typer.Option(None, "--kv-cache", help="f16 | q8_0 (llamacpp): q8_0 makes greedy outputs "
                                            "independent of threads and speculation"),
        max_tokens: int | None = typer.Option(None, help="max new tokens per call"),
        temperature: float | None = typer.Option(None),
        top_p: float | None = typer.Option(None),
        top_k: int | None = typer.Option(None),
        seed: int | None = typer.Option(None),
        repetition_penalty: float | None = typer.Option(None, help="1.0 = off; >1 discourages repeated tokens"),
        sampling_preset: str | None = typer.Option(None, "--sampling-preset", help="study | small: fills the sampling fields not given"),
        constrain: str | None = typer.Option(None, help="auto | on | off | grounded: decode under each prompt's layout/structure (grounded: source numbers only)"),
        samples: int | None = typer.Option(None, "--samples", help="samples per document (rollout samples)"),
        rollout: str | None = typer.Option(None, help="single | samples | chunked"),
        output: str | None = typer.Option(None, "--output", "-o", help="output folder"),
        max_in_flight: int | None = typer.Option(None, help="requests kept in flight"),
        rows_per_part: int | None = typer.Option(None, help="commit a part every this many rows"),
        schema: str | None = typer.Option(None, "--schema", help="rephraser | finephrase: finephrase also writes the "
                                          "published rows in the study's dataset layout (OUT/finephrase/<prompt>/)"),
        force: bool = typer.Option(False, help="continue although config, prompts or inputs changed"),
        overwrite: bool = typer.Option(False, help="delete the output folder's previous results first"),
        retry_failed: bool = typer.Option(False, "--retry-failed", help="generate dead-lettered documents again (their old rows are replaced)"),
        repair: bool = typer.Option(False, "--repair", help="generate again the units of committed files that went missing (see `rephraser verify`)"),
        lease_wait: float = typer.Option(0.0, "--lease-wait", min=0.0, help="seconds to wait while another process writes the same shard (else exit 75 at once)"),
        resume: bool = typer.Option(False, "--resume", help="require an existing run in --output to continue (resuming is automatic; this only refuses to start a new one)"),
        ray: str | None = typer.Option(None, "--ray", help="run shards on a Ray cluster: ADDRESS or 'auto'"),
        ray_shards: int = typer.Option(0, help="with --ray: number of shards (default: the cluster's engine slots)"),
        progress: bool = typer.Option(True, help="live progress bar"),
        print_config: bool = typer.Option(False, "--print-config", help="print the resolved config and exit"),
    ) -> None:
        """Rephrase documents with an LLM (resumable; every input ends written, rejected or dead-lettered)."""
        overrides: dict[str, Any] = {
            "source.path": source, "source.text_column": text_column, "source.id_column": id_column,
            "source.limit": limit,
            "prompts": [p.strip() for p in prompts.split(",") if p.strip()] if prompts else None,
            "engine.kind": engine, "engine.model": model, "engine.base_url": base_url,
            "engine.api_key_env": api_key_env, "engine.n_ctx": n_ctx, "engine.parallel": parallel,
            "engine.speculative": speculative, "engine.kv_cache": kv_cache,
            "sampling.max_tokens": max_tokens, "sampling.temperature": temperature, "sampling.top_p": top_p,
            "sampling.top_k": top_k, "sampling.seed": seed, "sampling.n": samples, "rollout.kind": rollout,
            "sampling.repetition_penalty": repetition_penalty, "sampling.preset": sampling_preset,
            "engine.constrain": constrain,
            "output.dir": output, "output.rows_per_part": rows_per_part, "max_in_flight": max_in_flight,
            "output.layout": schema,
        }
        if shard:
            overrides["source.shard_index"], overrides["source.shard_count"] = parse_shard(shard)
        overrides["routing"] = read_routes(routes) if routes else None
        cfg = build_config(config, overrides)
        if print_config:
            typer.echo(cfg.to_yaml())
            return
        from rephraser import storage  # imported here: `rephraser --help` must not load pyarrow

        out = storage.as_location(cfg.output.dir)  # parsed once: the runner carries this location
        if resume and not storage.exists(out / "run.json"):
            raise ConfigError(f"--resume: {cfg.output.dir} holds no run to resume (no run.json)")
        if ray:
            from rephraser.generate.stats import RunStats, load_run_stats
            from rephraser.scale.ray import run_on_ray

            run_on_ray(cfg, ray, ray_shards or None, retry_failed=retry_failed)
            # every shard merged its stats into OUT/stats.json as it finished
            stats = load_run_stats(out) or RunStats()
        else:
            from rephraser.generate.runner import run_config

            stats = run_config(cfg, out=out, force=force, overwrite=overwrite, progress=progress,
                               retry_failed=retry_failed, lease_wait_s=lease_wait, repair=repair)
        print_summary(stats, out)
        if cfg.output.layout == "finephrase":
            print_export(out)


def print_export(out: Location) -> None:
    from rephraser.report.finephrase import write_finephrase

    done = write_finephrase(out)
    typer.echo(f"finephrase layout: {done.rows} documents with {done.rollouts} rollouts in {done.files} file(s) "
               f"under {done.folder}/<prompt>/ (a card made now lists them as finephrase-* configs)")


def print_summary(stats: RunStats, out: Location) -> None:
    con = Console()
    t = Table(title=f"rephraser run — {out}", show_header=True)
    for col in ("prompt", "ok", "rejected", "failed", "completion tokens", "top reasons"):
        t.add_column(col)
    for prompt, v in sorted(stats.per_prompt.items()):
        top = sorted(v.reasons.items(), key=lambda kv: -kv[1])[:2]
        t.add_row(prompt, str(v.ok), str(v.rejected), str(v.failed), f"{v.completion_tokens:,}",
                  "; ".join(f"{k} ×{n}" for k, n in top))
    con.print(t)
    rows, inputs = stats.rows, stats.inputs
    con.print(
        f"inputs {inputs.records} records ({inputs.rejected_input} rejected at input) · rows "
        f"ok {rows.ok} / rejected {rows.rejected} / failed {rows.failed} · "
        f"accounting {'OK' if stats.conservation_ok else 'MISMATCH'}"
    )
    s = stats.session
    if s is not None:
        con.print(
            f"this session: {s.units_run} units in {s.wall_s:.1f}s, {s.engine_calls} calls, {s.cache_hits} cache "
            f"hits, {s.output_tok_per_s:,.1f} output tok/s; resumed past {s.units_done_before} finished units"
        )
        for prompt, v in sorted((s.speculation or {}).items()):
            con.print(f"speculation {prompt}: {v['acceptance_rate']:.0%} of {v['drafted']:,.0f} guessed tokens kept, "
                      f"{v['mean_accepted_length']:.2f} tokens per verify step, {v['drafted_per_token']:.2f} guesses "
                      "per output token")
    if rows.failed:
        con.print(f"{rows.failed} rows dead-lettered (see {out}/dead_letter/): rerun with --retry-failed to "
                  "generate them again")
    con.print(f"outputs: {out}/data/<prompt>/*.parquet · stats: {out}/stats.json · config: {out}/config.yaml")


__all__ = ["register", "build_config", "print_summary", "read_routes"]
