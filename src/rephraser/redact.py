"""Secrets never leave the process: scrub them from every text we store or print. (Lowest ground floor.)

Two kinds of secret are replaced by MARKER:
- **known values**: every key the process was configured with (the engine's `api_key_env` value, the
  usual credential variables of the Hub, OpenAI and object stores) is registered once read; any text
  containing one verbatim is scrubbed, whatever shape the echo took;
- **header-looking values**: `Authorization: Bearer …`, `api-key: …`, `x-api-key=…`, `"access_token": "…"`
  — what a misbehaving server returns when it echoes the request headers back in an error body.

Applied at the source: the HTTP engine scrubs every error body and transport message it turns into an
exception (so dead letters, stats, cards, reports and the error line never see a key), and completion
texts for known values; the CLI's error line, warnings and each committed row's reason and texts are
scrubbed again on the way out (defence in depth: a key echoed through some other path still stops there).
"""

from __future__ import annotations

import os
import re

MARKER = "[redacted]"
MIN_SECRET = 8  # shorter values would scrub ordinary words
CREDENTIAL_ENV = ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "OPENAI_API_KEY", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
                  "GOOGLE_API_KEY", "AZURE_STORAGE_KEY")

_known: set[str] = set()
_known_re: re.Pattern[str] | None = None
_HEADER = re.compile(
    r"(?i)\b((?:proxy-)?authorization|x-api-key|api[-_]?key|access[-_]?token|auth[-_]?token|x-goog-api-key|secret[-_]?key)"
    r"(\W{0,3}?\s*[:=]\s*[\"']?)((?:bearer|basic|token)\s+)?(?!\[redacted\])(?!(?:bearer|basic|token)\s)([^\s\"',;}\]]+)")
_BEARER = re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]{8,}")


def register(value: str | None) -> None:
    """Treat `value` as a secret from now on (values shorter than MIN_SECRET are ignored)."""
    global _known_re
    if value and len(value.strip()) >= MIN_SECRET and value.strip() not in _known:
        _known.add(value.strip())
        _known_re = re.compile("|".join(re.escape(v) for v in sorted(_known, key=len, reverse=True)))


def register_env(*names: str) -> None:
    """Register the values of these environment variables and of the usual credential variables."""
    for name in (*names, *CREDENTIAL_ENV):
        register(os.environ.get(name))


def scrub(text: str, *, headers: bool = True) -> str:
    """`text` with known secret values (and, with headers=True, header-looking credentials) replaced."""
    if not text:
        return text
    if _known_re is not None:
        text = _known_re.sub(MARKER, text)
    if headers:
        text = _HEADER.sub(lambda m: f"{m[1]}{m[2]}{m[3] or ''}{MARKER}", text)
        text = _BEARER.sub(lambda m: f"{m[1]} {MARKER}", text)
    return text


def scrub_optional(text: str | None, *, headers: bool = True) -> str | None:
    return None if text is None else scrub(text, headers=headers)
