"""`rephraser export-hf CKPT OUT`: a proxy checkpoint as a transformers LlamaForCausalLM folder."""

from __future__ import annotations

import typer
from rich.console import Console


def register(app: typer.Typer) -> None:
    @app.command("export-hf")
    def export_hf(
        checkpoint: str = typer.Argument(..., help="proxy checkpoint folder (config.json, model.pt, tokenizer.json)"),
        out: str = typer.Argument(..., help="new folder for the transformers model (must not exist or be empty)"),
    ) -> None:
        """Write a proxy checkpoint as a standard transformers folder (LlamaForCausalLM, safetensors)."""
        from rephraser.evaluate.export_hf import export_hf as run_export
        from rephraser.storage import local_only

        console = Console()
        why = "the model is read and written with torch and safetensors on disk"
        summary = run_export(local_only(checkpoint, "checkpoint", why), local_only(out, "export folder", why))
        console.print(f"wrote {summary['output']}: {summary['architecture']}, {summary['parameters']:,} parameters, "
                      f"BOS=EOS={summary['eos_token']!r} (id {summary['eos_id']})", highlight=False)
        if summary["dropped_tokenizer_post_processor"]:
            console.print("note: the tokenizer's special-token post-processor was dropped so that the transformers "
                          "default encodes text exactly as training did", highlight=False)
        if summary["document_masking"]:
            console.print("[yellow]note: this checkpoint was trained with document masking; transformers attends "
                          "across EOS tokens, so scores differ on windows that contain an EOS[/yellow]")
