"""Cleaning rules: turn a raw model output into the text a prompt's contract asked for.

Pure string functions, no I/O. Each does one thing so the contract can apply them in a fixed order
and name the rule that rejected an output. They only remove wrapping the model added around the
content (think blocks, announcing lines, "Sure! Here is ..." preambles, "I hope this helps" chatter);
they never rewrite the content itself.
"""

from __future__ import annotations

import re

# ---- think blocks ------------------------------------------------------------------------------
_THINK_OPEN = re.compile(r"<think>", re.IGNORECASE)
_THINK_CLOSE = re.compile(r"</think>", re.IGNORECASE)


def drop_think_blocks(text: str) -> str:
    """Remove <think>...</think> blocks, an unterminated trailing <think>..., and everything before a
    stray </think> (chat templates that pre-open the block leave only its closing tag)."""
    # Literal tag positions, paired in one pass: a lazy `.*?` regex would go quadratic on many open tags.
    events = sorted(
        [(m.start(), m.end(), True) for m in _THINK_OPEN.finditer(text)]
        + [(m.start(), m.end(), False) for m in _THINK_CLOSE.finditer(text)]
    )
    kept: list[str] = []
    pos, inside = 0, False
    for start, end, is_open in events:
        if is_open and not inside:
            kept.append(text[pos:start])
            inside = True
        elif not is_open:
            if not inside:
                kept = []  # a stray closing tag: everything before it was thinking
            inside, pos = False, end
    if not inside:
        kept.append(text[pos:])
    return "".join(kept)


# ---- tagged block (REWIRE style) -----------------------------------------------------------------
def extract_tagged_block(text: str, tag: str) -> tuple[str | None, str | None]:
    """(content of the last complete <tag>...</tag> block, None) or (None, reason).

    The last block wins because a model may quote the tag while reasoning before writing the real one.
    """
    t = re.escape(tag)
    closes = list(re.finditer(rf"</{t}>", text, re.IGNORECASE))
    opens = list(re.finditer(rf"<{t}>", text, re.IGNORECASE))
    if closes:
        # The nearest opening tag before the last closing tag: earlier mentions are not the block.
        before = [m for m in opens if m.end() <= closes[-1].start()]
        if before:
            return text[before[-1].end() : closes[-1].start()], None
    if opens:
        return None, f"unterminated <{tag}> block"
    return None, f"missing <{tag}> block"


# ---- announcing prefixes ---------------------------------------------------------------------
_LEAD_DECOR = r"[\s>#*_]*"  # leading whitespace, quote marks, headings, bold/italic markers


def strip_prefix(text: str, prefix: str) -> str:
    """Remove one announcing line such as "Here is a paraphrased version:" from the start.

    Case-insensitive, tolerant of markdown decoration around it, of flexible inner whitespace, and of
    a missing or doubled trailing colon. Text that does not start with the prefix is returned as is.
    """
    core = prefix.strip().rstrip(":").strip()
    if not core:
        return text
    words = r"\s+".join(re.escape(w) for w in core.split())
    # The prefix as whole words, then any closing bold/colon/full stop on the same line.
    pattern = rf"^{_LEAD_DECOR}{words}(?!\w)[ \t]*[*_]*[ \t]*[:.]*[ \t]*[*_]*[ \t]*:?[ \t]*\n?"
    m = re.match(pattern, text, re.IGNORECASE)
    return text[m.end() :] if m else text


def strip_prefixes(text: str, prefixes: tuple[str, ...] | list[str]) -> str:
    """Strip any of the prefixes, repeatedly (models sometimes repeat the announcing line)."""
    for _ in range(4):
        before = text
        for p in prefixes:
            text = strip_prefix(text.lstrip(), p)
        if text == before:
            break
    return text


# ---- preambles, refusals, chatter ------------------------------------------------------------------
_INTERJECTION = r"(?:sure(?:\s+thing)?|certainly|of\s+course|absolutely|okay|ok|great|alright|no\s+problem)"
# "Sure!" / "Certainly." alone, or followed by "here is ...:" on the same line.
_INTERJECTION_LEAD = re.compile(rf"^{_LEAD_DECOR}{_INTERJECTION}\s*[!.,]+[ \t]*", re.IGNORECASE)
# "Here is the FAQ:" / "Here's a table based on the document:" / "Below is ...:" up to its colon, also
# after an opening sentence of chatter on the same line ("That would indeed provide a complete answer
# to your document. Here is the FAQ with the correct response:", seen from SmolLM2-135M).
_ANNOUNCE = (r"(?:here\s+(?:is|are)|here's|below\s+(?:is|are)|the\s+following\s+(?:is|are)|"
             r"i(?:'ve|\s+have)\s+(?:created|written|made|prepared|turned|converted|rewritten|reworked)|"
             r"(?:let's|let\s+me)\s+(?:create|write|make|turn|break|put|start))")
# Bounded lead: an unbounded run of decoration followed by the optional sentence would backtrack
# quadratically on a degenerate output of thousands of '*' or '#'.
_LEAD_SHORT = r"[\s>#*_]{0,12}"
_HERE_IS = re.compile(
    rf"^{_LEAD_SHORT}(?:[^\n]{{0,240}}?[.!]\s+)?{_ANNOUNCE}\b[^\n:]{{0,160}}:[*_ \t]*(?:\n|$)",
    re.IGNORECASE,
)
# A first line that talks to the user instead of doing the task, when more text follows it:
# "Sure, I can give you a reply that includes all the mentioned questions but only with the FAQ."
_ADDRESSING = re.compile(
    rf"^{_LEAD_SHORT}(?:{_INTERJECTION}\s*[,!.]?\s*)?i(?:'ll|\s+will|\s+can|'m\s+going\s+to|\s+am\s+going\s+to|"
    r"\s+would\s+be\s+happy\s+to)\s(?=[^\n]*\b(?:answer|reply|response|faq|table|questions?|document|text|help|"
    r"provide|create|write|rewrite|summary|list|guide|tutorial|problem|format)\b)[^\n]{0,240}[.!:][*_ \t]*\n+(?=\S)",
    re.IGNORECASE,
)
# The template's layout placeholder echoed as a line: "<the table>", "<the markdown table>".
_PLACEHOLDER = re.compile(r"^[ \t]*<(?:the|your|a)\s[^<>\n]{1,40}>[ \t]*\n+(?=\S)", re.IGNORECASE)
_REFUSAL = re.compile(
    r"^[\s>#*_]*(?:i'?m\s+sorry|i\s+am\s+sorry|sorry,?\s+(?:but\s+)?i\b|i\s+(?:cannot|can't|can\s+not|won't|will\s+not)\s+"
    r"(?:help|assist|do|provide|complete|fulfil|comply|rewrite|rephrase|create|generate)|"
    r"i(?:'m|\s+am)\s+(?:unable|not\s+able)\s+to|as\s+an\s+ai\b|unfortunately,?\s+i\s+(?:cannot|can't|am\s+unable))",
    re.IGNORECASE,
)
_CHATTER = re.compile(
    r"^(?:i\s+hope\s+(?:this|that|it)|hope\s+(?:this|that|it)\s+helps|let\s+me\s+know|please\s+let\s+me\s+know|"
    r"feel\s+free\s+to|if\s+you\s+(?:have|need|want|would\s+like)\b|is\s+there\s+anything\s+else|"
    r"would\s+you\s+like\s+me\s+to|do\s+you\s+want\s+me\s+to|i\s+can\s+also\b|happy\s+to\s+help)",
    re.IGNORECASE,
)
_SENTENCE_SPLIT = re.compile(r"(?<=[.!?])\s+")


def strip_preambles(text: str) -> str:
    """Remove leading "Sure!" interjections, "Here is ...:" announcement lines, first lines addressed to the
    user ("Sure, I can give you ...") and echoed layout placeholders ("<the table>"), repeatedly."""
    for _ in range(4):
        before = text
        text = text.lstrip()
        text = _ADDRESSING.sub("", text, count=1)
        text = _PLACEHOLDER.sub("", text, count=1)
        text = _INTERJECTION_LEAD.sub("", text, count=1)
        text = _HERE_IS.sub("", text.lstrip(), count=1)
        if text == before:
            break
    return text


def is_refusal(text: str) -> bool:
    """The output opens by declining the task (checked on the first 200 characters only, so a
    character saying "I'm sorry" inside a dialogue does not count)."""
    return bool(_REFUSAL.match(text[:200]))


def strip_trailing_chatter(text: str) -> str:
    """Drop closing lines and sentences addressed to the user ("I hope this helps!", "Let me know ...")."""
    lines = text.rstrip().split("\n")
    while lines:
        last = lines[-1].strip().strip("*_ ")
        if not last:
            lines.pop()
            continue
        sentences = _SENTENCE_SPLIT.split(last)
        keep = len(sentences)
        while keep > 0 and _CHATTER.match(sentences[keep - 1].strip("*_ ")):
            keep -= 1
        if keep == len(sentences):
            break
        if keep == 0:
            lines.pop()
        else:
            # Keep the content sentences of a line that ends with chatter.
            cut = lines[-1].rfind(sentences[keep])
            lines[-1] = (lines[-1][:cut] if cut >= 0 else " ".join(sentences[:keep])).rstrip()
            break
    return "\n".join(lines)


_WHOLE_FENCE = re.compile(r"^```[ \t]*(?:markdown|md|text|plaintext|txt)?[ \t]*\n(.*)\n```[ \t]*$", re.IGNORECASE | re.DOTALL)


def unwrap_code_fence(text: str) -> str:
    """Unwrap an output that is entirely one ```markdown / ```text fence (a chat-UI habit): the fence is
    wrapping, not content. Real code fences (```python) and fences inside the text are left alone."""
    m = _WHOLE_FENCE.match(text.strip())
    if m and "```" not in m.group(1):
        return m.group(1)
    return text


# ---- whitespace -------------------------------------------------------------------------------
def normalise_whitespace(text: str) -> str:
    """Unix newlines, no trailing spaces, at most one blank line in a row, no outer blank space.
    Inner spacing is kept: indentation and table alignment carry meaning."""
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\u00a0", " ")
    text = "\n".join(line.rstrip() for line in text.split("\n"))
    text = re.sub(r"\n{3,}", "\n\n", text)
    return text.strip()
