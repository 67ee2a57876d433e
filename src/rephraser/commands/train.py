"""`rephraser train`: train a proxy model on tokenized shards (resumable), log loss and bits-per-byte.

The same command runs as one process or as every rank of a torchrun job:
    torchrun --nproc-per-node 8 -m rephraser.cli train DATA --batch-size 512 --micro-batch-size 4 ...
Only rank 0 prints.
"""

from __future__ import annotations

import os
from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    @app.command("train")
    def train_cmd(
        data: str = typer.Argument(None, help="folder written by `rephraser tokenize`"),
        output: str = typer.Option(None, "--output", "-o", help="output folder [default: out/train]"),
        preset: str = typer.Option(None, "--preset", help="model preset (tiny-1m, mini-8m, small-30m, base-150m, 500m, 1.7b)"),
        tokens: int = typer.Option(None, "--tokens", help="token budget"),
        steps: int = typer.Option(None, "--steps", help="optimizer steps (instead of --tokens)"),
        batch_size: int = typer.Option(None, "--batch-size", help="sequences per optimizer step over all ranks [default: 16]"),
        micro_batch_size: int = typer.Option(None, "--micro-batch-size", help="sequences per forward pass on one rank "
                                             "(gradient accumulation) [default: batch / world size]"),
        seq_len: int = typer.Option(None, "--seq-len"),
        lr: float = typer.Option(None, "--lr", help="peak learning rate [default: 5e-4]"),
        seed: int = typer.Option(None, "--seed", help="model init seed"),
        data_seed: int = typer.Option(None, "--data-seed", help="data order seed"),
        eval_every: int = typer.Option(None, "--eval-every", help="steps between held-out evaluations"),
        checkpoint_every: int = typer.Option(None, "--checkpoint-every", help="steps between resumable checkpoints"),
        device: str = typer.Option(None, "--device", help="auto | cpu | cuda"),
        threads: int = typer.Option(None, "--threads", help="CPU threads per rank"),
        parallel: str = typer.Option(None, "--parallel", help="under torchrun: auto | ddp | fsdp [default: auto]"),
        compile: bool = typer.Option(None, "--compile/--no-compile", help="torch.compile the model [default: no]"),
        activation_checkpointing: bool = typer.Option(None, "--activation-checkpointing/--no-activation-checkpointing",
                                                      help="recompute activations in backward [default: no]"),
        resume: bool = typer.Option(None, "--resume/--no-resume", help="continue from the newest checkpoint [default: yes]"),
        config: Path = typer.Option(None, "--config", help="TrainConfig YAML; flags given override it"),
    ) -> None:
        """AdamW + warmup-stable-decay; writes curve.jsonl, checkpoints/, final/ and summary.json (also under torchrun)."""
        from rephraser.config import load_yaml, validate
        from rephraser.errors import ConfigError
        from rephraser.train.trainer import TrainConfig, train

        raw = load_yaml(config, TrainConfig).model_dump(mode="json", exclude_unset=True) if config else {}
        flags = dict(data=data, output=output, preset=preset, tokens=tokens, steps=steps, batch_size=batch_size,
                     micro_batch_size=micro_batch_size, seq_len=seq_len, lr=lr, seed=seed, data_seed=data_seed,
                     eval_every=eval_every, checkpoint_every=checkpoint_every, device=device, threads=threads,
                     parallel=parallel, compile=compile, activation_checkpointing=activation_checkpointing,
                     resume=resume)
        raw.update({k: v for k, v in flags.items() if v is not None})
        if tokens is not None:
            raw.pop("steps", None)
        if steps is not None:
            raw.pop("tokens", None)
        if not raw.get("data"):
            raise ConfigError("give the tokenized DATA folder (or data: in --config)")
        cfg = validate(raw, TrainConfig, origin="train")

        def progress(point: dict, total: int) -> None:
            held = f" heldout {point['heldout_loss']:.4f} bpb {point['bpb']:.4f}" if point["bpb"] is not None else ""
            typer.echo(f"step {point['step']}/{total} loss {point['loss']:.4f} lr {point['lr']:.2e} "
                       f"{point['tok_s']:,.0f} tok/s{held}")

        summary = train(cfg, progress=progress)
        if os.environ.get("RANK", "0") != "0":
            return
        typer.echo(f"done: {summary['parameters']:,} params, {summary['tokens']:,} tokens, "
                   f"final bpb {summary['final_bpb']} -> {summary['checkpoint']}")
