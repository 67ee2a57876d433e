"""CLI command modules; each defines `register(app: typer.Typer)` and is discovered by cli.py."""
