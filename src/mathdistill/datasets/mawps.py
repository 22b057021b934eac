"""MAWPS (Koncel-Kedziorski et al. 2016) as packaged by MWPToolkit, plus the SVAMP paper's 5-fold CV.

mawps:all is MAWPS.json (2373); train/valid/test are MWPToolkit's 1898/237/238 split; keys are
the native `id`. mawps:cv{k}-{train,dev} are the SVAMP paper's cross-validation files over its
1921-problem MAWPS (no native ids: keys are row positions).
"""

from __future__ import annotations

import re

from .asdiv import _cv_split
from .files import data_file
from .formats import read_json_list
from .problem import DataError, Problem, numbers_in, require_number, tidy_text
from .svamp import load_masked_csv

SPLITS = {"all": 2373, "train": 1898, "valid": 237, "test": 238,
          **{f"cv{k}-{part}": None for k in range(5) for part in ("train", "dev")}}
_FILES = {"all": "MAWPS.json", "train": "trainset.json", "valid": "validset.json", "test": "testset.json"}


def load(split: str) -> list[Problem]:
    if split.startswith("cv"):
        k, part = _cv_split(split, "mawps")
        return load_masked_csv("mawps", split, f"mawps/cv_mawps/fold{k}/{part}.csv")
    path = data_file(f"mawps/{_FILES[split]}")
    rows = read_json_list(path)
    out = []
    for i, row in enumerate(rows):
        where = f"{path}: record {i}"
        try:
            key, text, equation = str(row["id"]), tidy_text(row["original_text"]), row["equation"]
        except KeyError as e:
            raise DataError(f"{where}: missing field {e}") from None
        out.append(Problem(
            id=f"mawps/{split}/{key}", dataset="mawps", split=split, key=key, question=text,
            answer=require_number(row["ans"], where), equation=strip_lhs(equation), numbers=numbers_in(text)))
    return out


def strip_lhs(equation: str) -> str:
    """'x=56*9' / 'X=(27.0*16.0)' / 'hours=4.0/3.0' -> the expression; equations with the unknown
    elsewhere ('(7.0*x)+4.0=(3.0*x)-20.0') stay whole."""
    lhs, sep, rhs = equation.partition("=")
    if sep and re.fullmatch(r"\s*[A-Za-z_]\w*\s*", lhs) and not re.search(r"[A-Za-z]", rhs):
        return _exact_repeating(rhs.strip())
    return _exact_repeating(equation.strip())


# MAWPS writes 1/3 as 0.3333 in some equations (and then states the exact answer)
_REPEATING = {"0.3333": "(1/3)", "0.333": "(1/3)", "0.6667": "(2/3)", "0.667": "(2/3)", "0.1667": "(1/6)",
              "0.8333": "(5/6)", "0.833": "(5/6)"}


def _exact_repeating(expr: str) -> str:
    return re.sub(r"(?<![\d.])0\.(?:3333?|6667?|1667|8333?)(?![\d])", lambda m: _REPEATING[m.group(0)], expr)
