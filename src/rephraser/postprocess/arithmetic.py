"""Computed numbers in a math output: which invented numbers are correct results of arithmetic.

Grounded math (prompts/layouts.py) lets a solution write any number right after "= ": a result is
not in the source by nature. A number absent from the source is then *explained* when it is the
correct value of an expression "a op b [op c ...] = r" whose operands are themselves source numbers or
earlier explained results (op: + - x × * / ÷). What is left is invented.
"""

from __future__ import annotations

import re

_NUM = r"\d+(?:[.,]\d+)*"
_EQUATION = re.compile(rf"(?<![\d.,])({_NUM}(?:\s*[-+x×*/÷−]\s*{_NUM})+)\s*=\s*(-?{_NUM})")
_TERM = re.compile(rf"{_NUM}|[-+x×*/÷−]")


def norm(number: str) -> str:
    """'6,650' -> '6650'; '3.50' -> '3.5' (a comma followed by 3 digits is a thousands separator)."""
    s = number.replace(" ", "")
    s = re.sub(r",(?=\d{3}(?:\D|$))", "", s).replace(",", ".")
    if "." in s:
        s = s.rstrip("0").rstrip(".")
    return s.lstrip("0") or "0"


def _value(tokens: list[str]) -> float | None:
    """Left-to-right with x and / first; None on division by zero."""
    nums = [float(norm(t)) for t in tokens[0::2]]
    ops = tokens[1::2]
    terms, term_ops = [nums[0]], []
    for op, n in zip(ops, nums[1:], strict=True):
        if op in "x×*/÷":
            if op in "/÷":
                if n == 0:
                    return None
                terms[-1] /= n
            else:
                terms[-1] *= n
        else:
            terms.append(n)
            term_ops.append(op)
    total = terms[0]
    for op, t in zip(term_ops, terms[1:], strict=True):
        total = total + t if op == "+" else total - t
    return total


def explained_results(text: str, source_numbers: set[str]) -> set[str]:
    """Normalised results of correct equations whose operands are known (source or earlier results)."""
    known = {norm(n) for n in source_numbers}
    results: set[str] = set()
    for m in _EQUATION.finditer(text):
        tokens = _TERM.findall(m.group(1))
        operands = [norm(t) for t in tokens[0::2]]
        if not all(o in known for o in operands):
            continue
        value = _value(tokens)
        result = norm(m.group(2))
        if value is not None and abs(value - float(result)) <= 0.005 * max(1.0, abs(value)):
            results.add(result)
            known.add(result)
    return results


def unexplained(invented: list[str] | tuple[str, ...], text: str, source_numbers: set[str]) -> list[str]:
    """The invented numbers that are not correct computed results."""
    ok = explained_results(text, source_numbers)
    return [n for n in invented if norm(n) not in ok]
