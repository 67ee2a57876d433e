"""Per-sequence constrained decoding for the embedded llama.cpp engine, with llguidance.

Each sequence in the batch gets its own `LLMatcher` (its own grammar state); after every decode step
the masks of all constrained sequences are computed together (in parallel, on llguidance's threads)
into one bitmask array, and each sequence samples from its own row with its own seeded RNG. So a
batch never mixes constraints, and a document's output still depends only on its seed and prompt.

Why llguidance (measured on SmolLM2-135M's 49k vocabulary, docs/engines.md "Constrained decoding"): no
dependencies (xgrammar needs torch + transformers + triton), a ready bridge to llama.cpp vocabularies,
GBNF / Lark / regex / JSON schema inputs, and ~0.1-0.8 ms per mask; llama.cpp's own grammar sampler
took 11-13 ms per token on the same vocabulary, about the cost of a whole decode step.
"""

from __future__ import annotations

import threading
import warnings
from typing import Any

import numpy as np

from rephraser.engines.base import EngineError, OutputStructure
from rephraser.prompts.structure import to_llguidance

FORMS = frozenset({"gbnf", "lark", "regex", "json_schema"})  # OutputStructure.form values


class ConstraintFactory:
    """Builds matchers for one llama.cpp vocabulary; the tokenizer bridge is built on first use (~0.5 s)."""

    def __init__(self, vocab: Any, n_vocab: int, end_tokens: list[int]):
        self.vocab = vocab
        self.n_vocab = n_vocab
        self.end_tokens = end_tokens
        self._tokenizer: Any = None
        self._executor: Any = None
        self._lock = threading.Lock()

    def _ensure(self) -> None:
        with self._lock:
            if self._tokenizer is None:
                import llguidance
                import llguidance.llamacpp

                with warnings.catch_warnings():  # it calls a llama.cpp accessor deprecated per token
                    warnings.simplefilter("ignore", DeprecationWarning)
                    self._tokenizer = llguidance.llamacpp.lltokenizer_from_vocab(
                        self.vocab, n_vocab=self.n_vocab, eos_token=self.end_tokens)
                self._executor = llguidance.LLExecutor()

    @property
    def tokenizer(self) -> Any:
        self._ensure()
        return self._tokenizer

    def matcher(self, structure: OutputStructure) -> Any:
        """A fresh matcher for one sequence; EngineError (one line) when the structure cannot be used."""
        import llguidance

        self._ensure()
        try:
            grammar = to_llguidance(structure.form, structure.value)
        except ValueError as e:
            raise EngineError(f"cannot use the {structure.form}: {e}") from None
        m = llguidance.LLMatcher(self._tokenizer, grammar, log_level=0)
        if m.is_error():
            raise EngineError(f"cannot use the {structure.form}: {first_line(m.get_error())}")
        return m

    def masks(self, matchers: list[Any], drafts: list[list[int]] | None = None) -> list[np.ndarray]:
        """Allowed-token masks, computed in parallel: per matcher a bool array with one row for its next
        token and, given `drafts`, one more per guessed token (the mask after the guesses before it; the
        matchers are rolled back, so their state does not move). Guesses must be valid (validate_tokens)."""
        drafts = drafts or [[] for _ in matchers]
        words = (self.n_vocab + 31) // 32
        starts = np.cumsum([0] + [1 + len(d) for d in drafts])
        bits = np.zeros((int(starts[-1]), words), dtype=np.int32)
        # llguidance's draft call refuses an empty draft: sequences without guesses this step go through
        # the plain call, into their own rows of the same buffer
        guessed = [(m, int(starts[i]), list(d)) for i, (m, d) in enumerate(zip(matchers, drafts, strict=True)) if d]
        plain = [(m, int(starts[i])) for i, (m, d) in enumerate(zip(matchers, drafts, strict=True)) if not d]
        if guessed:
            self._executor.unsafe_compute_mask_ptr_with_draft_token(guessed, bits.ctypes.data, words * 4, len(bits))
        if plain:
            self._executor.unsafe_compute_mask_ptr(plain, bits.ctypes.data, words * 4, len(bits))
        allowed = np.unpackbits(bits.view(np.uint8), axis=1, bitorder="little")[:, : self.n_vocab].astype(bool)
        return [allowed[starts[i]:starts[i + 1]] for i in range(len(matchers))]


def first_line(text: str, limit: int = 300) -> str:
    line = next((ln.strip() for ln in text.splitlines() if ln.strip()), "grammar error")
    return line if len(line) <= limit else line[: limit - 3] + "..."
