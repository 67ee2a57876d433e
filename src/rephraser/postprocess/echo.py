"""Outputs that copy the prompt: a run of words from the prompt's own text that the source does not have.

Read by hand (docs/results.md, "Outputs that keep the source"), the 135M model fills a layout with the
prompt instead of the document: two of three FAQs of the `faq_exemplar` prompt asked the worked example's
lighthouse questions for a French source, and free outputs restate the instructions ("a page of frequently
asked questions that stands on its own"). Neither carries the source's knowledge, and the faithfulness
measures miss both (the example's words are ordinary words; its numbers are the only thing they catch).

An output echoes the prompt when it holds ECHO_WORDS consecutive words of the prompt's text (the template
without the document) that do not occur as a run in the source. Five words: shorter runs ("of the document")
occur by chance in any output; an instruction or an example sentence copied back is longer.
"""

from __future__ import annotations

from functools import lru_cache

from rephraser.postprocess.faithfulness import words_of

ECHO_WORDS = 5


def _runs(words: list[str], n: int) -> set[tuple[str, ...]]:
    return {tuple(words[i:i + n]) for i in range(len(words) - n + 1)}


@lru_cache(maxsize=64)
def _prompt_runs(prompt_text: str, n: int) -> frozenset[tuple[str, ...]]:
    """A prompt's runs, once per prompt (every row of a run is judged against the same few templates)."""
    return frozenset(_runs(words_of(prompt_text), n))


def echo_problem(text: str, prompt_text: str, source_text: str, n: int = ECHO_WORDS) -> str | None:
    """'copies the prompt: "..."' for the first run of n words the output shares with the prompt and not
    with the source, else None."""
    prompt_runs = _prompt_runs(prompt_text, n)
    if not prompt_runs:
        return None
    source_runs = _runs(words_of(source_text), n)
    out = words_of(text)
    for i in range(len(out) - n + 1):
        run = tuple(out[i:i + n])
        if run in prompt_runs and run not in source_runs:
            return f'copies the prompt: "{" ".join(run)}"'
    return None
