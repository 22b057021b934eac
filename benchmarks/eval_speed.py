"""Evaluation throughput: batched generation (left padding, KV cache, length-sorted batches) against
one problem at a time, same student, same prompts, same greedy settings, in one run.

    python benchmarks/eval_speed.py [--model runs/demo/train/model] [--problems 32] [--out results/eval_speed.json]

The default model is the demo's trained student when it exists (it stops at EOS like a real
evaluation), else the untuned SmolLM2-135M-Instruct. Run with nothing else busy on the machine.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import torch

from mathdistill import datasets as ds
from mathdistill.distill.student import load_student
from mathdistill.evaluate.backends.hf import generate
from mathdistill.thoughts import student_prompt

DEMO_MODEL = Path("runs/demo/train/model")


def timed(student, prompts: list[str], batch_size: int, max_new_tokens: int) -> tuple[list[str], float]:
    start = time.perf_counter()
    out = generate(student, prompts, batch_size=batch_size, max_new_tokens=max_new_tokens)
    return out, time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=str(DEMO_MODEL) if DEMO_MODEL.is_dir() else "smollm2-135m")
    ap.add_argument("--split", default="svamp:test")
    ap.add_argument("--thought", default="pot")
    ap.add_argument("--problems", type=int, default=32)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--max-new-tokens", type=int, default=96)
    ap.add_argument("--out", type=Path, help="write the result as JSON here")
    args = ap.parse_args()

    student = load_student(args.model)
    prompts = [student_prompt(p.question, args.thought) for p in ds.load(args.split)[: args.problems]]
    generate(student, prompts[:2], batch_size=2, max_new_tokens=4)  # warm-up: first calls are slow
    batched, t_batched = timed(student, prompts, args.batch_size, args.max_new_tokens)
    single, t_single = timed(student, prompts, 1, args.max_new_tokens)

    same = sum(a == b for a, b in zip(batched, single))
    ratio = t_single / t_batched
    result = {"benchmark": "eval_speed", "model": args.model, "split": args.split, "thought": args.thought,
              "problems": len(prompts), "batch_size": args.batch_size, "max_new_tokens": args.max_new_tokens,
              "bf16": student.bf16, "batched": {"seconds": round(t_batched, 2),
                                                "problems_per_second": round(len(prompts) / t_batched, 3)},
              "one_at_a_time": {"seconds": round(t_single, 2), "problems_per_second": round(len(prompts) / t_single, 3)},
              "speedup": round(ratio, 2), "identical_outputs": same, "cores": os.cpu_count(),
              "torch": torch.__version__, "load_average": os.getloadavg()}
    print(f"batched ({args.batch_size}): {result['batched']['problems_per_second']:.2f} problems/s; "
          f"one at a time: {result['one_at_a_time']['problems_per_second']:.2f} problems/s; speedup {ratio:.2f}x; "
          f"{same}/{len(prompts)} outputs identical")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
