"""Regrade a committed `mathdistill verifier evaluate` directory from its files alone.

    python scripts/verifier_regrade.py results/verifier/svamp_fit_greedy

reads the candidates it names (metrics.json `config.candidates`, or the committed copy
`predictions.jsonl.gz` in the directory when there is one), the verdicts in them, the scores
(scores.jsonl.gz) and each verifier's calibration and thresholds (metrics.json), recomputes every
selection's accuracy, coverage, AUROC and ECE, and exits 1 if any number differs from metrics.json.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from mathdistill.verifier.run import regrade


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("dir", type=Path)
    ap.add_argument("--candidates", nargs="*", help="sample runs (default: the committed copy, else the config's)")
    args = ap.parse_args()
    metrics = json.loads((args.dir / "metrics.json").read_text())
    copy = args.dir / "predictions.jsonl.gz"
    sources = args.candidates or ([str(copy)] if copy.is_file() else metrics["config"]["candidates"])
    again = regrade(args.dir, sources)
    if again == metrics["splits"]:
        rows = {s: len(v["rows"]) for s, v in again.items()}
        print(f"{args.dir}: every number regrades from {', '.join(sources)} ({rows} selections per split)")
        return 0
    for split, v in metrics["splits"].items():
        for name, row in v["rows"].items():
            mine = again.get(split, {}).get("rows", {}).get(name)
            if mine != row:
                print(f"{split} {name}: committed {json.dumps(row)[:200]} != regraded {json.dumps(mine)[:200]}")
    return 1


if __name__ == "__main__":
    sys.exit(main())
