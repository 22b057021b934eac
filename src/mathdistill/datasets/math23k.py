"""Math23K (Wang et al. 2017), Chinese. Standard split: test/valid = the 1000 ids in the Graph2Tree
processed files, train = the other 21,162 problems of Math_23K.json.

Answers are written "20", "((4)/(7))", "7((2)/(3))" (mixed number) or "25%" (= 0.25, as the
equations compute fractions); all become floats.
"""

from __future__ import annotations

import re

from .files import data_file
from .formats import read_concatenated_json, read_json
from .mawps import strip_lhs
from .problem import DataError, Problem, numbers_in, require_number

SPLITS = {"all": 23162, "train": 21162, "valid": 1000, "test": 1000}
_FRAC = re.compile(r"(?P<whole>-?\d+)?\(\((?P<num>\d+)\)/\((?P<den>\d+)\)\)")


def answer_value(ans: str, where: str) -> float:
    m = _FRAC.fullmatch(ans.strip())
    if m:
        value = int(m.group("num")) / int(m.group("den"))
        whole = int(m.group("whole") or 0)
        return whole - value if whole < 0 else whole + value
    if ans.strip().endswith("%"):
        return require_number(ans.strip()[:-1], where) / 100
    return require_number(ans, where)


def _ids(rel: str) -> set[str]:
    path = data_file(rel)
    rows = read_json(path)
    if not isinstance(rows, list):
        raise DataError(f"{path}:1: expected a JSON list")
    return {str(r["id"]) for r in rows}


def load(split: str) -> list[Problem]:
    path = data_file("math23k/Math_23K.json")
    rows = read_concatenated_json(path)
    if split == "all":
        keep = None
    elif split in ("test", "valid"):
        keep = _ids(f"math23k/{split}23k_processed.json")
    else:
        held_out = _ids("math23k/test23k_processed.json") | _ids("math23k/valid23k_processed.json")
        keep = {str(r.get("id")) for r in rows} - held_out
    out = []
    for i, row in enumerate(rows):
        where = f"{path}: object {i}"
        try:
            key, text, equation, ans = str(row["id"]), row["original_text"], row["equation"], row["ans"]
        except KeyError as e:
            raise DataError(f"{where}: missing field {e}") from None
        if keep is not None and key not in keep:
            continue
        out.append(Problem(
            id=f"math23k/{split}/{key}", dataset="math23k", split=split, key=key, question=text.strip(),
            answer=answer_value(ans, where), equation=strip_lhs(equation), numbers=numbers_in(text)))
    return out
