"""SVAMP (Patel et al. 2021) and its paper's MAWPS+ASDiv-A training set.

svamp:test is all of SVAMP.json (1000): text = Body + " " + Question, infix Equation over literals.
mawps-asdiv-a:train is the SVAMP paper's training set (3138 rows of
data/mawps-asdiv-a_svamp/train.csv); its dev.csv is SVAMP itself, so evaluate on svamp:test.
The csv format (masked numbers + prefix equation) is shared with the 5-fold CV files of MAWPS
and ASDiv-A, so its reader lives here too.
"""

from __future__ import annotations

import re

from .files import data_file
from .formats import read_csv, read_json_list
from .problem import DataError, Problem, fmt_number, numbers_in, require_number, tidy_text

SPLITS = {"test": 1000}
MAWPS_ASDIV_A_SPLITS = {"train": 3138}


def load(split: str) -> list[Problem]:
    path = data_file("svamp/SVAMP.json")
    rows = read_json_list(path)
    out = []
    for i, row in enumerate(rows):
        where = f"{path}: record {i} (ID {row.get('ID')!r})"
        try:
            body, question, key = row["Body"].strip(), row["Question"].strip(), row["ID"]
        except KeyError as e:
            raise DataError(f"{where}: missing field {e}") from None
        sep = "" if body.endswith((".", "?", "!", ",")) else "."
        text = tidy_text(f"{body}{sep} {question}" if body else question)
        out.append(Problem(
            id=f"svamp/{split}/{key}", dataset="svamp", split=split, key=key, question=text,
            answer=require_number(row["Answer"], where), equation=_tidy_infix(row["Equation"]),
            numbers=numbers_in(body + " " + question), meta={"type": row.get("Type")}))
    return out


def load_mawps_asdiv_a(split: str) -> list[Problem]:
    return load_masked_csv("mawps-asdiv-a", split, "svamp/mawps-asdiv-a_svamp/train.csv")


def _tidy_infix(eq: str) -> str:
    eq = re.sub(r"(\d+)\.0\b", r"\1", eq)
    return re.sub(r"\s+", "", eq)


def load_masked_csv(dataset: str, split: str, rel: str) -> list[Problem]:
    """Rows with `numberK` placeholders, a `Numbers` list and a prefix `Equation` over them."""
    path = data_file(rel)
    out = []
    for i, (lineno, row) in enumerate(read_csv(path, ("Question", "Numbers", "Equation", "Answer"))):
        where = f"{path}:{lineno}"
        try:
            numbers = tuple(float(x) for x in row["Numbers"].split())
        except ValueError:
            raise DataError(f"{where}: Numbers {row['Numbers']!r} is not a list of numbers") from None
        question = _unmask(row["Question"], numbers, where)
        out.append(Problem(
            id=f"{dataset}/{split}/{i}", dataset=dataset, split=split, key=str(i), question=question,
            answer=require_number(row["Answer"], where), equation=prefix_to_infix(row["Equation"], numbers, where),
            numbers=numbers, meta={k: row[k] for k in ("Type", "Grade") if k in row}))
    return out


_SLOT = re.compile(r"number(\d+)")


def _unmask(text: str, numbers: tuple[float, ...], where: str) -> str:
    def sub(m: re.Match) -> str:
        k = int(m.group(1))
        if k >= len(numbers):
            raise DataError(f"{where}: question mentions number{k} but Numbers has {len(numbers)}")
        return fmt_number(numbers[k])

    return tidy_text(_SLOT.sub(sub, text))


def prefix_to_infix(prefix: str, numbers: tuple[float, ...], where: str) -> str:
    """'- number0 number1' -> '56-9' with the literal numbers, fully parenthesised inside."""
    tokens = prefix.split()
    pos = 0

    def walk(top: bool) -> str:
        nonlocal pos
        if pos >= len(tokens):
            raise DataError(f"{where}: prefix equation {prefix!r} ends early")
        tok = tokens[pos]
        pos += 1
        if tok in "+-*/^":
            left, right = walk(False), walk(False)
            expr = f"{left}{tok}{right}"
            return expr if top else f"({expr})"
        m = _SLOT.fullmatch(tok)
        if m:
            k = int(m.group(1))
            if k >= len(numbers):
                raise DataError(f"{where}: equation uses number{k} but Numbers has {len(numbers)}")
            return fmt_number(numbers[k])
        try:
            return fmt_number(float(tok))
        except ValueError:
            raise DataError(f"{where}: unexpected token {tok!r} in equation {prefix!r}") from None

    expr = walk(True)
    if pos != len(tokens):
        raise DataError(f"{where}: prefix equation {prefix!r} has trailing tokens")
    return expr
