"""Verification throughput, each against a baseline measured in the same run.

    python benchmarks/verify_speed.py [--out results/verify_speed.json]

* PoT: sandboxed programs/s (`Sandbox.run_many`, one worker per core) vs a fresh `python -c`
  subprocess per program (targets: >= 20x, and >= 300 programs/s on 2 cores);
* EoT: systems/s of our parser + exact solver vs `sympy.solve` on the same linear systems
  (target >= 20x).
Run it with nothing else busy on the machine: two heavy jobs on 2 cores slow each other several-fold.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from eot_speed import bench_eot  # noqa: E402
from pot_speed import bench_pot  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--programs", type=int, default=2000)
    parser.add_argument("--systems", type=int, default=300)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    result = {
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform(),
                    "load_average_at_start": os.getloadavg()},
        "pot": bench_pot(args.programs),
        "eot": bench_eot(args.systems),
        "command": "python benchmarks/verify_speed.py " + " ".join(sys.argv[1:]),
        "date": time.strftime("%Y-%m-%d %H:%M"),
    }
    pot, eot = result["pot"], result["eot"]
    print(f"PoT sandbox: {pot['sandbox_per_s']:.0f} programs/s vs fresh python -c {pot['baseline_per_s']:.1f}/s "
          f"-> {pot['speedup']:.0f}x (target >= 20x, >= 300/s)")
    print(f"EoT solver:  {eot['ours_per_s']:.0f} systems/s vs sympy.solve {eot['sympy_per_s']:.1f}/s "
          f"-> {eot['speedup']:.0f}x (target >= 20x)")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
