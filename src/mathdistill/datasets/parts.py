"""Two fixed, disjoint parts of any split: `mawps-asdiv-a:train@fit` and `mawps-asdiv-a:train@heldout`.

A student trained on `@fit` has never seen the problems of `@heldout`, so candidates it samples
there behave like its answers on new problems: what a verifier must be trained and calibrated on
(sampling on problems the student trained on gives answers that are nearly all right, and a
verifier that learns nothing). The split of a training set is also where epochs can be chosen
without looking at a test set.

A problem is held out when the SHA-256 of "{dataset}/{key}" falls in the first 20% of the hash
range: the same problem lands on the same side on any machine, in any file order, and a problem
and its `+distractors` variant (same key) land together. Problems keep their ids and split names:
`@heldout` is a subset of the split, not new problems.
"""

from __future__ import annotations

import hashlib

HELD_OUT = 0.2
PARTS = ("fit", "heldout")
MARK = "@"


def split_part(split: str) -> tuple[str, str | None]:
    """'train+distractors@fit' -> ('train+distractors', 'fit'); 'train' and 'me@home.csv' -> (them, None)."""
    base, sep, part = split.rpartition(MARK)
    return (base, part) if sep and part in PARTS else (split, None)


def draw(text: str) -> float:
    """A uniform number in [0, 1) fixed by `text` (SHA-256): the same on any machine and in any order."""
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big") / 2 ** 64


def held_out(dataset: str, key: str) -> bool:
    return draw(f"{dataset}/{key}") < HELD_OUT


def select(problems, part: str) -> list:
    want = part == "heldout"
    return [p for p in problems if held_out(p.dataset, p.key) == want]
