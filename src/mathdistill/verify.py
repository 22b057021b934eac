"""Verification: (problem, thought, text) -> verdict. One place, used by everything above it.

The same machinery filters teacher data (`build-dataset`, the gold teacher) and grades students
(`score`, `evaluate`): each thought turns its text into an answer (`thoughts.kind(t).answer`: CoT
extraction by a named policy, PoT in the sandbox, EoT through the exact solver) and
`answers.compare` decides whether that answer is the gold one.

    verify_one(problem, "pot", text)        one verdict
    verify(records, problems_by_id, ...)    many, batched per thought (PoT on every sandbox worker,
                                            CoT/EoT in a process pool when there are many)
    verify_with_work(records, ...)          the same, each verdict with the answer's work and detail
    summarize(verdicts)                     n / correct / accuracy overall and per thought, reasons
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Protocol

from .answers import compare
from .datasets import Problem
from .jsonl import RecordError
from .thoughts import THOUGHTS, Checker, ThoughtAnswer, kind


class Record(Protocol):
    """Anything with the rationale contract's fields (`rationales.Rationale` among others)."""

    id: str
    thought: str
    text: str


@dataclass(frozen=True)
class Verdict:
    id: str
    thought: str
    answer: str | None  # what the rationale produced, as text
    correct: bool
    reason: str  # "match", or why not: "wrong value", "timeout", "parse error: ...", ...

    def to_json(self) -> dict:
        return asdict(self)


def grade(rec_id: str, thought: str, produced: ThoughtAnswer, gold: float) -> Verdict:
    """A produced answer against the gold one."""
    if produced.answer is None:
        return Verdict(rec_id, thought, None, False, produced.failure or "no answer")
    v = compare(produced.answer, gold)
    return Verdict(rec_id, thought, produced.answer, v.match, v.reason)


def verify_one(problem: Problem, thought: str, text: str, checker: Checker | None = None) -> Verdict:
    return grade(problem.id, thought, kind(thought).answer(text, checker), problem.answer)


def check_ids(records: Sequence[Record], problems: Mapping[str, Problem]) -> None:
    """Every record's id must name a problem of the chosen split(s)."""
    for i, r in enumerate(records):
        if r.id not in problems:
            some = next(iter(problems), "")
            where = getattr(r, "where", "") or f"record {i + 1}"
            raise RecordError(f"{where}: unknown id {r.id!r}: not in the chosen split (its ids look like {some!r})")


def verify(records: Sequence[Record], problems: Mapping[str, Problem], policy: str = "flexible",
           workers: int | None = None, sandbox=None,
           progress: Callable[[int], None] | None = None) -> list[Verdict]:
    """One verdict per record, in input order. Unknown ids raise RecordError before any work."""
    return [v for v, _ in verify_with_work(records, problems, policy, workers, sandbox, progress)]


def verify_with_work(records: Sequence[Record], problems: Mapping[str, Problem], policy: str = "flexible",
                     workers: int | None = None, sandbox=None,
                     progress: Callable[[int], None] | None = None) -> list[tuple[Verdict, ThoughtAnswer]]:
    """`verify`, each verdict beside the answer it graded, whose `work` and `detail` say how the
    answer was obtained (the program's output, the solved values, the CoT extraction rule)."""
    check_ids(records, problems)
    out: list[tuple[Verdict, ThoughtAnswer] | None] = [None] * len(records)
    with Checker(policy=policy, workers=workers, sandbox=sandbox) as checker:
        for thought in ("pot", *[t for t in THOUGHTS if t != "pot"]):  # the sandbox starts first
            idx = [i for i, r in enumerate(records) if r.thought == thought]
            if not idx:
                continue
            produced = kind(thought).answer_many([records[i].text for i in idx], checker, progress)
            for i, a in zip(idx, produced):
                r = records[i]
                out[i] = (grade(r.id, thought, a, problems[r.id].answer), a)
    return out  # type: ignore[return-value]


def summarize(verdicts: Sequence[Verdict], policy: str = "flexible") -> dict:
    """n / correct / accuracy overall and per thought, plus why the wrong ones failed."""
    def block(vs: Sequence[Verdict]) -> dict:
        n, c = len(vs), sum(v.correct for v in vs)
        return {"n": n, "correct": c, "accuracy": round(c / n, 4) if n else 0.0}

    out = block(verdicts)
    out["by_thought"] = {t: block([v for v in verdicts if v.thought == t]) for t in THOUGHTS}
    out["failures"] = {t: dict(Counter(reason_group(v.reason) for v in verdicts if v.thought == t and not v.correct)
                               .most_common()) for t in THOUGHTS}
    out["cot_policy"] = policy
    return out


def reason_group(reason: str) -> str:
    """Collapse reasons with details ("error: NameError: name 'x'...") into groups for tables."""
    head = reason.split(":")[0]
    if head in ("error", "parse error", "forbidden") and ":" in reason:
        return ":".join(reason.split(":")[:2]).strip()
    return reason
