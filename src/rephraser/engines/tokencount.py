"""Token counting for engines that cannot tokenise locally (HTTP servers).

With a local `tokenizer.json` (cfg.tokenizer) counts are exact via the `tokenizers` library;
otherwise ~4 UTF-8 bytes per token, a deliberately round estimate flagged `exact=False` so the
runner leaves head-room when truncating.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rephraser.errors import ConfigError

BYTES_PER_TOKEN = 4


@dataclass(frozen=True)
class TokenCounter:
    count: Callable[[str], int]
    exact: bool
    source: str  # "tokenizer.json path" or "estimate"


def estimate_tokens(text: str) -> int:
    return math.ceil(len(text.encode("utf-8")) / BYTES_PER_TOKEN)


def token_counter(tokenizer: str | None) -> TokenCounter:
    """A counter from a tokenizer.json path (or a folder holding one); None = the estimate."""
    if not tokenizer:
        return TokenCounter(estimate_tokens, exact=False, source="estimate")
    tok, path = load_tokenizer(tokenizer)

    def count(text: str) -> int:
        # Rust tokenizer objects are safe to share across threads.
        return len(tok.encode(text, add_special_tokens=False).ids)

    return TokenCounter(count, exact=True, source=str(path))


def vocabulary(tokenizer: str) -> tuple[list[str], Callable[[str], list[int]]]:
    """Every token's text (by id) and an encoder, from a local tokenizer.json: what the entity bias of
    `constrain: grounded` needs to send `logit_bias` in the server's own token ids."""
    tok, _ = load_tokenizer(tokenizer)
    pieces = [tok.decode([i]) for i in range(tok.get_vocab_size())]
    return pieces, lambda text: tok.encode(text, add_special_tokens=False).ids


def load_tokenizer(tokenizer: str) -> tuple[Any, Path]:
    path = Path(tokenizer).expanduser()
    if path.is_dir():
        path = path / "tokenizer.json"
    if not path.is_file():
        raise ConfigError(f"engine.tokenizer: {path} not found (expected a local tokenizer.json)")
    from tokenizers import Tokenizer

    try:
        tok = Tokenizer.from_file(str(path))
    except Exception as e:  # tokenizers raises a bare Exception on malformed files
        raise ConfigError(f"engine.tokenizer: cannot load {path}: {str(e).splitlines()[0]}") from None
    return tok, path
