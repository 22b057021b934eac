"""Generation throughput: the llama.cpp backend (one process, `parallel` sequences per batch,
continuous batching) against the batched transformers backend, same model, same prompts (N problems
x the three thoughts, thought-major in chunks of 64 as `mathdistill evaluate` sends them), same
greedy settings, measured in one run, the backends taking turns chunk by chunk.

    python benchmarks/backend_speed.py --model smollm2-135m --problems 40 --out results/backends/speed.json

The llama.cpp side runs the model converted by llama.cpp's converter (f16 by default: the same
weights as the fp32 checkpoint, rounded to half precision; `--quants f16,q8_0` adds variants, the
ratio is taken for the first). The transformers side runs batched as `evaluate` runs it (batch 16,
length-sorted), both with bf16 autocast (evaluate's default where the CPU has AMX / avx512_bf16) and
in fp32, and the ratio is taken over the faster of the two. Conversion and loading are not timed. Tokens
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
from mathdistill.distill.student import use_bf16
from mathdistill.machine import describe
from mathdistill.thoughts import THOUGHTS, student_prompt


def run_interleaved(named: dict, prompts: list[str], max_new_tokens: int) -> dict[str, dict]:
    """Every backend on every chunk of prompts, the backends taking turns chunk by chunk (in rotated
    order), so a load that comes and goes on a shared machine falls on all of them alike; each
    chunk's seconds and the load average after it are kept, so a disturbed chunk shows."""
    for backend in named.values():
        backend.generate(prompts[:2], 4)  # warm-up: first calls allocate
    out = {name: {"texts": [], "seconds": 0.0, "chunks": []} for name in named}
    names = list(named)
    for k, i in enumerate(range(0, len(prompts), CHUNK)):
        for name in names[k % len(names):] + names[: k % len(names)]:
            start = time.perf_counter()
            out[name]["texts"] += named[name].generate(prompts[i: i + CHUNK], max_new_tokens)
            took = time.perf_counter() - start
            out[name]["seconds"] += took
            out[name]["chunks"].append({"prompts": len(prompts[i: i + CHUNK]), "seconds": round(took, 1),
                                        "load_average_1min_after": round(os.getloadavg()[0], 2)})
    return out


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
    ap.add_argument("--parallel", type=int, default=16, help="llama.cpp: sequences per batch")
    ap.add_argument("--threads", type=int, default=None, help="llama.cpp: threads (default: every usable core)")
    ap.add_argument("--quants", default="f16", help="GGUF types for llama.cpp, comma-separated; the ratio uses the first")
    ap.add_argument("--batch-size", type=int, default=16, help="transformers: batch size")
    ap.add_argument("--bf16", default="auto,false",
                    help="transformers settings to measure, comma-separated (auto: bf16 autocast where the CPU "
                         "has AMX / avx512_bf16, as evaluate runs; false: fp32); the ratio is over the fastest")
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

    named = {}
    for setting in args.bf16.split(","):  # "auto" is fp32 on a CPU without AMX / avx512_bf16: measured once
        if f"transformers_{'bf16' if use_bf16(setting) else 'fp32'}" in named:
            continue
        hf = open_backend("transformers", args.model, bf16=setting, batch_size=args.batch_size)
        named[f"transformers_{'bf16' if hf.student.bf16 else 'fp32'}"] = hf
    for q, path in ggufs.items():
        named[f"llamacpp_{q}"] = open_backend("llamacpp", str(path), parallel=args.parallel, threads=args.threads)
    measured = run_interleaved(named, prompts, args.max_new_tokens)
    reference = measured[next(iter(named))]["texts"]
    results = {}
    for name, backend in named.items():
        m = measured[name]
        results[name] = block(m["texts"], m["seconds"], len(problems), tokenizer)
        if name.startswith("transformers"):
            results[name].update(batch_size=args.batch_size,
                                 precision="bf16 autocast" if backend.student.bf16 else "fp32")
        else:
            results[name].update(parallel=args.parallel, threads=backend.threads, gguf=str(backend.path),
                                 gguf_mb=round(backend.path.stat().st_size / 1e6, 1))
        results[name]["identical_texts_to_" + next(iter(named))] = sum(a == b for a, b in zip(m["texts"], reference))
        results[name]["chunks"] = m["chunks"]
        backend.close()
    fastest_hf = max((n for n in results if n.startswith("transformers")),
                     key=lambda n: results[n]["problems_per_second"])
    first = f"llamacpp_{quants[0]}"
    ratio = results[first]["problems_per_second"] / results[fastest_hf]["problems_per_second"]
    result = {"benchmark": "backend_speed", "model": args.model, "checkpoint": str(ckpt), "split": args.split,
              "problems": len(problems), "thoughts": thoughts, "generations": len(prompts),
              "max_new_tokens": args.max_new_tokens, "chunk": CHUNK, "results": results,
              "speedup": {"backend": first, "over": fastest_hf, "problems_per_second_ratio": round(ratio, 2),
                          "tokens_per_second_ratio": round(results[first]["tokens_per_second"]
                                                           / results[fastest_hf]["tokens_per_second"], 2),
                          "target": ">= 2x over the faster transformers setting"},
              "conversion_seconds_not_timed": round(convert_seconds, 1),
              "measured": "interleaved: the backends take turns on each chunk of 64 prompts",
              "machine": describe(), "load_average_before": [round(x, 2) for x in load_before],
              "llama_cpp_python": llama_cpp.__version__,
              "llama_cpp_system_info": llama_cpp.llama_print_system_info().decode().strip()}
    for name, r in results.items():
        print(f"{name:>16}: {r['problems_per_second']:.3f} problems/s, {r['generations_per_second']:.2f} generations/s, "
              f"{r['tokens_per_second']:.1f} tokens/s ({r['seconds']:.0f} s)")
    print(f"speed-up of {first} over {fastest_hf}: {ratio:.2f}x problems/s")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2) + "\n")
        print(args.out)


if __name__ == "__main__":
    main()
