"""Accuracy of an evaluation by the shape of each problem's gold equation, numbers replaced by n
(MultiArith has five shapes, sorted in its file), for datasets whose problems carry an equation.

    python scripts/equation_types.py runs/eval/smollm2_etd_gsm8k_1500_multiarith --split multiarith:test [--out FILE.json]
"""

from __future__ import annotations

import json
import re

from mathdistill import datasets as ds
from mathdistill.evaluate.breakdown import breakdown, format_breakdown, read_verdicts, script_args


def shape(equation: str | None) -> str | None:
    return re.sub(r"\d+(?:\.\d+)?", "n", equation) if equation else None


def main() -> None:
    args = script_args(__doc__, with_split=True)
    problems = {p.id: p for p in ds.load(args.split)}
    groups = breakdown(read_verdicts(args.run), lambda pid: shape(problems[pid].equation) if pid in problems else None)
    groups = dict(sorted(groups.items(), key=lambda kv: -kv[1]["problems"]))
    print(format_breakdown(groups))
    if args.out:
        args.out.write_text(json.dumps({"run": str(args.run), "split": args.split, "groups": groups}, indent=2))


if __name__ == "__main__":
    main()
