"""Evaluating each dataset's gold equation reproduces its gold answer (issue: foundation).

The rate is printed with the exceptions; the exceptions are label errors in the source data
(rounded or inconsistent answers), listed so anyone can check them by id.
"""

import pytest

from mathdistill import datasets as ds
from mathdistill.answers import compare
from mathdistill.equations import solve_text

SPLITS = ["svamp:test", "multiarith:test", "mawps:all", "mawps:train", "mawps:valid", "mawps:test", "asdiv:test", "math23k:all", "mawps-asdiv-a:train",
          "mawps:cv0-train", "mawps:cv0-dev", "asdiv-a:cv0-train", "asdiv-a:cv0-dev"]


def equation_rate(spec):
    problems = [p for p in ds.load(spec) if p.equation]
    bad = []
    for p in problems:
        text = p.equation if "=" in p.equation else f"ans = {p.equation}"
        result = solve_text(text)
        if result.value is None or not compare(float(result.value), p.answer).match:
            bad.append((p.id, p.equation, p.answer, result.value and float(result.value), result.reason))
    return problems, bad


@pytest.mark.parametrize("spec", [pytest.param(s, marks=pytest.mark.slow) if s == "math23k:all" else s
                                  for s in SPLITS])  # math23k:all: 23,162 equations
def test_gold_equations_give_gold_answers(spec):
    problems, bad = equation_rate(spec)
    rate = 1 - len(bad) / len(problems)
    print(f"\n{spec}: {len(problems) - len(bad)}/{len(problems)} equations reproduce the answer ({rate:.2%})")
    for row in bad:
        print("   ", *row)
    # MWPToolkit's MAWPS carries 26 inconsistent labels in 2373 (98.90%), listed above: rounded or
    # wrong answers (e.g. mawps/all/1679 "1222-513" labelled 208), a negative root labelled as the answer
    assert rate >= (0.985 if spec in ("mawps:all", "mawps:train", "mawps:test") else 0.99)
