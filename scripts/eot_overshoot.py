"""How often a wrong EoT answer had the gold value in one of its intermediate variables: the student
computed the answer and then kept going (a student trained on multi-step GSM8K adds a step to
one-step problems). Reads an evaluation's predictions and solves each EoT system again.

    python scripts/eot_overshoot.py runs/eval/smollm2_etd_gsm8k_1500_asdiv --split asdiv:test [--out FILE.json]
"""

from __future__ import annotations

import json

from mathdistill import datasets as ds
from mathdistill.answers import close
from mathdistill.evaluate.breakdown import script_args
from mathdistill.jsonl import iter_jsonl_tolerant
from mathdistill.thoughts.eot import solve


def main() -> None:
    args = script_args(__doc__, with_split=True)
    problems = {p.id: p for p in ds.load(args.split)}
    counts = {"problems": 0, "right": 0, "wrong": 0, "wrong_with_gold_in_a_step": 0, "unsolved": 0}
    for r in iter_jsonl_tolerant(args.run / "predictions.jsonl"):
        if r["thought"] != "eot" or r["id"] not in problems:
            continue
        gold = problems[r["id"]].answer
        counts["problems"] += 1
        res = solve(r["text"])
        if res.value is None:
            counts["unsolved"] += 1
            continue
        if close(float(res.value), gold):
            counts["right"] += 1
            continue
        counts["wrong"] += 1
        # intermediate values, leaving out numbers copied from the question (a step "a = 9" is no work)
        given = problems[r["id"]].numbers
        steps = [float(v) for k, v in res.values.items() if k != res.target]
        steps = [v for v in steps if not any(close(v, g) for g in given)]
        if any(close(v, gold) for v in steps):
            counts["wrong_with_gold_in_a_step"] += 1
    print(", ".join(f"{k} {v}" for k, v in counts.items()))
    if args.out:
        args.out.write_text(json.dumps({"run": str(args.run), "split": args.split, **counts}, indent=2))


if __name__ == "__main__":
    main()
