"""Benchmarks, all loaded into `Problem` records. `load("svamp:test")` or `load("svamp", "test")`.

Ids are "{dataset}/{split}/{key}" with the dataset's native id as key where it has one.
Your own problems load the same way: `load("file:my_problems.csv")`, ids `file/my_problems/{id or row}`
(`user_files` has the format and how names are remembered).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Callable

from . import asdiv, distractors, files, gsm8k, math23k, mawps, multiarith, parts, svamp, user_files
from .problem import DataError, Problem, numbers_in


@dataclass(frozen=True)
class DatasetInfo:
    name: str
    loader: Callable[[str], list[Problem]]
    splits: dict[str, int | None]  # split -> expected count (None: varies per fold)
    description: str
    language: str = "en"


REGISTRY: dict[str, DatasetInfo] = {d.name: d for d in [
    DatasetInfo("gsm8k", gsm8k.load, gsm8k.SPLITS, "Grade-school math, multi-step, prose solutions"),
    DatasetInfo("svamp", svamp.load, svamp.SPLITS, "Varied one-unknown problems with distractors"),
    DatasetInfo("mawps-asdiv-a", svamp.load_mawps_asdiv_a, svamp.MAWPS_ASDIV_A_SPLITS,
                "SVAMP paper's training set (MAWPS + ASDiv-A); evaluate on svamp:test"),
    DatasetInfo("asdiv", asdiv.load, asdiv.SPLITS, "Diverse elementary problems (single-number answers)"),
    DatasetInfo("asdiv-a", asdiv.load_asdiv_a, asdiv.ASDIV_A_SPLITS, "ASDiv arithmetic subset, SVAMP paper 5-fold CV"),
    DatasetInfo("mawps", mawps.load, mawps.SPLITS, "MAWPS (MWPToolkit split + SVAMP paper 5-fold CV)"),
    DatasetInfo("multiarith", multiarith.load, multiarith.SPLITS, "Multi-step arithmetic"),
    DatasetInfo("math23k", math23k.load, math23k.SPLITS, "Chinese math word problems", language="zh"),
]}

# The evaluation splits of the contract, and the default training sets.
EVAL_SPLITS = ("gsm8k:test", "svamp:test", "multiarith:test", "asdiv:test", "mawps:test", "math23k:test")


def parse_spec(spec: str) -> tuple[str, str]:
    """'svamp:test' -> ('svamp', 'test'), with clear errors for unknown names.

    'file:path/to/shop.csv' -> ('file', 'shop'), remembering the path under that name.
    Any split may end in @fit or @heldout (`parts`): 80% and 20% of its problems, fixed by their ids."""
    name, sep, split = spec.partition(":")
    name = name.strip().lower()
    split, part = parts.split_part(split)
    at = "" if part is None else parts.MARK + part
    if name == user_files.DATASET:
        return name, user_files.resolve(split) + at
    if parts.MARK in split:
        raise DataError(f"unknown part {spec!r}: a split can end in {', '.join(parts.MARK + p for p in parts.PARTS)}")
    if name not in REGISTRY:
        raise DataError(f"unknown dataset {name!r}; known: {', '.join(REGISTRY)}, "
                        f"or file:PATH for your own .csv/.jsonl")
    info = REGISTRY[name]
    if not sep:
        if len(info.splits) != 1:
            raise DataError(f"say which split of {name}: {', '.join(f'{name}:{s}' for s in info.splits)}")
        split = next(iter(info.splits))
    base = split.removesuffix(distractors.SUFFIX)
    if base not in info.splits:
        raise DataError(f"unknown split {name}:{split}; {name} has: {', '.join(info.splits)} "
                        f"(each also as SPLIT{distractors.SUFFIX}: its problems with a distractor sentence, and as "
                        f"SPLIT@fit / SPLIT@heldout: 80% / 20% of them by id)")
    return name, split + at


def _load(name: str, split: str) -> tuple[Problem, ...]:
    base, part = parts.split_part(split)
    if part is not None:
        return tuple(parts.select(_load(name, base), part))
    if name == user_files.DATASET:  # read again whenever the file changes (user_files caches by mtime)
        return tuple(user_files.load_split(split))
    return _load_benchmark(name, split)


# The files each benchmark split was read from (for caches keyed on them, e.g. `data list` counts).
_SOURCES: dict[tuple[str, str], frozenset] = {}


def sources(name: str, split: str) -> frozenset:
    """The data files behind a split (empty if it has not been loaded in this process)."""
    return _SOURCES.get((name, parts.split_part(split)[0].removesuffix(distractors.SUFFIX)), frozenset())


@lru_cache(maxsize=32)
def _load_benchmark(name: str, split: str) -> tuple[Problem, ...]:
    if split.endswith(distractors.SUFFIX):
        return tuple(distractors.make_split(list(_load_benchmark(name, split.removesuffix(distractors.SUFFIX))), split))
    with files.recording() as used:
        problems = tuple(REGISTRY[name].loader(split))
    _SOURCES[(name, split)] = frozenset(used)
    seen: set[str] = set()
    for p in problems:
        if p.id in seen:
            raise DataError(f"{name}:{split}: duplicate problem id {p.id}")
        seen.add(p.id)
    return problems


def load(spec: str, split: str | None = None) -> list[Problem]:
    """All problems of a split, in file order."""
    name, split = parse_spec(spec if split is None else f"{spec}:{split}")
    return list(_load(name, split))


def load_many(specs: list[str] | tuple[str, ...]) -> list[Problem]:
    return [p for spec in specs for p in load(spec)]


def by_id(problems: list[Problem]) -> dict[str, Problem]:
    return {p.id: p for p in problems}


def get(problem_id: str) -> Problem:
    """One problem by its id, e.g. 'svamp/test/chal-1'."""
    parts = problem_id.split("/", 2)
    if len(parts) != 3:
        raise DataError(f"bad problem id {problem_id!r}: expected dataset/split/key")
    for p in load(parts[0], parts[1]):
        if p.id == problem_id:
            return p
    raise DataError(f"no problem with id {problem_id!r} in {parts[0]}:{parts[1]}")


__all__ = ["DataError", "Problem", "DatasetInfo", "REGISTRY", "EVAL_SPLITS", "load", "load_many",
           "parse_spec", "get", "by_id", "numbers_in"]
