"""MultiArith (Roy & Roth 2015), as distributed with Program-of-Thoughts: 600 problems."""

from __future__ import annotations

from .files import data_file
from .formats import read_json_list
from .mawps import strip_lhs
from .problem import DataError, Problem, numbers_in, require_number

SPLITS = {"test": 600}


def load(split: str) -> list[Problem]:
    path = data_file("multiarith/multiarith.json")
    rows = read_json_list(path)
    out = []
    for i, row in enumerate(rows):
        where = f"{path}: record {i}"
        try:
            key, text = str(row["iIndex"]), " ".join(row["sQuestion"].split())
            equations, solutions = row["lEquations"], row["lSolutions"]
        except KeyError as e:
            raise DataError(f"{where}: missing field {e}") from None
        if len(solutions) != 1:
            raise DataError(f"{where}: expected one solution, got {solutions!r}")
        out.append(Problem(
            id=f"multiarith/{split}/{key}", dataset="multiarith", split=split, key=key, question=text,
            answer=require_number(solutions[0], where),
            equation=strip_lhs(equations[0]) if len(equations) == 1 else None, numbers=numbers_in(text)))
    return out
