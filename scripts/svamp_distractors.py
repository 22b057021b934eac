"""Accuracy of an evaluation on SVAMP split by whether the question has numbers the gold equation
does not use (SVAMP's deliberate distractors) -- the failure FINDINGS.md predicts for students
trained on MAWPS+ASDiv-A, where most equations use every number.

    python scripts/svamp_distractors.py runs/eval/smollm2_etd_svamp [--out FILE.json]
"""

from __future__ import annotations

import json
import re

from mathdistill import datasets as ds
from mathdistill.evaluate.breakdown import breakdown, format_breakdown, read_verdicts, script_args


def numbers_used(equation: str) -> int:
    return len(re.findall(r"\d+(?:\.\d+)?", equation or ""))


def main() -> None:
    args = script_args(__doc__)
    problems = {p.id: p for p in ds.load("svamp:test")}

    def group(pid: str) -> str:
        p = problems[pid]
        return "has distractors" if len(p.numbers) > numbers_used(p.equation) else "every number used"

    groups = breakdown(read_verdicts(args.run), group, order=["has distractors", "every number used"])
    print(format_breakdown(groups))
    if args.out:
        args.out.write_text(json.dumps({"run": str(args.run), "groups": groups}, indent=2))


if __name__ == "__main__":
    main()
