"""Heuristic text quality: the Gopher repetition and quality rules (Rae et al., 2021, appendix A).

Written here rather than taken from datatrove: datatrove's English word splitter needs spaCy (a heavy
dependency) and its NLTK path downloads data at run time, which we cannot do offline. The rules are
the published thresholds; words are whitespace tokens, which is what the rules were stated over.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field

STOP_WORDS = frozenset({"the", "be", "to", "of", "and", "that", "have", "with"})
BULLETS = ("-", "*", "•", "‣", "◦", "–", "·")
_ELLIPSES = ("...", "…")
_ALPHA = re.compile(r"[^\W\d_]")  # any letter, any script


@dataclass(frozen=True)
class GopherThresholds:
    min_words: int = 50
    max_words: int = 100_000
    min_mean_word_length: float = 3.0
    max_mean_word_length: float = 10.0
    max_symbol_word_ratio: float = 0.1  # '#' and ellipses per word
    max_bullet_lines: float = 0.9
    max_ellipsis_lines: float = 0.3
    min_alpha_words: float = 0.8
    min_stop_words: int = 2
    max_dup_line_frac: float = 0.30
    max_dup_para_frac: float = 0.30
    max_dup_line_char_frac: float = 0.20
    max_dup_para_char_frac: float = 0.20
    max_top_ngram_char_frac: dict[int, float] = field(default_factory=lambda: {2: 0.20, 3: 0.18, 4: 0.16})
    max_dup_ngram_char_frac: dict[int, float] = field(
        default_factory=lambda: {5: 0.15, 6: 0.14, 7: 0.13, 8: 0.12, 9: 0.11, 10: 0.10}
    )


@dataclass(frozen=True)
class QualityResult:
    passed: bool
    failures: tuple[str, ...]  # names of the rules that failed, e.g. "min_words", "dup_ngram_5"
    metrics: dict[str, float]


def _dup_fraction(items: list[str]) -> tuple[float, float]:
    """(share of items that repeat an earlier one, share of their characters)."""
    if not items:
        return 0.0, 0.0
    seen: set[str] = set()
    dup_n = dup_chars = 0
    for it in items:
        if it in seen:
            dup_n += 1
            dup_chars += len(it)
        seen.add(it)
    total_chars = sum(len(it) for it in items) or 1
    return dup_n / len(items), dup_chars / total_chars


def _top_ngram_char_frac(words: list[str], n: int, total_chars: int) -> float:
    if len(words) < n or total_chars == 0:
        return 0.0
    counts = Counter(tuple(words[i : i + n]) for i in range(len(words) - n + 1))
    gram, count = counts.most_common(1)[0]
    if count < 2:
        return 0.0
    return sum(len(w) for w in gram) * count / total_chars


def _dup_ngram_char_frac(words: list[str], n: int, total_chars: int) -> float:
    """Share of word characters covered by n-grams that occur more than once (each word counted once)."""
    if len(words) < n or total_chars == 0:
        return 0.0
    grams = [tuple(words[i : i + n]) for i in range(len(words) - n + 1)]
    counts = Counter(grams)
    covered = [False] * len(words)
    for i, g in enumerate(grams):
        if counts[g] > 1:
            for j in range(i, i + n):
                covered[j] = True
    return sum(len(w) for w, c in zip(words, covered, strict=True) if c) / total_chars


def gopher_metrics(text: str, thresholds: GopherThresholds | None = None) -> dict[str, float]:
    t = thresholds or GopherThresholds()
    words = text.split()
    n_words = len(words)
    word_chars = sum(len(w) for w in words)
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    paras = [p.strip() for p in re.split(r"\n\s*\n", text) if p.strip()]
    dup_line, dup_line_chars = _dup_fraction(lines)
    dup_para, dup_para_chars = _dup_fraction(paras)
    lowered = [w.lower().strip(".,;:!?\"'()[]") for w in words]
    symbols = text.count("#") + sum(text.count(e) for e in _ELLIPSES)
    m: dict[str, float] = {
        "words": float(n_words),
        "mean_word_length": word_chars / n_words if n_words else 0.0,
        "symbol_word_ratio": symbols / n_words if n_words else 0.0,
        "bullet_lines": sum(ln.startswith(BULLETS) for ln in lines) / len(lines) if lines else 0.0,
        "ellipsis_lines": sum(ln.endswith(_ELLIPSES) for ln in lines) / len(lines) if lines else 0.0,
        "alpha_words": sum(bool(_ALPHA.search(w)) for w in words) / n_words if n_words else 0.0,
        "stop_words": float(len(STOP_WORDS.intersection(lowered))),
        "dup_line_frac": dup_line,
        "dup_para_frac": dup_para,
        "dup_line_char_frac": dup_line_chars,
        "dup_para_char_frac": dup_para_chars,
    }
    for n in t.max_top_ngram_char_frac:
        m[f"top_ngram_{n}"] = _top_ngram_char_frac(lowered, n, word_chars)
    for n in t.max_dup_ngram_char_frac:
        m[f"dup_ngram_{n}"] = _dup_ngram_char_frac(lowered, n, word_chars)
    return m


def gopher_failures(m: dict[str, float], thresholds: GopherThresholds | None = None) -> list[str]:
    t = thresholds or GopherThresholds()
    checks = [
        ("min_words", m["words"] < t.min_words),
        ("max_words", m["words"] > t.max_words),
        ("mean_word_length", not t.min_mean_word_length <= m["mean_word_length"] <= t.max_mean_word_length),
        ("symbol_word_ratio", m["symbol_word_ratio"] > t.max_symbol_word_ratio),
        ("bullet_lines", m["bullet_lines"] > t.max_bullet_lines),
        ("ellipsis_lines", m["ellipsis_lines"] > t.max_ellipsis_lines),
        ("alpha_words", m["alpha_words"] < t.min_alpha_words),
        ("stop_words", m["stop_words"] < t.min_stop_words),
        ("dup_line_frac", m["dup_line_frac"] > t.max_dup_line_frac),
        ("dup_para_frac", m["dup_para_frac"] > t.max_dup_para_frac),
        ("dup_line_char_frac", m["dup_line_char_frac"] > t.max_dup_line_char_frac),
        ("dup_para_char_frac", m["dup_para_char_frac"] > t.max_dup_para_char_frac),
    ]
    checks += [(f"top_ngram_{n}", m[f"top_ngram_{n}"] > lim) for n, lim in t.max_top_ngram_char_frac.items()]
    checks += [(f"dup_ngram_{n}", m[f"dup_ngram_{n}"] > lim) for n, lim in t.max_dup_ngram_char_frac.items()]
    return [name for name, failed in checks if failed]


def assess(text: str, thresholds: GopherThresholds | None = None) -> QualityResult:
    m = gopher_metrics(text, thresholds)
    failures = gopher_failures(m, thresholds)
    return QualityResult(passed=not failures, failures=tuple(failures), metrics=m)
