"""ASDiv (Miao et al. 2020) and the SVAMP paper's 5-fold ASDiv-A cross-validation files.

asdiv:test keeps the problems whose Answer is exactly one number, optionally followed by one
parenthesised unit ("9 (apples)"); this drops 221 of 2305 (names, yes/no, times "3:30",
ratios "3:4", several answers "6 (cm); 15 (cm)"), leaving 2084. (PAL / PoT report 2,096 with a
rule they do not state.) The gold equation is the Formula when it is a single "expression=number" with
arithmetic only, after removing unit annotations; multi-step formulas and remainders
("47/6=7 r5") get no equation.
"""

from __future__ import annotations

import re

from .files import data_file
from .formats import read_xml
from .problem import DataError, Problem, numbers_in, require_number
from .svamp import load_masked_csv

SPLITS = {"test": 2084}
ASDIV_A_SPLITS = {f"cv{k}-{part}": None for k in range(5) for part in ("train", "dev")}

_SINGLE = re.compile(r"\s*-?[\d,]*\.?\d+\s*(\([^()]*\))?\s*")
_UNIT = re.compile(r"\(\s*[A-Za-z][^()]*\)|\b[A-Za-z]+\b")
_ARITH = re.compile(r"[\d.+\-*/() ]+")


def load(split: str) -> list[Problem]:
    path = data_file("asdiv/ASDiv.xml")
    out = []
    for prob in read_xml(path).iter("Problem"):
        key = prob.get("ID")

        def text(tag: str, _p=prob, _key=key) -> str:
            node = _p.find(tag)
            if node is None or node.text is None:
                raise DataError(f"{path}: problem {_key}: missing <{tag}>")
            return node.text.strip()

        raw_answer = text("Answer")
        if not _SINGLE.fullmatch(raw_answer):
            continue
        body, question = text("Body"), text("Question")
        out.append(Problem(
            id=f"asdiv/{split}/{key}", dataset="asdiv", split=split, key=key, question=f"{body} {question}",
            answer=require_number(raw_answer, f"{path}: problem {key}"), equation=_formula(text("Formula")),
            numbers=numbers_in(body + " " + question),
            meta={"type": text("Solution-Type"), "grade": prob.get("Grade")}))
    return out


def _formula(formula: str) -> str | None:
    if ";" in formula or formula.count("=") != 1:
        return None
    lhs, rhs = (_UNIT.sub("", side).strip() for side in formula.split("="))
    if not re.fullmatch(r"-?[\d.,]+", rhs):  # "47/6=7 r5": remainders and the like have no equation
        return None
    return lhs.replace(" ", "") if lhs and _ARITH.fullmatch(lhs) else None


def load_asdiv_a(split: str) -> list[Problem]:
    k, part = _cv_split(split, "asdiv-a")
    return load_masked_csv("asdiv-a", split, f"asdiv/cv_asdiv-a/fold{k}/{part}.csv")


def _cv_split(split: str, dataset: str) -> tuple[int, str]:
    m = re.fullmatch(r"cv([0-4])-(train|dev)", split)
    if not m:
        raise DataError(f"unknown split {dataset}:{split}")
    return int(m.group(1)), m.group(2)
