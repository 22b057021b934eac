"""Chain-of-Thought: prose that ends in an answer. Extracting that answer is a named policy.

* ``strict``: only an explicit answer marker counts, the last one in the text:
  "The answer is 42", "Answer: 42", "#### 42", "\\boxed{42}", "final answer ... is 42".
* ``flexible`` (default): strict first; otherwise the last number in the text, preferring the
  right-hand side of the last "= number" ("... = $1,250").

Reports name the policy they used (lm-evaluation-harness's lesson: hidden extraction
differences make numbers incomparable).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from collections.abc import Callable, Sequence
from functools import partial

from ..answers import parse_number
from .base import POLICIES, Checker, ThoughtAnswer, map_pure

_NUM = r"-?\$?\s?-?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?:\s*/\s*\d+)?%?|-?\.\d+"
_MARKERS = [
    re.compile(rf"####\s*(?P<n>{_NUM})"),
    re.compile(rf"\\boxed\{{\s*(?P<n>{_NUM})\s*\}}"),
    re.compile(rf"(?i)\bfinal answer\b[^0-9\-$.]{{0,40}}?(?P<n>{_NUM})"),
    re.compile(rf"(?i)\bthe answer is\s*:?\s*\**\s*(?P<n>{_NUM})"),
    re.compile(rf"(?i)\banswer\s*:\s*\**\s*(?P<n>{_NUM})"),
]
_EQUALS = re.compile(rf"=\s*(?P<n>{_NUM})")
_ANY = re.compile(rf"(?P<n>{_NUM})")
MAX_CHARS = 20_000  # longer rationales are cut from the front: the answer is at the end


@dataclass(frozen=True)
class Extraction:
    answer: str | None  # the number as written, None when nothing was found
    how: str  # "marker", "last equals", "last number" or "none"


def extract_answer(text: str, policy: str = "flexible") -> Extraction:
    if policy not in POLICIES:
        raise ValueError(f"unknown CoT extraction policy {policy!r}; use one of {POLICIES}")
    text = text[-MAX_CHARS:]
    best = None
    for marker in _MARKERS:
        for m in marker.finditer(text):
            if best is None or m.start() > best.start():
                best = m
    if best is not None and parse_number(best.group("n")) is not None:
        return Extraction(best.group("n").strip(), "marker")
    if policy == "strict":
        return Extraction(None, "none")
    for pattern, how in ((_EQUALS, "last equals"), (_ANY, "last number")):
        found = [m.group("n") for m in pattern.finditer(text) if parse_number(m.group("n")) is not None]
        if found:
            return Extraction(found[-1].strip(), how)
    return Extraction(None, "none")


CHECKED_BY = "extraction"


def _answer(policy: str, text: str) -> ThoughtAnswer:
    ex = extract_answer(text, policy)
    work = f"answer extracted by rule '{ex.how}' ({policy} policy)"
    return ThoughtAnswer(ex.answer, None if ex.answer is not None else "no answer found", work,
                         {"rule": ex.how, "policy": policy})


def answer(text: str, checker: Checker | None = None) -> ThoughtAnswer:
    """The answer the prose states, by the checker's extraction policy."""
    return _answer((checker or Checker()).policy, text)


def answer_many(texts: Sequence[str], checker: Checker,
                progress: Callable[[int], None] | None = None) -> list[ThoughtAnswer]:
    return map_pure(partial(_answer, checker.policy), texts, checker, progress)
