"""README's "full configuration, with its defaults" is RunConfig's: every field, every default.

A field added to config/ without a line in that block (or a default changed on one side only) fails here.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from rephraser.config import RunConfig

README = Path(__file__).resolve().parents[2] / "README.md"


def documented_config() -> dict:
    text = README.read_text(encoding="utf-8")
    start = text.index("```yaml", text.index("The full configuration, with its defaults")) + len("```yaml")
    return yaml.safe_load(text[start:text.index("```", start)])


def _same(doc, code) -> bool:
    if isinstance(code, str) and isinstance(doc, bool):  # YAML 1.1 reads a bare `off` as false
        return code == ("on" if doc else "off")
    return doc == code


def differences(doc: dict, code: dict, path: str = "") -> list[str]:
    out = []
    for key in sorted(set(doc) | set(code)):
        where = f"{path}{key}"
        if key not in doc:
            out.append(f"{where}: missing from the README (default {code[key]!r})")
        elif key not in code:
            out.append(f"{where}: in the README, not in RunConfig")
        elif isinstance(code[key], dict) and code[key] and isinstance(doc[key], dict):
            out += differences(doc[key], code[key], f"{where}.")
        elif not _same(doc[key], code[key]):
            out.append(f"{where}: README says {doc[key]!r}, RunConfig's default is {code[key]!r}")
    return out


def test_readme_configuration_block_is_runconfigs_defaults():
    diff = differences(documented_config(), RunConfig.model_validate({}).model_dump(mode="json"))
    assert not diff, "README's configuration block differs from RunConfig:\n" + "\n".join(diff)
