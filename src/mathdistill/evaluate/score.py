"""Verifying rationales against gold answers: the same machinery filters teacher data and grades
students. CoT: answer extraction (named policy); PoT: the sandbox; EoT: the exact solver.

PoT programs run in the sandbox's worker pool (one worker per core); EoT systems and CoT texts
are checked in a process pool when there are many, inline otherwise.
"""

from __future__ import annotations

import os
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from typing import Callable, Sequence

from ..answers import compare, parse_fraction
from ..datasets import Problem
from ..rationales import Rationale, RecordError
from ..thoughts import THOUGHTS
from ..thoughts.cot import extract_answer
from ..thoughts.eot import solve as solve_eot
from ..thoughts.pot import extract_program

PARALLEL_MIN = 400  # below this many EoT/CoT records, a process pool costs more than it saves


@dataclass(frozen=True)
class Verdict:
    id: str
    thought: str
    answer: str | None  # what the rationale produced, as text
    correct: bool
    reason: str  # "match", or why not: "wrong value", "timeout", "parse error: ...", ...

    def to_json(self) -> dict:
        return asdict(self)


def format_value(value) -> str | None:
    """A solver or sandbox value as answer text: integers exactly, other rationals as floats."""
    if value is None:
        return None
    f = parse_fraction(value)
    if f is not None and f.denominator != 1:
        return repr(float(f))
    return str(f) if f is not None else str(value)


def _grade(rec_id: str, thought: str, answer: str | None, failure: str | None, gold: float) -> Verdict:
    if answer is None:
        return Verdict(rec_id, thought, None, False, failure or "no answer")
    v = compare(answer, gold)
    return Verdict(rec_id, thought, answer, v.match, v.reason)


def _check_text(args: tuple[str, str, str, float, str]) -> Verdict:
    """CoT or EoT check of one record (pure; runs in pool workers)."""
    rec_id, thought, text, gold, policy = args
    if thought == "cot":
        ex = extract_answer(text, policy)
        return _grade(rec_id, thought, ex.answer, "no answer found" if ex.answer is None else None, gold)
    result = solve_eot(text)
    return _grade(rec_id, thought, format_value(result.value), result.reason, gold)


def check_ids(records: Sequence[Rationale], problems: dict[str, Problem]) -> None:
    for i, r in enumerate(records):
        if r.id not in problems:
            some = next(iter(problems), "")
            raise RecordError(f"{r.where or f'record {i + 1}'}: unknown id {r.id!r}: not in the chosen split "
                              f"(its ids look like {some!r})")


def verify(records: Sequence[Rationale], problems: dict[str, Problem], policy: str = "flexible",
           workers: int | None = None, sandbox=None,
           progress: Callable[[int], None] | None = None) -> list[Verdict]:
    """One verdict per record, in input order. Unknown ids raise RecordError."""
    check_ids(records, problems)
    workers = workers or os.cpu_count() or 1
    verdicts: list[Verdict | None] = [None] * len(records)
    text_jobs = [(i, (r.id, r.thought, r.text, problems[r.id].answer, policy))
                 for i, r in enumerate(records) if r.thought in ("cot", "eot")]
    pot_jobs = [(i, r) for i, r in enumerate(records) if r.thought == "pot"]

    if pot_jobs:
        from ..sandbox import Sandbox

        owned = sandbox is None
        sb = sandbox or Sandbox(workers=workers)
        try:
            chunk = 256
            for start in range(0, len(pot_jobs), chunk):
                part = pot_jobs[start: start + chunk]
                results = sb.run_many([extract_program(r.text) for _, r in part])
                for (i, r), res in zip(part, results):
                    verdicts[i] = _grade(r.id, "pot", res.answer, res.reason, problems[r.id].answer)
                if progress:
                    progress(len(part))
        finally:
            if owned:
                sb.close()

    if len(text_jobs) >= PARALLEL_MIN and workers > 1:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            for (i, _), v in zip(text_jobs, pool.map(_check_text, [a for _, a in text_jobs], chunksize=64)):
                verdicts[i] = v
                if progress:
                    progress(1)
    else:
        for i, args in text_jobs:
            verdicts[i] = _check_text(args)
            if progress:
                progress(1)
    return verdicts  # type: ignore[return-value]


def summarize(verdicts: Sequence[Verdict], policy: str = "flexible") -> dict:
    """n / correct / accuracy overall and per thought, plus why the wrong ones failed."""
    def block(vs: Sequence[Verdict]) -> dict:
        n, c = len(vs), sum(v.correct for v in vs)
        return {"n": n, "correct": c, "accuracy": round(c / n, 4) if n else 0.0}

    out = block(verdicts)
    out["by_thought"] = {t: block([v for v in verdicts if v.thought == t]) for t in THOUGHTS}
    out["failures"] = {t: dict(Counter(_reason_group(v.reason) for v in verdicts if v.thought == t and not v.correct)
                               .most_common()) for t in THOUGHTS}
    out["cot_policy"] = policy
    return out


def _reason_group(reason: str) -> str:
    """Collapse reasons with details ("error: NameError: name 'x'...") into groups for tables."""
    head = reason.split(":")[0]
    if head in ("error", "parse error", "forbidden") and ":" in reason:
        return ":".join(reason.split(":")[:2]).strip()
    return reason
