"""`mathdistill solve "question"`: a student answers with each thought, shows its verified work,
and the thoughts vote.

There is no gold answer here, so each thought's answer comes from the same machinery that grades
(CoT extraction policy, PoT in the sandbox, EoT through the exact solver), without the comparison.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .evaluate.vote import Vote, plausible_vote, vote
from .thoughts import THOUGHTS, Checker, ThoughtAnswer, answer, student_prompt


@dataclass
class ThoughtSolution:
    thought: str
    text: str  # what the student wrote
    produced: ThoughtAnswer  # its answer and the work behind it

    @property
    def answer(self) -> str | None:
        return self.produced.answer

    @property
    def work(self) -> str:
        return self.produced.work

    @property
    def failure(self) -> str | None:
        return self.produced.failure


@dataclass
class Solution:
    question: str
    answers: list[ThoughtSolution] = field(default_factory=list)
    vote: Vote | None = None
    plausible: Vote | None = None  # the vote over the most plausible answers (evaluate.vote)


def check_rationale(thought: str, text: str, policy: str = "flexible") -> ThoughtSolution:
    """The answer a rationale produces, and the work behind it."""
    return ThoughtSolution(thought, text, answer(thought, text, Checker(policy=policy)))


def solve(question: str, model: str, thoughts: list[str] | None = None, max_new_tokens: int = 160,
          policy: str = "flexible", backend_kind: str = "transformers") -> Solution:
    from .evaluate import backends

    thoughts = list(thoughts or THOUGHTS)
    backend = backends.open_backend(backend_kind, model)
    try:
        texts = backend.generate([student_prompt(question, t) for t in thoughts], max_new_tokens)
    finally:
        backend.close()
    answers = [check_rationale(t, text, policy) for t, text in zip(thoughts, texts)]
    given = {a.thought: a.answer for a in answers}
    return Solution(question, answers, vote(given), plausible_vote(given))
