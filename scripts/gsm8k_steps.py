"""Accuracy of an evaluation on GSM8K test by the number of calculation steps in the gold solution
(its `<<...>>` calculator annotations; 0 and 1 share a bucket): where a small student's plans stop being right.

    python scripts/gsm8k_steps.py runs/eval/smollm2_etd_gsm8k_1500 [--out FILE.json]
"""

from __future__ import annotations

import json

from mathdistill import datasets as ds
from mathdistill.evaluate.breakdown import breakdown, format_breakdown, read_verdicts, script_args

BUCKETS = ["0-1 steps", "2 steps", "3 steps", "4 steps", "5+ steps"]


def steps(solution: str) -> int:
    """Calculator annotations in the gold solution (18 test solutions have none)."""
    return (solution or "").count("<<")


def main() -> None:
    args = script_args(__doc__)
    problems = {p.id: p for p in ds.load("gsm8k:test")}

    def group(pid: str) -> str | None:
        if pid not in problems:
            return None
        return BUCKETS[max(0, min(steps(problems[pid].solution), 5) - 1)]

    groups = breakdown(read_verdicts(args.run), group, order=BUCKETS)
    print(format_breakdown(groups))
    if args.out:
        args.out.write_text(json.dumps({"run": str(args.run), "groups": groups}, indent=2))


if __name__ == "__main__":
    main()
