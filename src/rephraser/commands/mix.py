"""`rephraser mix`: build a token-ratio mixture of rephrased outputs and original documents."""

from __future__ import annotations

from pathlib import Path

import typer

from rephraser.errors import ConfigError


def register(app: typer.Typer) -> None:
    @app.command("mix")
    def mix(
        component: list[str] = typer.Option(
            None, "--component", "-c", help="PATH[#PROMPT]:WEIGHT; PATH = rephraser output folder, source file, or 'wiki'"
        ),
        tokens: int = typer.Option(None, "--tokens", help="total token budget"),
        seed: int = typer.Option(None, "--seed", help="shuffle seed [default: 0]"),
        output: str = typer.Option(None, "--output", "-o", help="output folder [default: out/mix]"),
        tokenizer: str = typer.Option(None, "--tokenizer", help="tokenizer.json used to count tokens [default: bytes/4]"),
        config: Path = typer.Option(None, "--config", help="MixConfig YAML; flags given override its values"),
        overwrite: bool = typer.Option(False, "--overwrite", help="replace an existing mixture in the output folder"),
    ) -> None:
        """Take documents from each component until its token share is met; write Parquet + manifest.json."""
        from rephraser.config import load_yaml, validate
        from rephraser.mix.config import MixConfig, parse_component
        from rephraser.mix.mixer import run_mix

        raw = load_yaml(config, MixConfig).model_dump(mode="json") if config else {}
        if component:
            raw["components"] = [parse_component(c).model_dump(mode="json", exclude_none=True) for c in component]
        for key, value in (("tokens", tokens), ("seed", seed), ("output", output), ("tokenizer", tokenizer)):
            if value is not None:
                raw[key] = value
        if not raw.get("components"):
            raise ConfigError("give at least one --component PATH:WEIGHT (or --config mix.yaml)")
        if not raw.get("tokens"):
            raise ConfigError("give --tokens (the mixture's total token budget)")
        cfg = validate(raw, MixConfig, origin="mix")
        manifest = run_mix(cfg, overwrite=overwrite)
        typer.echo(f"mixed {manifest['achieved_tokens']:,} tokens ({manifest['token_counter']}) "
                   f"in {manifest['documents']:,} documents -> {cfg.output}")
        for c in manifest["components"]:
            typer.echo(f"  {c['name']:<28} requested {c['requested_share']:.3f} achieved {c['achieved_share']:.3f} "
                       f"docs {c['documents']:>7,} epochs {c['epochs']}")
