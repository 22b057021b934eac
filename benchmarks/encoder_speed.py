"""Encoding throughput: the 3-layer, 256-d student encoder against its 12-layer, 768-d teacher, on the
same questions, same batches, in one run (target: student >= 8x the teacher).

    python benchmarks/encoder_speed.py [--split svamp:test] [--questions 300] [--threads 1 2] [--out results/encoder_kd/speed.json]

Both encoders run in float32 inference mode.  Measurements alternate teacher, student, teacher,
student ... (``--rounds``) so that a change in machine load hits both; the ratio uses the median
of each.  The student's weights are random: its speed does not depend on them.  Run with nothing
else busy on the machine.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
from pathlib import Path

import torch

from mathdistill import datasets
from mathdistill.encoder_kd.examples import make_examples
from mathdistill.encoder_kd.student_encoder import StudentConfig, StudentEncoder
from mathdistill.encoder_kd.teacher import count_parameters, load_teacher
from mathdistill.encoder_kd.tree_solver import sentences_per_second


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--teacher", default="all-mpnet-base-v2")
    ap.add_argument("--split", default="svamp:test")
    ap.add_argument("--questions", type=int, default=300)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()

    tokenizer, teacher = load_teacher(args.teacher)
    student = StudentEncoder(StudentConfig(vocab_size=len(tokenizer), pad_id=tokenizer.pad_token_id))
    examples, _ = make_examples(datasets.load(args.split)[: args.questions], tokenizer)
    pad = tokenizer.pad_token_id
    result = {"teacher": args.teacher, "split": args.split, "questions": len(examples), "batch_size": args.batch_size,
              "teacher_params": count_parameters(teacher), "student_params": count_parameters(student),
              "load_average_before": os.getloadavg(), "by_threads": {}}
    for threads in args.threads:
        torch.set_num_threads(threads)
        t_runs, s_runs = [], []
        for _ in range(args.rounds):
            t_runs.append(sentences_per_second(teacher, examples, pad, args.batch_size))
            s_runs.append(sentences_per_second(student, examples, pad, args.batch_size))
        t, s = statistics.median(t_runs), statistics.median(s_runs)
        result["by_threads"][str(threads)] = {"teacher_qps": t, "student_qps": s, "ratio": s / t,
                                              "teacher_runs": t_runs, "student_runs": s_runs}
        print(f"{threads} thread(s): teacher {t:.1f} questions/s, student {s:.1f} questions/s, ratio {s / t:.1f}x")
    result["load_average_after"] = os.getloadavg()
    result["command"] = "python benchmarks/encoder_speed.py " + " ".join(
        f"--{k.replace('_', '-')} {' '.join(map(str, v)) if isinstance(v, list) else v}"
        for k, v in vars(args).items() if v is not None)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=1))
    print(f"parameters: student {result['student_params']:,} / teacher {result['teacher_params']:,} = "
          f"{result['student_params'] / result['teacher_params']:.3f}")


if __name__ == "__main__":
    main()
