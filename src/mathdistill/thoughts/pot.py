"""Program-of-Thought: a Python program whose result is the answer. It runs only in the sandbox
(`mathdistill.sandbox`); here: how the program is cut out of a model's reply, and its answer."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

from .base import Checker, ThoughtAnswer

_FENCE = re.compile(r"```[ \t]*(?:python|py|python3)?[ \t]*\n(.*?)(?:```|\Z)", re.S | re.I)
MAX_PROGRAM_CHARS = 20_000


def extract_program(text: str) -> str:
    """The code in a reply: the first fenced block if there is one, else the whole text."""
    m = _FENCE.search(text)
    code = m.group(1) if m else text
    return code.strip("\n")[:MAX_PROGRAM_CHARS]


SANDBOX_CHUNK = 256  # programs per call to the pool (progress is reported between chunks)


CHECKED_BY = "sandbox"


def _from_run(program: str, res) -> ThoughtAnswer:
    work = f"program ran in the sandbox: ans = {res.answer}" if res.ok else f"program failed: {res.reason}"
    return ThoughtAnswer(res.answer, res.reason, work, {"program": program, "stdout": res.stdout})


def answer(text: str, checker: Checker | None = None) -> ThoughtAnswer:
    """Run the program in the sandbox (the checker's, or the process-wide default one)."""
    program = extract_program(text)
    if checker is None or checker.sandbox is None:
        from ..sandbox import run_program

        return _from_run(program, run_program(program))
    return _from_run(program, checker.sandbox.run(program))


def answer_many(texts: Sequence[str], checker: Checker,
                progress: Callable[[int], None] | None = None) -> list[ThoughtAnswer]:
    """Every program on all the sandbox's workers, in input order."""
    out: list[ThoughtAnswer] = []
    if not texts:
        return out
    sandbox = checker.get_sandbox()
    for start in range(0, len(texts), SANDBOX_CHUNK):
        programs = [extract_program(t) for t in texts[start: start + SANDBOX_CHUNK]]
        out += [_from_run(p, r) for p, r in zip(programs, sandbox.run_many(programs))]
        if progress:
            progress(len(programs))
    return out
