"""Named format validators: does a cleaned output have the shape its prompt asked for?

Each validator takes the cleaned text and returns None when the format holds, or a short, stable
reason string (stable so that rejection counts aggregate by reason). They are deliberately tolerant
of harmless variation (bold markers, headings, numbering styles) because small models rarely follow
a layout to the letter; they reject only outputs that lack the requested structure altogether.
Prompt files name a validator in `contract.validator`; an unknown name is a load-time ConfigError.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from rephraser.prompts.numbering import numbering_problem
from rephraser.prompts.repeats import repeated_unit

Validator = Callable[[str], "str | None"]

# Markdown decorations that may wrap a label: headings, quotes, bold/italic, list bullets, numbering.
_WS = re.compile(r"[ \t\f\v\u00a0]+")
_DECOR = re.compile(r"^\s*(?:#{1,6}\s+|>\s*)?(?:[-*+•]\s+)?(?:\d{1,3}[.)]\s+)?[*_]{0,3}\s*")


def _undecorate(line: str) -> str:
    """The line without leading markdown decoration, and with bold markers removed."""
    return _DECOR.sub("", line).replace("**", "").replace("__", "").strip()


def _lines(text: str) -> list[str]:
    # Whitespace runs collapse to one space first: the label patterns below then cannot backtrack
    # quadratically on a degenerate line of thousands of spaces.
    return [_WS.sub(" ", ln).rstrip() for ln in text.splitlines()]


# ---- question / answer pairs ----------------------------------------------------------------
# Labels in the languages of the embedded sources: English Q/A, French "Q : … R :" (Question/Réponse, with
# the space French puts before a colon), Spanish "P: … R:" (Pregunta/Respuesta).
_Q_LABEL = re.compile(r"^(?:(?:q|question|pregunta)\s*\d{0,3}\s*[:.)]|p\s*\d{0,3}\s*:)\s*(.*)$", re.IGNORECASE)
# "A." or "A)" is also a multiple-choice option; only "A:" (or "Answer...") marks an answer.
_A_STRICT = re.compile(r"^(?:[ar]\s*\d{0,3}\s*:|(?:answer|réponse|reponse|respuesta)\s*\d{0,3}\s*[:.)])\s*(.*)$",
                       re.IGNORECASE)
_INLINE_ANSWER = re.compile(r"\?\s*(?:\*\*)?(?:a|r|answer|réponse|respuesta)\s*:\s*(\S.*)$", re.IGNORECASE)


def qa_pairs(text: str, *, minimum: int = 2) -> str | None:
    """At least `minimum` questions, each followed by a non-empty answer.

    A question is a line labelled Q:/Question: (any decoration) or a line ending with "?"; its answer
    is whatever non-question text follows it (labelled A:/Answer: or not).
    """
    pairs = 0
    open_question = False
    answered = False
    for raw in _lines(text):
        line = _undecorate(raw)
        if not line:
            continue
        q = _Q_LABEL.match(line)
        a = _A_STRICT.match(line)
        is_question = bool(q) or (not a and line.endswith("?"))
        if is_question:
            if open_question and answered:
                pairs += 1
            open_question = True
            # "Q: ... ? A: ..." on one line carries its answer with it.
            rest = q.group(1) if q else line
            inline = _INLINE_ANSWER.search(rest)
            answered = bool(inline)
            continue
        if open_question:
            body = a.group(1) if a else line
            if body.strip():
                answered = True
    if open_question and answered:
        pairs += 1
    if pairs < minimum:
        return f"fewer than {minimum} question-answer pairs"
    return None


# ---- markdown table, then a question and its answer ------------------------------------------
_SEPARATOR_CELL = re.compile(r"^:?-{2,}:?$")


def _cells(line: str) -> list[str]:
    s = line.strip()
    if s.startswith("|"):
        s = s[1:]
    if s.endswith("|") and not s.endswith("\\|"):
        s = s[:-1]
    return [c.strip() for c in re.split(r"(?<!\\)\|", s)]


def _is_table_line(line: str) -> bool:
    s = line.strip()
    if s.count("|") >= 2:
        return True
    # One pipe: a two-column row written with a leading pipe, or a bare separator like "---|---".
    return s.count("|") == 1 and (s.startswith("|") or bool(re.fullmatch(r"[\s|:\-]+", s)))


def _is_separator(line: str) -> bool:
    cells = [c for c in _cells(line) if c]
    return bool(cells) and all(_SEPARATOR_CELL.match(c.replace(" ", "")) for c in cells)


def markdown_table_then_qa(text: str) -> str | None:
    """A markdown table (header, separator, data rows, consistent columns), then a question + answer."""
    lines = _lines(text)
    start = next((i for i, ln in enumerate(lines) if _is_table_line(ln)), None)
    if start is None:
        return "no markdown table"
    end = start
    while end < len(lines) and _is_table_line(lines[end]):
        end += 1
    block = lines[start:end]
    if len(block) < 2 or not _is_separator(block[1]):
        return "table has no header separator row"
    rows = [block[0]] + block[2:]
    if len(rows) < 2:
        return "table has no data rows"
    widths = {len(_cells(r)) for r in rows} | {len(_cells(block[1]))}
    if len(widths) != 1:
        return "table has inconsistent column counts"
    if next(iter(widths)) < 2:
        return "table has fewer than 2 columns"
    after = "\n".join(lines[end:])
    if qa_pairs(after, minimum=1) is not None:
        return "no question with an answer after the table"
    return None


# ---- word problem, then a worked solution ----------------------------------------------------
# A label is followed by a colon, or stands alone on its line (a heading such as "## Solution").
_LABEL_TAIL = r"\s*\d{0,3}\s*(?:\([^)]{0,40}\))?\s*(?::\s*(.*)|[.]?\s*$)"
_PROBLEM = re.compile(r"^(?:word\s+|math\s+)?(?:problem|question|exercise|problème|probleme|énoncé|enonce|exercice|"
                      r"problema|ejercicio|pregunta|enunciado)" + _LABEL_TAIL, re.IGNORECASE)
_SOLUTION = re.compile(
    r"^(?:step[- ]by[- ]step\s+|worked\s+|detailed\s+)?(?:solution|answer|working|réponse|reponse|résolution|"
    r"solución|solucion|respuesta|resolución)s?" + _LABEL_TAIL, re.IGNORECASE
)

_NUMBER_WORDS = (r"one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|twenty|hundred|thousand|million|dozen|"
                 r"twice|half|double|triple|"
                 r"un|une|deux|trois|quatre|cinq|sept|huit|neuf|dix|douze|vingt|cent|mille|moitié|"
                 r"uno|una|dos|tres|cuatro|cinco|seis|siete|ocho|nueve|diez|doce|veinte|cien|mil|mitad|doble")
_HAS_QUANTITY = re.compile(rf"\d|\b(?:{_NUMBER_WORDS})\b", re.IGNORECASE)
# A worked solution shows arithmetic: "12 + 5", "= 17", "3 x 4", "20 times 3", "60 divided by 4".
_CALCULATION = re.compile(
    r"\d\s*[-+*/×÷x−]\s*\d|=\s*[-$€£]?\d|\d\s*=|(?<![\d,.])\d[\d,.]*\s+(?:times|plus|minus|multiplied\s+by|divided\s+by|"
    r"less\s+than|more\s+than|of|fois|moins|multiplié\s+par|divisé\s+par|por|más|menos|multiplicado\s+por|"
    r"dividido\s+(?:por|entre))\s+\$?\d",
    re.IGNORECASE,
)


def problem_then_solution(text: str) -> str | None:
    """A labelled problem with quantities, then a labelled solution that shows a calculation in at least
    two steps."""
    lines = [_undecorate(ln) for ln in _lines(text)]
    p_at = next((i for i, ln in enumerate(lines) if _PROBLEM.match(ln)), None)
    s_at = next((i for i, ln in enumerate(lines) if _SOLUTION.match(ln)), None)
    if p_at is None:
        return "no problem statement"
    if s_at is None:
        return "no solution section"
    if s_at < p_at:
        return "solution comes before the problem"
    problem = [_PROBLEM.match(lines[p_at]).group(1) or ""] + lines[p_at + 1 : s_at]  # type: ignore[union-attr]
    problem_text = " ".join(problem).strip()
    if not problem_text:
        return "empty problem statement"
    if not _HAS_QUANTITY.search(problem_text):
        return "problem has no quantities"
    solution = [_SOLUTION.match(lines[s_at]).group(1) or ""] + lines[s_at + 1 :]  # type: ignore[union-attr]
    solution = [ln for ln in solution if ln.strip()]
    if not solution:
        return "empty solution"
    if not _CALCULATION.search("\n".join(solution)):
        return "solution shows no calculation"
    # "Step-by-step": two or more lines, or two or more sentences on a single line.
    if len(solution) < 2 and len(re.findall(r"[.!?](?:\s|$)", solution[0])) < 2:
        return "solution is not step-by-step"
    return None


# ---- numbered steps or bullets ---------------------------------------------------------------
_STEP = re.compile(r"^\s*(?:\d{1,3}[.)]\s+|[-*+•]\s+|#{0,6}\s*(?:\*\*)?(?:step|étape|etape|paso)\s+\d{1,3}\b)",
                   re.IGNORECASE)


def numbered_steps(text: str, *, minimum: int = 3) -> str | None:
    """At least `minimum` list items: "1." / "1)" / "Step 1" / "-" / "*" / "•"."""
    steps = sum(1 for ln in _lines(text) if _STEP.match(ln) and _undecorate(ln))
    if steps < minimum:
        return f"fewer than {minimum} steps"
    return None


# ---- dialogue ----------------------------------------------------------------------------------
_TURN = re.compile(r"^([^\W\d_][\w.'\- ]{0,28}?)\s*(?:\([^)]{0,30}\))?\s*:\s*(\S.*)?$")
_NOT_SPEAKERS = {
    "q", "a", "question", "answer", "note", "notes", "summary", "title", "example", "document", "text",
    "conclusion", "introduction", "problem", "solution", "step", "source", "topic", "answer key",
    "r", "p", "réponse", "problème", "étape", "énoncé", "exemple", "résumé", "pregunta", "respuesta", "problema",
    "solución", "paso", "ejemplo", "resumen",
}


def dialogue(text: str, *, min_speakers: int = 2, min_turns: int = 4) -> str | None:
    """Turns of the form "Name: words" from at least two named speakers (Q:/A: labels do not count)."""
    speakers: list[str] = []
    for raw in _lines(text):
        m = _TURN.match(_undecorate(raw))
        if not m:
            continue
        words = m.group(1).split()
        # Speaker names are short and capitalised ("Teacher", "Dr. Lee", "Student A"); this keeps
        # prose such as "It is simple: ..." from passing as a turn.
        if len(words) > 3 or not all(w[0].isupper() or w[0].isdigit() for w in words):
            continue
        name = " ".join(words).lower()
        if name in _NOT_SPEAKERS or re.match(r"^(?:step|question|answer|q|a)\s*\d+$", name):
            continue
        speakers.append(name)
    if len(set(speakers)) < min_speakers:
        return f"fewer than {min_speakers} speakers"
    if len(speakers) < min_turns:
        return f"fewer than {min_turns} dialogue turns"
    return None


VALIDATORS: dict[str, Validator] = {
    "markdown_table_then_qa": markdown_table_then_qa,
    "qa_pairs": qa_pairs,
    "problem_then_solution": problem_then_solution,
    "numbered_steps": numbered_steps,
    "dialogue": dialogue,
}


def get_validator(name: str) -> Validator:
    try:
        return VALIDATORS[name]
    except KeyError:
        raise KeyError(f"unknown validator {name!r}; known: {', '.join(sorted(VALIDATORS))}") from None


def validate(name: str | None, text: str) -> str | None:
    """Run the named validator (None = no format imposed); a format also refuses repeated units and numbered
    lines that do not count up."""
    if name is None:
        return None
    return get_validator(name)(text) or repeated_unit(text) or numbering_problem(text)
