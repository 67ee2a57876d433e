"""Where a YAML file went wrong: `file:line:column`, the line itself and a caret under the spot.

PyYAML marks every syntax error and every node with its position; a validation error (pydantic) only has a
path of keys, so `locate` walks the composed node tree along that path to the node the error is about.
Lines and columns are 1-based, as editors count them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import yaml

EXCERPT_WIDTH = 100  # longer lines are cut around the caret


def excerpt(text: str, line: int, column: int) -> str:
    """Two lines: the 1-based `line` of `text` and a caret under `column` (1-based)."""
    lines = text.splitlines() or [""]
    src = lines[min(max(line, 1), len(lines)) - 1].expandtabs(1)  # tabs as one column, as PyYAML counts them
    col = max(column, 1)
    start = max(0, col - EXCERPT_WIDTH // 2) if len(src) > EXCERPT_WIDTH else 0
    shown = src[start:start + EXCERPT_WIDTH]
    gutter = f"{line} | "
    return f"  {gutter}{shown}\n  {' ' * (len(gutter) - 2)}| {' ' * (col - 1 - start)}^"


def syntax_message(e: yaml.YAMLError, origin: str, text: str) -> str:
    """A PyYAML error as `origin:L:C: what went wrong (context)` plus the excerpt."""
    mark = getattr(e, "problem_mark", None)
    problem = getattr(e, "problem", None) or str(e).splitlines()[0]
    context = getattr(e, "context", None)
    start = getattr(e, "context_mark", None)
    if context and start is not None:
        context += f" that starts at {start.line + 1}:{start.column + 1}"
    what = f"{problem} ({context})" if context else problem
    if mark is None:
        return f"{origin}: {what}"
    line, col = mark.line + 1, mark.column + 1
    return f"{origin}:{line}:{col}: {what}\n{excerpt(text, line, col)}"


def locate(text: str, path: Sequence[Any], *, key: bool = False) -> tuple[int, int] | None:
    """(line, column) of the node at `path` (mapping keys and list indices) in the YAML `text`; with `key`, of
    the key's name rather than its value (an unknown key). For a path that does not exist (a missing key),
    the deepest part that does. None when the text does not compose."""
    try:
        node = yaml.compose(text)
    except yaml.YAMLError:
        return None
    if node is None:
        return None
    key_mark, complete = None, True
    for step in path:
        if isinstance(node, yaml.MappingNode):
            hit = next(((k, v) for k, v in node.value if str(k.value) == str(step)), None)
        elif isinstance(node, yaml.SequenceNode) and isinstance(step, int) and 0 <= step < len(node.value):
            hit = (None, node.value[step])
        else:
            hit = None
        if hit is None:
            complete = False
            break
        key_mark, node = (hit[0].start_mark if hit[0] is not None else None), hit[1]
    use_key = key_mark is not None and ((key and complete) or _is_empty(node))
    mark = key_mark if use_key else node.start_mark
    if mark is None:  # a node built without marks (never from the composer): the top of the file
        return 1, 1
    return mark.line + 1, mark.column + 1


def _is_empty(node: yaml.Node) -> bool:
    """`key:` with nothing after it: its value's mark is on the next line, so point at the key."""
    return isinstance(node, yaml.ScalarNode) and node.value == "" and node.tag.endswith(":null")
