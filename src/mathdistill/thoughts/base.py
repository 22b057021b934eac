"""What every thought form shares: the answer a rationale produces, and the options for checking.

Each thought module (`cot`, `pot`, `eot`) has the same two functions and says what checks it
(`CHECKED_BY`: "extraction", "sandbox", "solver"), so no caller branches on the thought kind:

    answer(text, checker)                  -> ThoughtAnswer  (one rationale)
    answer_many(texts, checker, progress)  -> list[ThoughtAnswer]  (in input order)

A `ThoughtAnswer` has no notion of a gold answer; `mathdistill.verify` compares it with one.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import Any

POLICIES = ("strict", "flexible")  # CoT answer extraction (see `cot`)
PARALLEL_MIN = 400  # below this many pure checks, a process pool costs more than it saves


@dataclass(frozen=True)
class ThoughtAnswer:
    """The answer a rationale produces (text, as written or as the checker formats it) or why none."""

    answer: str | None
    failure: str | None  # None exactly when there is an answer
    work: str  # how the answer was obtained, for people: extraction rule, program result, solved system
    # the same, structured: CoT {rule, policy}; PoT {program, stdout}; EoT {equations, solver, values}
    detail: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.answer is not None


@dataclass
class Checker:
    """Options shared by the three checkers. A sandbox is borrowed when given, else started on
    first use and stopped by `close()` (or the `with` block)."""

    policy: str = "flexible"
    workers: int | None = None
    sandbox: Any = None
    _owned: Any = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.policy not in POLICIES:
            raise ValueError(f"unknown CoT extraction policy {self.policy!r}; use one of {', '.join(POLICIES)}")

    def get_sandbox(self):
        if self.sandbox is None:
            from ..sandbox import Sandbox

            self.sandbox = self._owned = Sandbox(workers=self.n_workers)
        return self.sandbox

    @property
    def n_workers(self) -> int:
        return self.workers or os.cpu_count() or 1

    def close(self) -> None:
        if self._owned is not None:
            self._owned.close()
            self.sandbox = self._owned = None

    def __enter__(self) -> "Checker":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def map_pure(fn: Callable[[str], ThoughtAnswer], texts: Sequence[str], checker: Checker,
             progress: Callable[[int], None] | None = None) -> list[ThoughtAnswer]:
    """`fn` over `texts` (pure, picklable): a process pool for many texts, inline for few."""
    out: list[ThoughtAnswer] = []
    if len(texts) >= PARALLEL_MIN and checker.n_workers > 1:
        with ProcessPoolExecutor(max_workers=checker.n_workers) as pool:
            for a in pool.map(fn, texts, chunksize=64):
                out.append(a)
                if progress:
                    progress(1)
        return out
    for text in texts:
        out.append(fn(text))
        if progress:
            progress(1)
    return out
