"""Memory of the training loop on CPU: glibc's default mmap threshold against a fixed one.

Each setting trains the same student on the same rows for the same steps, in a fresh process, and
reports the resident memory after every step (its mean and last value), the peak, and the throughput.
The peak is set by the longest batch either way; what the fix changes is whether the memory of a
long batch goes back to the system afterwards, which matters when two jobs share the machine. `mmap_threshold_mb=0`
leaves glibc alone (its threshold rises as mapped blocks are freed, so later activations come from a
heap that fragments); `--fixed-mb` (4) fixes it (see `distill.train.fix_mmap_threshold`).

    python benchmarks/train_memory.py [--data runs/gold_etd_gsm8k/etd.jsonl] [--steps 40] \
        [--out results/train_memory.json]

The rows are the first problems of --data (GSM8K's are the longest we train on). Run it with
nothing else busy: the two runs follow each other, so the second is not slowed by the first.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
from pathlib import Path


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def child(args) -> None:
    from transformers import TrainerCallback

    from mathdistill.distill.train import TrainConfig, train

    samples: list[float] = []

    class Rss(TrainerCallback):
        def on_step_end(self, *_, **__):
            samples.append(round(rss_mb()))

    with tempfile.TemporaryDirectory() as tmp:
        cfg = TrainConfig(model=args.model, data=[args.data], limit=args.problems, out=tmp, max_steps=args.steps,
                          batch_size=args.batch_size, max_len=args.max_len, save_steps=10**9,
                          mmap_threshold_mb=args.threshold)
        result = train(cfg, callbacks=[Rss()])
    print(json.dumps({"mmap_threshold_mb": args.threshold, "steps": result.steps, "tokens": result.tokens,
                      "tokens_per_second": result.tokens_per_second, "rss_mb_per_step": samples,
                      "mean_rss_mb": round(sum(samples) / len(samples)), "last_rss_mb": samples[-1],
                      "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)}))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default="smollm2-135m")
    ap.add_argument("--data", default="runs/gold_etd_gsm8k/etd.jsonl")
    ap.add_argument("--problems", type=int, default=300)
    ap.add_argument("--steps", type=int, default=40)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--max-len", type=int, default=512)
    ap.add_argument("--fixed-mb", type=int, default=4)
    ap.add_argument("--out")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--threshold", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        return child(args)
    if not Path(args.data).is_file():
        sys.exit(f"{args.data} not found: build it with `mathdistill generate configs/gold_etd_gsm8k.yaml && "
                 "mathdistill build-dataset configs/gold_etd_gsm8k.yaml`")
    env = {k: v for k, v in os.environ.items() if k != "MALLOC_MMAP_THRESHOLD_"}
    runs = []
    for threshold in (0, args.fixed_mb):
        cmd = [sys.executable, __file__, "--child", "--threshold", str(threshold), "--model", args.model,
               "--data", args.data, "--problems", str(args.problems), "--steps", str(args.steps),
               "--batch-size", str(args.batch_size), "--max-len", str(args.max_len)]
        done = subprocess.run(cmd, check=False, env=env, capture_output=True, text=True)
        if done.returncode:
            sys.exit(f"training run (mmap_threshold_mb={threshold}) failed:\n{done.stderr[-3000:]}")
        runs.append(json.loads(done.stdout.strip().splitlines()[-1]))
        r = runs[-1]
        print(f"mmap_threshold_mb={threshold}: resident after a step: mean {r['mean_rss_mb']} MB, last "
              f"{r['last_rss_mb']} MB; peak {r['peak_rss_mb']} MB; {r['tokens_per_second']} tokens/s")
    default, fixed = runs
    report = {
        "command": "python " + " ".join(sys.argv),
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count(),
                    "threads": os.environ.get("OMP_NUM_THREADS")},
        "glibc_default": default, "fixed": fixed,
        "mean_rss_ratio_default_over_fixed": round(default["mean_rss_mb"] / fixed["mean_rss_mb"], 2),
        "peak_ratio_default_over_fixed": round(default["peak_rss_mb"] / fixed["peak_rss_mb"], 2),
        "speed_ratio_fixed_over_default": round(fixed["tokens_per_second"] / default["tokens_per_second"], 3),
    }
    print(f"resident memory, glibc default / fixed: mean {report['mean_rss_ratio_default_over_fixed']}x, "
          f"peak {report['peak_ratio_default_over_fixed']}x; "
          f"speed: fixed / default = {report['speed_ratio_fixed_over_default']}x")
    if args.out:
        Path(args.out).write_text(json.dumps(report, indent=1) + "\n")


if __name__ == "__main__":
    main()
