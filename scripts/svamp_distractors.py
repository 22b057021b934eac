"""Accuracy of an evaluation on SVAMP split by whether the question has numbers the gold equation
does not use (SVAMP's deliberate distractors) -- the failure FINDINGS.md predicts for students
trained on MAWPS+ASDiv-A, where most equations use every number.

    python scripts/svamp_distractors.py runs/eval/smollm2_etd_svamp [--out FILE.json]
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

from mathdistill import datasets as ds
from mathdistill.thoughts import THOUGHTS


def numbers_used(equation: str) -> int:
    return len(re.findall(r"\d+(?:\.\d+)?", equation or ""))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("run", type=Path, help="evaluation directory with verdicts.jsonl")
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    problems = {p.id: p for p in ds.load("svamp:test")}
    groups: dict[str, list[dict]] = {"has distractors": [], "every number used": []}
    for line in (args.run / "verdicts.jsonl").read_text().splitlines():
        row = json.loads(line)
        p = problems[row["id"]]
        groups["has distractors" if len(p.numbers) > numbers_used(p.equation) else "every number used"].append(row)
    result = {"run": str(args.run), "groups": {}}
    for name, rows in groups.items():
        n = len(rows)
        thoughts = [t for t in THOUGHTS if rows and t in rows[0]["thoughts"]]
        acc = {t: round(sum(r["thoughts"][t]["correct"] for r in rows) / n, 4) for t in thoughts}
        acc["vote"] = round(sum(r["vote"]["correct"] for r in rows) / n, 4)
        if rows and "vote_plausible" in rows[0]:
            acc["vote_plausible"] = round(sum(r["vote_plausible"]["correct"] for r in rows) / n, 4)
        result["groups"][name] = {"problems": n, "accuracy": acc}
        print(f"{name:18} {n:5d}  " + "  ".join(f"{k} {v:.1%}" for k, v in acc.items()))
    if args.out:
        args.out.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
