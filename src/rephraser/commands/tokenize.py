"""`rephraser tokenize`: train (or load) a tokenizer and write token shards for proxy training."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    @app.command("tokenize")
    def tokenize(
        input: str = typer.Argument(..., help="mix output folder, or Parquet/JSONL file(s) with a text column (local or URL)"),
        output: str = typer.Option("out/tokens", "--output", "-o", help="output folder (local: training memory-maps it)"),
        tokenizer: str = typer.Option(None, "--tokenizer", help="local tokenizer.json or HF tokenizer folder [default: train a BPE]"),
        vocab_size: int = typer.Option(4096, "--vocab-size", help="vocabulary of the trained byte-level BPE"),
        text_column: str = typer.Option("text", "--text-column", help="column holding the text"),
        heldout: float = typer.Option(0.02, "--heldout", help="share of documents held out (by text hash)"),
        train_docs: int = typer.Option(200_000, "--train-docs", help="documents used to train the BPE (first N)"),
        shard_tokens: int = typer.Option(1 << 28, "--shard-tokens", help="at most this many tokens per shard file"),
    ) -> None:
        """Write train/heldout token shards (+ offsets), tokenizer.json and meta.json (bytes per token for bpb)."""
        import itertools

        from rephraser.mix.text_files import iter_texts
        from rephraser.mix.tokenize import load_tokenizer, tokenize_texts, train_bpe

        if tokenizer:
            tok, source = load_tokenizer(tokenizer), tokenizer
        else:
            sample = itertools.islice(iter_texts(input, text_column), train_docs)
            tok, source = train_bpe(sample, vocab_size=vocab_size), f"byte-level BPE trained here (vocab {vocab_size})"
        meta = tokenize_texts(iter_texts(input, text_column), output, tok, source, heldout_fraction=heldout,
                              shard_tokens=shard_tokens)
        tr, ho = meta["splits"]["train"], meta["splits"]["heldout"]
        typer.echo(f"train {tr['tokens']:,} tokens / {tr['documents']:,} docs ({len(tr['shards'])} shard(s)), heldout "
                   f"{ho['tokens']:,} tokens / {ho['documents']:,} docs, {meta['dtype']}, vocab {meta['vocab_size']} "
                   f"-> {output}")
