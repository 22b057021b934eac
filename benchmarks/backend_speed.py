"""Generation throughput: the llama.cpp backend (one process, `parallel` sequences per batch,
continuous batching) against the batched transformers backend, same model, same prompts (N problems
x the three thoughts, thought-major in chunks of 64 as `mathdistill evaluate` sends them), same
greedy settings, measured in one run.

    python benchmarks/backend_speed.py --model smollm2-135m --problems 40 --out results/backends/speed.json

The llama.cpp side runs the model converted by llama.cpp's converter (f16 by default: the same
weights as the fp32 checkpoint, rounded to half precision; `--quants f16,q8_0` adds variants, the
ratio is taken for the first). The transformers side runs as `evaluate` does (bf16 autocast where
the CPU has AMX / avx512_bf16, batch 16, length-sorted). Conversion and loading are not timed. Tokens
are counted by re-tokenizing every output with the model's HF tokenizer, so both sides count alike.
Run it with nothing else busy on the machine: llama.cpp's threads wait for each other at every
operation, and a core taken by another job slows them far more than it slows torch.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

from mathdistill import datasets as ds
from mathdistill.evaluate.backends import open_backend
from mathdistill.evaluate.run import CHUNK
from mathdistill.machine import describe
from mathdistill.thoughts import THOUGHTS, student_prompt


def run(backend, prompts: list[str], max_new_tokens: int) -> tuple[list[str], float]:
    backend.generate(prompts[:2], 4)  # warm-up: first calls allocate
    start = time.perf_counter()
    out: list[str] = []
    for i in range(0, len(prompts), CHUNK):
        out += backend.generate(prompts[i: i + CHUNK], max_new_tokens)
    return out, time.perf_counter() - start


def block(texts: list[str], seconds: float, problems: int, tokenizer) -> dict:
    tokens = sum(len(tokenizer(t, add_special_tokens=False).input_ids) for t in texts)
    return {"seconds": round(seconds, 2), "generations": len(texts), "tokens": tokens,
            "problems_per_second": round(problems / seconds, 4),
            "generations_per_second": round(len(texts) / seconds, 3),
            "tokens_per_second": round(tokens / seconds, 1)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="smollm2-135m", help="registry name, checkpoint dir or trained run")
    ap.add_argument("--split", default="svamp:test")
    ap.add_argument("--problems", type=int, default=40)
    ap.add_argument("--thoughts", default=",".join(THOUGHTS))
    ap.add_argument("--max-new-tokens", type=int, default=160)
    ap.add_argument("--parallel", type=int, default=8, help="llama.cpp: sequences per batch")
    ap.add_argument("--threads", type=int, default=None, help="llama.cpp: threads (default: every usable core)")
    ap.add_argument("--quants", default="f16", help="GGUF types for llama.cpp, comma-separated; the ratio uses the first")
    ap.add_argument("--batch-size", type=int, default=16, help="transformers: batch size")
    ap.add_argument("--bf16", default="auto", help="transformers: bf16 autocast (auto, true, false)")
    ap.add_argument("--out", type=Path, help="write the result as JSON here")
    args = ap.parse_args()

    import llama_cpp
    from transformers import AutoTokenizer

    from mathdistill.models.to_gguf import checkpoint_dir, gguf_for

    thoughts = args.thoughts.split(",")
    problems = ds.load(args.split)[: args.problems]
    prompts = [student_prompt(p.question, t) for t in thoughts for p in problems]
    ckpt = checkpoint_dir(args.model)
    tokenizer = AutoTokenizer.from_pretrained(ckpt)
    quants = args.quants.split(",")
    t0 = time.perf_counter()
    ggufs = {q: gguf_for(args.model, q) for q in quants}  # converted once, cached; not timed
    convert_seconds = time.perf_counter() - t0
    load_before = os.getloadavg()

    hf = open_backend("transformers", args.model, bf16=args.bf16, batch_size=args.batch_size)
    bf16 = hf.student.bf16
    hf_texts, hf_seconds = run(hf, prompts, args.max_new_tokens)
    hf.close()
    del hf
    results = {"transformers": block(hf_texts, hf_seconds, len(problems), tokenizer)}
    results["transformers"].update(batch_size=args.batch_size, precision="bf16 autocast" if bf16 else "fp32")
    texts = {}
    for q, path in ggufs.items():
        be = open_backend("llamacpp", str(path), parallel=args.parallel, threads=args.threads)
        texts[q], seconds = run(be, prompts, args.max_new_tokens)
        threads = be.threads
        be.close()
        results[f"llamacpp_{q}"] = block(texts[q], seconds, len(problems), tokenizer)
        results[f"llamacpp_{q}"].update(parallel=args.parallel, threads=threads, gguf=str(path),
                                        gguf_mb=round(path.stat().st_size / 1e6, 1),
                                        identical_to_transformers=sum(a == b for a, b in zip(texts[q], hf_texts)))
    first = f"llamacpp_{quants[0]}"
    ratio = results[first]["problems_per_second"] / results["transformers"]["problems_per_second"]
    result = {"benchmark": "backend_speed", "model": args.model, "checkpoint": str(ckpt), "split": args.split,
              "problems": len(problems), "thoughts": thoughts, "generations": len(prompts),
              "max_new_tokens": args.max_new_tokens, "chunk": CHUNK, "results": results,
              "speedup": {"backend": first, "problems_per_second_ratio": round(ratio, 2),
                          "tokens_per_second_ratio": round(results[first]["tokens_per_second"]
                                                           / results["transformers"]["tokens_per_second"], 2),
                          "target": ">= 2x"},
              "conversion_seconds_not_timed": round(convert_seconds, 1),
              "machine": describe(bf16), "load_average_before": [round(x, 2) for x in load_before],
              "llama_cpp_python": llama_cpp.__version__,
              "llama_cpp_system_info": llama_cpp.llama_print_system_info().decode().strip()}
    for name, r in results.items():
        print(f"{name:>16}: {r['problems_per_second']:.3f} problems/s, {r['generations_per_second']:.2f} generations/s, "
              f"{r['tokens_per_second']:.1f} tokens/s ({r['seconds']:.0f} s)")
    print(f"speed-up of {first} over transformers: {ratio:.2f}x problems/s")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2) + "\n")
        print(args.out)


if __name__ == "__main__":
    main()
