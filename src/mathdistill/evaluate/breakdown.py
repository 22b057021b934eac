"""Accuracy of an evaluation broken down by a property of its problems.

`breakdown(verdicts, group_of)` reads an evaluation's verdicts.jsonl rows and returns, for every
group name that `group_of(problem_id)` gives, the number of problems and the accuracy of each thought,
the vote, the plausible vote and the oracle (where the run has them). The analysis scripts
(`scripts/svamp_distractors.py`, `scripts/gsm8k_steps.py`, `scripts/equation_types.py`) are thin
wrappers around it.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Iterable
from pathlib import Path

from ..jsonl import read_jsonl
from mathdistill.thoughts import THOUGHTS


def read_verdicts(run: Path) -> list[dict]:
    path = Path(run) / "verdicts.jsonl"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no verdicts (run `mathdistill evaluate` into {run} first)")
    return [row for _, row in read_jsonl(path, error=ValueError)]


def breakdown(verdicts: Iterable[dict], group_of: Callable[[str], str | None],
              order: list[str] | None = None) -> dict[str, dict]:
    """{group: {"problems": n, "accuracy": {thought/vote/vote_plausible/oracle: fraction}}}.
    Rows whose group is None are left out; groups come in `order` if given, else as first seen."""
    groups: dict[str, list[dict]] = {g: [] for g in order or []}
    for row in verdicts:
        g = group_of(row["id"])
        if g is not None:
            groups.setdefault(g, []).append(row)
    out = {}
    for name, rows in groups.items():
        if not rows:
            continue
        n = len(rows)
        acc = {t: round(sum(r["thoughts"][t]["correct"] for r in rows) / n, 4)
               for t in THOUGHTS if t in rows[0]["thoughts"]}
        for key in ("vote", "vote_plausible"):
            if key in rows[0]:
                acc[key] = round(sum(r[key]["correct"] for r in rows) / n, 4)
        if "oracle" in rows[0]:
            acc["oracle"] = round(sum(bool(r["oracle"]) for r in rows) / n, 4)
        out[name] = {"problems": n, "accuracy": acc}
    return out


def format_breakdown(groups: dict[str, dict]) -> str:
    width = max((len(g) for g in groups), default=0)
    return "\n".join(f"{name:{width}} {g['problems']:5d}  " + "  ".join(f"{k} {v:.1%}" for k, v in g["accuracy"].items())
                     for name, g in groups.items())


def script_args(doc: str | None, with_split: bool = False) -> argparse.Namespace:
    """The analysis scripts' command line: an evaluation directory, [--split], [--out FILE.json]."""
    ap = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("run", type=Path, help="evaluation directory (verdicts.jsonl, predictions.jsonl)")
    if with_split:
        ap.add_argument("--split", required=True, help="DATASET:SPLIT the run evaluated")
    ap.add_argument("--out", type=Path, help="write the result as JSON here")
    return ap.parse_args()
