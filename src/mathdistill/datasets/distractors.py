"""Training problems with a distractor: `load("mawps-asdiv-a:train+distractors")`.

SVAMP adds numbers a question does not need, and a student trained on MAWPS + ASDiv-A learns to
use every number it sees (85% of those training equations do; see results/students/svamp). This
split makes one variant of each problem of its base split: a statement from another problem of the
same split is inserted before the question sentence, at a position chosen per problem. The
statement carries exactly one number, which the problem does not contain and which is not its
answer, and it is about somebody else: it starts with a name that the problem never mentions
("Joan has 10 books." in a problem about Bryan's books), so the answer cannot depend on it. Among
those, one sharing a content word with the problem (books for a book problem) is preferred, so the
distractor looks relevant, as SVAMP's do.

The answer and the gold equation are unchanged, `numbers` gets the new number at its place, and
`meta` records the sentence, the donor and the source problem. Ids keep the contract:
`{dataset}/{split}/{key}` with split "train+distractors" and the source problem's key.
Everything is deterministic: each problem's choices come from its own id. Problems whose `numbers`
disagree with their text, or that no statement fits, are left out, so the split can be a little
shorter than its base.
"""

from __future__ import annotations

import random
import re
from dataclasses import replace

from .problem import Problem, numbers_in

SUFFIX = "+distractors"

# a sentence ends at . ! or ? followed by a space, except after a title ("Mr. Smith")
_SENTENCE = re.compile(r"(?<=[.!?])(?<!\bMr\.)(?<!\bMrs\.)(?<!\bMs\.)(?<!\bDr\.)(?<!\bSt\.)\s+(?=\S)")


def sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENTENCE.split(text.strip()) if s.strip()]


def _name(sentence: str, text: str) -> str | None:
    """The sentence's first word when it is a name: capitalised, and capitalised again in `text`
    somewhere other than a sentence start ("Maggi had 3 ... How many does Maggi have?")."""
    m = re.match(r"([A-Z][a-z]+)\b", sentence)
    if not m:
        return None
    for again in re.finditer(rf"\b{m.group(1)}\b", text):
        before = text[: again.start()].rstrip()
        if before and before[-1] not in ".!?":
            return m.group(1)
    return None


def donor_sentences(problems: list[Problem]) -> list[tuple[str, str, float, str]]:
    """(donor id, sentence, its number, the name it starts with) for every statement (not the
    question) of `problems` that starts with a name, carries exactly one number and has 4 to 25 words."""
    pool = []
    for p in problems:
        parts = sentences(p.question)
        for s in parts[:-1]:
            found = numbers_in(s)
            name = _name(s, p.question)
            if name and len(found) == 1 and "?" not in s and 4 <= len(s.split()) <= 25 and s[-1] in ".!":
                pool.append((p.id, s, found[0], name))
    return pool


_STOP = {"have", "many", "much", "were", "there", "them", "they", "their", "each", "with", "what", "does", "will",
         "from", "into", "that", "this", "than", "more", "some", "left", "total", "altogether", "after", "before",
         "then", "also", "only", "every", "which", "when", "your", "would", "could", "been", "being", "over"}


def _words(text: str) -> set[str]:
    return {w for w in re.findall(r"[a-z]+", text.lower()) if len(w) > 3 and w not in _STOP}


class Donors:
    """The donor sentences of a split, indexed by their content words so a problem can be given a
    distractor about the things it talks about (apples for an apple problem) when there is one."""

    def __init__(self, problems: list[Problem]) -> None:
        self.pool = donor_sentences(problems)
        self.by_word: dict[str, list[int]] = {}
        for i, (_, sentence, _, _) in enumerate(self.pool):
            for w in _words(sentence):
                self.by_word.setdefault(w, []).append(i)

    def choose(self, p: Problem, rng: random.Random) -> tuple[str, str, float, str] | None:
        taken = set(p.numbers) | {p.answer}
        mentioned = set(re.findall(r"[A-Z][a-z]+", p.question))

        def usable(i: int) -> bool:
            donor, _, value, name = self.pool[i]
            return donor != p.id and value not in taken and name not in mentioned

        related = sorted({i for w in _words(p.question) for i in self.by_word.get(w, ()) if usable(i)})
        if related:
            return self.pool[rng.choice(related)]
        for _ in range(20):  # nothing on topic: any sentence whose number the problem does not have
            i = rng.randrange(len(self.pool))
            if usable(i):
                return self.pool[i]
        return None


def with_distractor(p: Problem, donors: Donors, split: str) -> Problem | None:
    """`p` with one donor sentence inserted before its question sentence, or None when it cannot be."""
    parts = sentences(p.question)
    if tuple(numbers_in(p.question)) != tuple(p.numbers):
        return None
    rng = random.Random(p.id)
    chosen = donors.choose(p, rng)
    if chosen is None:
        return None
    donor_id, sentence, value, _ = chosen
    at = rng.randint(0, len(parts) - 1)  # anywhere before the question sentence
    question = " ".join(parts[:at] + [sentence] + parts[at:])
    before = len(numbers_in(" ".join(parts[:at])))
    numbers = (*p.numbers[:before], value, *p.numbers[before:])
    if tuple(numbers_in(question)) != numbers:
        return None
    meta = {**p.meta, "source": p.id, "distractor": sentence, "donor": donor_id}
    return replace(p, id=f"{p.dataset}/{split}/{p.key}", split=split, question=question, numbers=numbers, meta=meta)


def make_split(base: list[Problem], split: str) -> list[Problem]:
    """The distractor variant of every problem of `base` that can take one."""
    donors = Donors(base)
    if not donors.pool:
        return []
    return [q for p in base if (q := with_distractor(p, donors, split)) is not None]
