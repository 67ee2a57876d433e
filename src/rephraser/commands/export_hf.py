"""`rephraser export-hf CKPT OUT`: a proxy checkpoint as a transformers LlamaForCausalLM folder."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console


def register(app: typer.Typer) -> None:
    @app.command("export-hf")
    def export_hf(
        checkpoint: Path = typer.Argument(..., help="proxy checkpoint folder (config.json, model.pt, tokenizer.json)"),
        out: Path = typer.Argument(..., help="new folder for the transformers model (must not exist or be empty)"),
    ) -> None:
        """Write a proxy checkpoint as a standard transformers folder (LlamaForCausalLM, safetensors)."""
        from rephraser.evaluate.export_hf import export_hf as run_export

        console = Console()
        summary = run_export(checkpoint, out)
        console.print(f"wrote {summary['output']}: {summary['architecture']}, {summary['parameters']:,} parameters, "
                      f"BOS=EOS={summary['eos_token']!r} (id {summary['eos_id']})", highlight=False)
        if summary["dropped_tokenizer_post_processor"]:
            console.print("note: the tokenizer's special-token post-processor was dropped so that the transformers "
                          "default encodes text exactly as training did", highlight=False)
        if summary["document_masking"]:
            console.print("[yellow]note: this checkpoint was trained with document masking; transformers attends "
                          "across EOS tokens, so scores differ on windows that contain an EOS[/yellow]")
