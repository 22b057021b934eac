"""Question text compared across datasets: normalisation and the contamination guard.

Two questions are *the same* when their normalised texts are equal: lower case, numbers written
one way ("$3.00", "$ 3" and "3" are all "3"; "1,000" is "1000"), currency signs and punctuation
dropped. They are *near duplicates* when they hold the same numbers (as a multiset) and their
word sets overlap by at least `NEAR_JACCARD` (Jaccard index): the same problem reworded a little.
Questions that share a body but not their numbers (SVAMP's variations of MAWPS/ASDiv problems)
are different problems and are not flagged.

Both the ETD dataset builder and the encoder pipeline's stage-1 corpus use `ContaminationGuard`.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from ..answers import parse_number
from .problem import fmt_number

NEAR_JACCARD = 0.9

_NUMBER = re.compile(r"\d[\d,]*(?:\.\d+)?|\.\d+")
_DROP = re.compile(r"[^a-z0-9.\u4e00-\u9fff]+|(?<!\d)\.|\.(?!\d)")  # keeps decimal points only
_WORD = re.compile(r"[a-z]+|[\u4e00-\u9fff]")


def _canonical_number(match: re.Match) -> str:
    token = match.group(0).rstrip(",")
    value = parse_number(token)
    return f" {fmt_number(value)} " if value is not None else f" {token} "


def normalise_question(text: str) -> str:
    """Lower case, numbers in one canonical form, everything but letters, digits and CJK dropped."""
    text = _NUMBER.sub(_canonical_number, text.lower())
    return " ".join(_DROP.sub(" ", text).split())


def number_key(normalised: str) -> tuple[str, ...]:
    """The multiset of numbers of a normalised question, sorted."""
    return tuple(sorted(t for t in normalised.split() if t[0].isdigit()))


def word_set(normalised: str) -> frozenset[str]:
    return frozenset(_WORD.findall(normalised))


def jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    return len(a & b) / len(a | b) if a or b else 1.0


@dataclass(frozen=True)
class Match:
    id: str  # the guarded problem this question duplicates
    how: str  # "same text" or "near duplicate (0.93)"


class ContaminationGuard:
    """Questions of the guarded (evaluation) problems, to test other questions against.

    `match(question, own_id)` names the guarded problem a question duplicates, or None. A
    problem never matches itself (its own id)."""

    def __init__(self, problems: Iterable, near: float = NEAR_JACCARD):
        self.near = near
        self._exact: dict[str, str] = {}
        self._by_numbers: dict[tuple[str, ...], list[tuple[frozenset[str], str]]] = defaultdict(list)
        for p in problems:
            norm = normalise_question(p.question)
            self._exact.setdefault(norm, p.id)
            self._by_numbers[number_key(norm)].append((word_set(norm), p.id))

    def __len__(self) -> int:
        return len(self._exact)

    def match(self, question: str, own_id: str | None = None) -> Match | None:
        norm = normalise_question(question)
        hit = self._exact.get(norm)
        if hit is not None and hit != own_id:
            return Match(hit, "same text")
        words = word_set(norm)
        best: tuple[float, str] | None = None
        for other, pid in self._by_numbers.get(number_key(norm), ()):
            if pid == own_id:
                continue
            j = jaccard(words, other)
            if j >= self.near and (best is None or j > best[0]):
                best = (j, pid)
        return Match(best[1], f"near duplicate ({best[0]:.2f})") if best else None
