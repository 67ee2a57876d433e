"""`rephraser prompts list|show|judge`: browse the prompt library, inspect a prompt, try its contract."""

from __future__ import annotations

from pathlib import Path
from textwrap import indent

import typer
import yaml

from rephraser.errors import ConfigError

# A short document for `show`: it has braces to demonstrate that rendering leaves them alone.
EXAMPLE_DOCUMENT = (
    "The Nile is a major north-flowing river in northeast Africa. At about 6,650 km {4,130 mi} it is "
    "among the longest rivers in the world, and its waters have fed farming along its banks for millennia."
)

prompts_app = typer.Typer(help="Browse the prompt library: names, families, contracts and hashes.", no_args_is_help=True)


@prompts_app.command("list")
def list_prompts(
    family: str | None = typer.Option(None, "--family", help="only prompts of this family (e.g. finephrase)"),
) -> None:
    """Table of every library prompt: name, family, version, mode, validator, hash."""
    from rich.table import Table

    from rephraser.commands._console import console as out_console
    from rephraser.prompts.registry import library

    specs = [s for s in library().values() if family is None or s.family == family]
    if not specs:
        known = sorted({s.family for s in library().values()})
        raise ConfigError(f"no prompts in family {family!r}; families: {', '.join(known)}")
    table = Table(title=f"{len(specs)} prompts")
    for col in ("name", "family", "version", "mode", "validator", "hash"):
        table.add_column(col)
    for s in sorted(specs, key=lambda s: (s.family, s.name)):
        table.add_row(s.name, s.family, s.version, s.mode, s.contract.validator or "-", s.hash)
    out_console().print(table)


@prompts_app.command("show")
def show_prompt(
    ref: str = typer.Argument(..., help="library prompt name or path to a prompt YAML file"),
    document: Path | None = typer.Option(None, "--document", help="render with this text file instead of the example"),
) -> None:
    """Intent, contract, hash and the template rendered with an example document."""
    from rich.panel import Panel

    from rephraser.commands._console import console as out_console
    from rephraser.commands._console import is_plain
    from rephraser.prompts.registry import resolve_prompt

    spec = resolve_prompt(ref)
    doc = _read_text(document, "document") if document is not None else EXAMPLE_DOCUMENT
    console = out_console()
    console.print(f"[bold]{spec.name}[/bold]  family={spec.family}  version={spec.version}  mode={spec.mode}  hash={spec.hash}")
    console.print(f"intent: {spec.intent}")
    if spec.input_window_tokens:
        console.print(f"input window: {spec.input_window_tokens} tokens")
    console.print("contract:")
    console.print(indent(contract_yaml(spec.contract.model_dump(mode="json")), "  "), markup=False, highlight=False)
    title = "rendered prompt (continuation: sent as raw text)" if spec.mode == "continuation" else "rendered prompt (one user message)"
    if is_plain(console):  # piped: the prompt as plain text, no box to cut or pad
        console.print(f"--- {title} ---\n{spec.render(doc)}\n--- end ---", markup=False)
    else:
        console.print(Panel(spec.render(doc), title=title, expand=False), markup=False)


def contract_yaml(contract: dict) -> str:
    """The contract as YAML, multi-line strings (a grammar, a JSON schema) as literal blocks: the grammar
    reads as the grammar file it is, not as an escaped one-line string."""

    class Literal(yaml.SafeDumper):
        pass

    def text(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
        style = "|" if "\n" in value else None
        return dumper.represent_scalar("tag:yaml.org,2002:str", value.rstrip(" ") if style else value, style=style)

    Literal.add_representer(str, text)
    return yaml.dump(contract, Dumper=Literal, sort_keys=False, allow_unicode=True, width=10_000).rstrip("\n")


def _read_text(path: Path, what: str) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"cannot read {what} {path}: {e.__class__.__name__}") from None


@prompts_app.command("judge")
def judge_output(
    ref: str = typer.Argument(..., help="library prompt name or path to a prompt YAML file"),
    output: Path = typer.Argument(..., help="text file holding one raw model output"),
    source: Path | None = typer.Option(None, "--source", help="the source document (enables the length window)"),
    finish_reason: str = typer.Option("stop", "--finish-reason", help="as reported by the engine: stop | length"),
) -> None:
    """Apply a prompt's contract to one raw output and print the verdict and the cleaned text
    (for writing and debugging prompt contracts)."""
    from rich.markup import escape
    from rich.panel import Panel

    from rephraser.commands._console import console as out_console
    from rephraser.postprocess.contract import apply_contract
    from rephraser.prompts.registry import resolve_prompt

    spec = resolve_prompt(ref)
    raw = _read_text(output, "output")
    src = _read_text(source, "source") if source is not None else ""
    v = apply_contract(spec, raw, source_text=src, finish_reason=finish_reason)
    console = out_console()
    if v.ok:
        console.print(f"[green]ok[/green]  prompt={spec.name} hash={spec.hash}")
    else:
        console.print(f"[red]rejected[/red]  rule={escape(str(v.rule))}  reason={escape(str(v.reason))}")
    if src:
        console.print(f"length ratio: {len(v.text) / len(src):.2f}")
    console.print(Panel(v.text or "(empty)", title="cleaned text", expand=False), markup=False)
    if not v.ok:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.add_typer(prompts_app, name="prompts")
