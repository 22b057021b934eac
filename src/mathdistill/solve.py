"""`mathdistill solve "question"`: a student answers with each thought, shows its verified work,
and the thoughts vote.

There is no gold answer here, so each thought's answer comes from the same machinery that grades
(CoT extraction policy, PoT in the sandbox, EoT through the exact solver), without the comparison.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .evaluate.score import format_value
from .evaluate.vote import Vote, plausible_vote, vote
from .thoughts import THOUGHTS, student_prompt
from .thoughts.cot import extract_answer
from .thoughts.eot import solve as solve_eot
from .thoughts.pot import extract_program


@dataclass
class ThoughtAnswer:
    thought: str
    text: str  # what the student wrote
    answer: str | None
    work: str  # how the answer was obtained: sandbox result, solved variables, extraction rule
    failure: str | None = None


@dataclass
class Solution:
    question: str
    answers: list[ThoughtAnswer] = field(default_factory=list)
    vote: Vote | None = None
    plausible: Vote | None = None  # the vote over the most plausible answers (evaluate.vote)


def check_rationale(thought: str, text: str, policy: str = "flexible") -> ThoughtAnswer:
    """The answer a rationale produces, and the work behind it."""
    if thought == "cot":
        ex = extract_answer(text, policy)
        return ThoughtAnswer(thought, text, ex.answer, f"answer extracted by rule '{ex.how}' ({policy} policy)",
                             None if ex.answer else "no answer found")
    if thought == "pot":
        from .sandbox import run_program

        res = run_program(extract_program(text))
        work = f"program ran in the sandbox: ans = {res.answer}" if res.ok else f"program failed: {res.reason}"
        return ThoughtAnswer(thought, text, res.answer, work, res.reason)
    result = solve_eot(text)
    if not result.ok:
        return ThoughtAnswer(thought, text, None, f"solver: {result.reason}", result.reason)
    solved = ", ".join(f"{k} = {format_value(v)}" for k, v in result.values.items())
    return ThoughtAnswer(thought, text, format_value(result.value), f"solved ({result.method}): {solved}")


def solve(question: str, model: str, thoughts: list[str] | None = None, max_new_tokens: int = 160,
          policy: str = "flexible") -> Solution:
    from .evaluate.generate import generate, load_student

    thoughts = list(thoughts or THOUGHTS)
    student = load_student(model)
    texts = generate(student, [student_prompt(question, t) for t in thoughts], batch_size=len(thoughts),
                     max_new_tokens=max_new_tokens)
    answers = [check_rationale(t, text, policy) for t, text in zip(thoughts, texts)]
    given = {a.thought: a.answer for a in answers}
    return Solution(question, answers, vote(given), plausible_vote(given))
