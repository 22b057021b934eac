"""The three thought forms: Chain-of-Thought, Program-of-Thought, Equation-of-Thought.

For each: the instruction the student is given (from the EoTD paper), the teacher prompt
(few-shot, exemplars written for this project), and how a rationale becomes an answer: every
thought module has `answer(text, checker)` and `answer_many(texts, checker, progress)` (see
`base`), reached through `kind(name)`, so callers never branch on the thought.
"""

from __future__ import annotations

from types import ModuleType

from . import cot, eot, pot
from .base import POLICIES, Checker, ThoughtAnswer
from .exemplars import EXEMPLARS

__all__ = ["EXEMPLARS", "INSTRUCTIONS", "POLICIES", "THOUGHTS", "Checker", "ThoughtAnswer", "answer", "kind",
           "student_prompt", "teacher_messages"]

THOUGHTS = ("cot", "pot", "eot")
_KINDS: dict[str, ModuleType] = {"cot": cot, "pot": pot, "eot": eot}


def kind(thought: str) -> ModuleType:
    """The module that turns a rationale of this thought into an answer."""
    try:
        return _KINDS[thought]
    except KeyError:
        raise ValueError(f"unknown thought {thought!r}; use one of {', '.join(THOUGHTS)}") from None


def answer(thought: str, text: str, checker: Checker | None = None) -> ThoughtAnswer:
    """The answer one rationale produces (no gold involved): CoT extraction, PoT sandbox, EoT solver."""
    return kind(thought).answer(text, checker)

# Student instructions, as in Zhu et al. (EoTD / ETD).
INSTRUCTIONS = {
    "cot": "Let's think step by step.",
    "pot": "Let's break down the code step by step.",
    "eot": "System of linear equations: (Do not simplify)",
}

_TEACHER_SYSTEM = {
    "cot": "You solve math word problems. Reason step by step in plain sentences, write every calculation "
           "with its result, ignore numbers the question does not need, and end with "
           "'The answer is <number>.'",
    "pot": "You solve math word problems by writing a short Python program. Give each quantity from the "
           "question a descriptive variable name, skip numbers the question does not need, compute step "
           "by step, and store the final numeric result in a variable named ans. Use only plain Python "
           "arithmetic (and the math module if needed). Output only the code.",
    "eot": "You solve math word problems by writing a system of linear equations, one equation per line. "
           "Use descriptive variable names, write the relations as the problem states them (do not "
           "simplify or solve them yourself), skip numbers the question does not need, and make sure the "
           "unknown asked for is the variable ans. Comments start with %. Output only the equations.",
}


def student_prompt(question: str, thought: str) -> str:
    """What a distilled student is given: the question and the thought's instruction."""
    return f"Question: {question.strip()}\n{INSTRUCTIONS[thought]}\n"


def teacher_messages(question: str, thought: str, shots: int = 4) -> list[dict]:
    """Chat messages for an OpenAI-compatible teacher. The few-shot prefix is identical for every
    question of a thought, so servers with prompt caching reuse it."""
    if thought not in THOUGHTS:
        raise ValueError(f"unknown thought {thought!r}; use one of {THOUGHTS}")
    messages = [{"role": "system", "content": _TEACHER_SYSTEM[thought]}]
    for ex in EXEMPLARS[:shots]:
        messages.append({"role": "user", "content": student_prompt(ex["question"], thought)})
        messages.append({"role": "assistant", "content": ex[thought]})
    messages.append({"role": "user", "content": student_prompt(question, thought)})
    return messages
