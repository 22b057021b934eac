"""The gold teacher: turns a benchmark's own annotations into CoT, PoT and EoT rationales.

Both sources reduce to the same thing, a list of arithmetic *steps* whose last one computes the
answer:

* equation-annotated sets (SVAMP, MAWPS, ASDiv, MultiArith, Math23K): the gold expression is
  parsed (with the EoT parser, no eval) and every operator node becomes a step;
* GSM8K: each calculator annotation ``<<48/2=24>>`` is a step, and so is prose arithmetic such
  as ``23 meters - 13 meters = 10 meters`` that has no annotation (about 6% of solutions end that
  way). A prose step is kept only when its expression really evaluates to the stated result.

Then numbers are wired up: a literal equal to a number in the question becomes that quantity's
variable (named after the words around it), a literal equal to an earlier step's result becomes
a reference to that step, other literals (60 minutes, 100 percent) stay constants. Steps the
answer does not depend on are dropped. PoT renders the steps as a Python program ending in
``ans = ...``; EoT as equations that state relations unsimplified (``ans + 39 = total`` rather
than ``ans = total - 39``) for the solver to solve. GSM8K's CoT is its solution with the
annotations removed and "The answer is N." appended.

Every rationale is then verified by the same checkers that grade students (see `verify`).
"""

from __future__ import annotations

import keyword
import re
from dataclasses import dataclass
from fractions import Fraction

from ..answers import answers_match
from ..datasets import Problem
from ..equations import EquationError, solve_text
from ..equations.expressions import (
    evaluate,
    format_number,
    map_leaves,
    parse_expression,
    render,
)
from ..equations.nodes import Add, Expr, Mul, Neg, Num, Var
from .gold_steps import (
    NotConvertible,
    Step,
    normalise_prose,
    steps_from_equation,
    steps_from_gsm8k,
    strip_annotations,
)

# ---------------------------------------------------------------------------------------------
# wiring numbers to quantities and earlier steps


_STOP = set("""a an the of in on at to for from by with each every per and or but is are was were be been
has have had his her their its it this that these those there he she they we you i my our your them
him if then than so as more less many much how what which who when where total all some any one only
also just about into out up down over after before other another again still""".split())
_UNITS = set("""dollars dollar cents cent percent hours hour minutes minute seconds second days day weeks week
months month years year times miles mile feet foot inches inch meters meter km kg pounds pound ounces
ounce gallons gallon liters liter cups cup pieces piece""".split())


def _name_quantities(problem: Problem) -> list[str]:
    """A variable name for each number in the question, from the words next to it."""
    words = re.findall(r"[A-Za-z]+|\d[\d,]*(?:\.\d+)?%?", problem.question)
    names: list[str] = []
    used: set[str] = {"ans"}
    k = 0
    for i, w in enumerate(words):
        if not w[0].isdigit():
            continue
        after = [x.lower() for x in words[i + 1: i + 4] if x[0].isalpha()]
        before = [x.lower() for x in words[max(0, i - 4): i] if x[0].isalpha()][::-1]
        content_after = [x for x in after if x not in _STOP]
        content_before = [x for x in before if x not in _STOP and x not in _UNITS]
        if content_after and content_after[0] not in _UNITS:
            base = content_after[0]
        elif content_before:
            base = content_before[0] + ("_" + content_after[0] if content_after else "")
        else:
            base = f"n{k + 1}"
        base = re.sub(r"\W", "_", base)
        if keyword.iskeyword(base) or base in ("ans", "math"):
            base += "_"
        name, j = base, 2
        while name in used:
            name, j = f"{base}_{j}", j + 1
        used.add(name)
        names.append(name)
        k += 1
    return names


def wire(problem: Problem, steps: list[Step], gold: float) -> tuple[list[tuple[str, Fraction]], list[tuple[str, Expr]]]:
    """Choose the answer step, drop what it does not need, and replace literals by references.

    Returns (quantities used: [(name, value)], steps: [(name, expr with Var refs)]), last named ans.
    """
    final = max((i for i, s in enumerate(steps) if answers_match(float(s.value), gold)), default=None)
    if final is None:
        raise NotConvertible("no step computes the gold answer")
    steps = steps[: final + 1]
    qnames = _name_quantities(problem)
    qvalues = [Fraction(str(x)) for x in problem.numbers]
    if len(qnames) != len(qvalues):  # the question's own number parsing disagrees: no names
        qnames = [f"n{i + 1}" for i in range(len(qvalues))]
    used_quantities: dict[int, None] = {}
    step_names = [f"step{i + 1}" for i in range(len(steps))]
    needed = [False] * len(steps)
    needed[-1] = True
    rewritten: list[Expr] = [None] * len(steps)  # type: ignore[list-item]

    for i in range(len(steps) - 1, -1, -1):  # walk backwards so only needed steps are wired
        if not needed[i]:
            continue

        def sub(node: Expr, i=i) -> Expr:
            if not isinstance(node, Num):
                return node
            for j in range(i - 1, -1, -1):
                if steps[j].value == node.value and node.value not in qvalues:
                    needed[j] = True
                    return Var(step_names[j])
            if node.value in qvalues:
                q = qvalues.index(node.value)
                used_quantities[q] = None
                return Var(qnames[q])
            return node

        rewritten[i] = map_leaves(steps[i].expr, sub)
    kept = [i for i in range(len(steps)) if needed[i]]
    names = {step_names[i]: f"step{n + 1}" for n, i in enumerate(kept)}
    names[step_names[kept[-1]]] = "ans"
    out_steps = [(names[step_names[i]], _rename(rewritten[i], names)) for i in kept]
    quantities = [(qnames[q], qvalues[q]) for q in sorted(used_quantities)]
    return quantities, out_steps


def _rename(node: Expr, names: dict[str, str]) -> Expr:
    return map_leaves(node, lambda leaf: Var(names.get(leaf.name, leaf.name)) if isinstance(leaf, Var) else leaf)


# ---------------------------------------------------------------------------------------------
# rendering


def to_pot(quantities, steps) -> str:
    lines = [f"{name} = {format_number(value)}" for name, value in quantities]
    lines += [f"{name} = {render(expr)}" for name, expr in steps]
    return "\n".join(lines)


def to_eot(quantities, steps) -> str:
    """Quantities inline as numbers; each step as a relation the solver has to solve."""
    values = dict(quantities)
    lines = []
    for name, expr in steps:
        expr = _inline(expr, values)
        match expr:
            # t = a - b  ->  t + b = a ;  t = a / b  ->  t * b = a  (unsimplified relations)
            case Add((a, Neg(b))):
                lines.append(f"{name} + {render(b, '^') if not isinstance(b, Add) else '(' + render(b, '^') + ')'} = {render(a, '^')}")
            case Mul((a,), (b,)):
                lines.append(f"{name} * {render(b, '^') if isinstance(b, (Num, Var)) else '(' + render(b, '^') + ')'} = {render(a, '^')}")
            case _:
                lines.append(f"{name} = {render(expr, '^')}")
    return "\n".join(lines)


def to_cot(problem: Problem) -> str:
    body = strip_annotations(problem.solution or "").strip()
    return f"{body}\nThe answer is {format_number(Fraction(str(problem.answer)))}."


_LETTER_VAR = re.compile(r"^[b-zB-HJ-Z]$")  # one-letter names, not the words "a", "A", "I"
_ALGEBRA_TOKEN = re.compile(r"\d+(?:\.\d+)?%?|[-+*/^()=]|[A-Za-z]+")


def algebra_from_prose(solution: str, gold: float) -> tuple[str, str] | None:
    """For solutions that set up an equation ("Let x be ... 4 * x + 600 = 10000"): the first
    stated equation in one letter whose solution is the gold answer, as (equation, letter)."""
    for line in strip_annotations(solution).splitlines():
        for sentence in re.split(r"(?<!\d)[.;](?!\d)|:", normalise_prose(line)):
            if "=" not in sentence:
                continue
            tokens = [t for t in _ALGEBRA_TOKEN.findall(sentence) if not t[0].isalpha() or _LETTER_VAR.match(t)]
            letters = {t for t in tokens if t[0].isalpha()}
            text = " ".join(tokens).strip(" =")
            if len(letters) != 1 or text.count("=") != 1:
                continue
            letter = letters.pop()
            result = solve_text(f"{text}\nans = {letter}")
            if result.value is not None and answers_match(float(result.value), gold):
                return text, letter
    return None


def unknown_rationales(equation: str, letter: str) -> dict[str, str]:
    """Rationales for a gold answer defined implicitly by an equation in one unknown."""
    lhs, rhs = equation.split("=")
    eot = f"{equation.strip()}\nans = {letter}"
    pot = (f"from sympy import Eq, Symbol, solve\n{letter} = Symbol('{letter}')\n"
           f"solutions = solve(Eq({_python(lhs)}, {_python(rhs)}), {letter})\n"
           f"# a quantity: the largest real solution\nans = max(float(s) for s in solutions if s.is_real)")
    return {"eot": eot, "pot": pot}


def _python(side: str) -> str:
    try:
        return render(parse_expression(side))
    except (EquationError, NotConvertible):
        raise NotConvertible(f"cannot render {side!r}") from None


_UNKNOWN = re.compile(r"\b([xX])\b")


@dataclass(frozen=True)
class GoldRationale:
    id: str
    thought: str
    text: str


def steps_to_cot(quantities, steps, answer: float) -> str:
    """A short verified chain of thought from wired steps: each step with its numbers and result."""
    values = {name: value for name, value in quantities}
    sentences = []
    for name, expr in steps:
        value = _value_with(expr, values)
        values[name] = value
        sentences.append(f"{render(_inline(expr, values))} = {format_number(value)}.")
    return " ".join(sentences) + f" The answer is {format_number(Fraction(str(answer)))}."


def _inline(node: Expr, values: dict) -> Expr:
    """Known variables replaced by their values."""
    return map_leaves(node, lambda leaf: Num(values[leaf.name]) if isinstance(leaf, Var) and leaf.name in values else leaf)


def _value_with(expr: Expr, values: dict) -> Fraction:
    return evaluate(_inline(expr, values))


def convert(problem: Problem, thoughts=("cot", "pot", "eot")) -> tuple[list[GoldRationale], dict[str, str]]:
    """Gold rationales for a problem, and for each thought that failed, why.

    CoT comes from the prose solution where the dataset has one (GSM8K), else from the steps."""
    out: list[GoldRationale] = []
    failed: dict[str, str] = {}
    if "cot" in thoughts and problem.solution:
        out.append(GoldRationale(problem.id, "cot", to_cot(problem)))
    wanted = [t for t in thoughts if t in ("pot", "eot") or (t == "cot" and not problem.solution)]
    if not wanted:
        return out, failed
    try:
        implicit = None
        if problem.equation and "=" in problem.equation and _UNKNOWN.search(problem.equation):
            implicit = (problem.equation, _UNKNOWN.search(problem.equation).group(1))
        elif problem.solution and not problem.equation:
            try:
                wire(problem, steps_from_gsm8k(problem.solution), problem.answer)
            except NotConvertible:
                implicit = algebra_from_prose(problem.solution, problem.answer)
        if implicit:
            texts = unknown_rationales(*implicit)
            texts["cot"] = (f"Let {implicit[1]} be the unknown. Then {texts['eot'].splitlines()[0]}. Solving for "
                            f"{implicit[1]} gives {format_number(Fraction(str(problem.answer)))}. "
                            f"The answer is {format_number(Fraction(str(problem.answer)))}.")
            out.extend(GoldRationale(problem.id, t, texts[t]) for t in wanted)
            return out, failed
        if problem.equation:
            steps = steps_from_equation(problem.equation)
        elif problem.solution:
            steps = steps_from_gsm8k(problem.solution)
        else:
            raise NotConvertible("no gold equation or solution")
        quantities, wired = wire(problem, steps, problem.answer)
        render_as = {"pot": lambda: to_pot(quantities, wired), "eot": lambda: to_eot(quantities, wired),
                     "cot": lambda: steps_to_cot(quantities, wired, problem.answer)}
        out.extend(GoldRationale(problem.id, t, render_as[t]()) for t in wanted)
    except NotConvertible as e:
        for t in wanted:
            failed[t] = str(e)
    return out, failed


def gold_rationales(problems, thoughts=("cot", "pot", "eot")):
    """(rationales, conversion failures) for many problems; failures are (id, thought, reason)."""
    from ..rationales import Rationale

    rationales, failures = [], []
    for p in problems:
        made, failed = convert(p, thoughts)
        rationales += [Rationale(r.id, r.thought, r.text, {"teacher": "gold"}) for r in made]
        failures += [(p.id, t, why) for t, why in failed.items()]
    return rationales, failures


def gold_yield(spec: str, thoughts=("cot", "pot", "eot"), workers: int | None = None, keep: bool = False):
    """Convert a split with the gold teacher and verify every rationale with the checkers.

    Returns (table, verified rationales if keep else []): per thought, problems, converted,
    verified, yield (= verified / problems), and the reasons for the losses (conversion failures
    and verification failures)."""
    from collections import Counter

    from .. import datasets as ds
    from ..verify import verify

    problems = ds.load(spec)
    rationales, failures = gold_rationales(problems, thoughts)
    verdicts = verify(rationales, ds.by_id(problems), policy="strict", workers=workers)
    table = {}
    for t in thoughts:
        vs = [v for v in verdicts if v.thought == t]
        why = Counter(reason.split(":")[0] for _, th, reason in failures if th == t)
        why.update(f"verification: {v.reason}" for v in vs if not v.correct)
        ok = sum(v.correct for v in vs)
        table[t] = {"problems": len(problems), "converted": len(vs), "verified": ok,
                    "yield": round(ok / len(problems), 4) if problems else 0.0, "losses": dict(why.most_common())}
    kept = [r for r, v in zip(rationales, verdicts) if v.correct] if keep else []
    return table, kept
