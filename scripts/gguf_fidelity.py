"""Does the exported GGUF answer like the student it came from? For one student: convert it to each
GGUF type (f16, q8_0, q4_k_m by default: llama.cpp's converter + llama_model_quantize, as `mathdistill
export` does), generate greedily on N problems x the three thoughts with the transformers backend
(the reference, as `mathdistill evaluate` runs it) and with the llama.cpp backend on every GGUF, and
report per variant the share of identical extracted answers (`thoughts.answer`: CoT extraction, PoT in
the sandbox, EoT through the solver; "no answer" equals "no answer") and of identical texts, and
each variant's accuracy per thought and of the vote (`verify`, via `evaluate.run.score_split`).

    python scripts/gguf_fidelity.py --model runs/train/smollm2_etd_svamp/model --problems 300 \\
        --out results/export/fidelity_smollm2_etd_svamp

writes <out>/fidelity.json, <out>/fidelity.md and <out>/predictions.jsonl.gz (every text, its answer
and verdict, per variant). The GGUF files go to the model cache (`--gguf-dir` writes full exports
with Modelfile and model card instead); they are never written into <out>.
"""

from __future__ import annotations

import argparse
import gzip
import json
import time
from pathlib import Path

from mathdistill import datasets as ds
from mathdistill.answers import parse_number
from mathdistill.evaluate.backends import open_backend
from mathdistill.evaluate.run import CHUNK, score_split
from mathdistill.machine import describe
from mathdistill.rationales import Rationale
from mathdistill.thoughts import THOUGHTS, Checker, answer, student_prompt


def generate(backend, prompts: list[str], max_new_tokens: int) -> tuple[list[str], float]:
    start = time.perf_counter()
    out: list[str] = []
    for i in range(0, len(prompts), CHUNK):
        out += backend.generate(prompts[i: i + CHUNK], max_new_tokens)
    return out, time.perf_counter() - start


def same_answer(a: str | None, b: str | None) -> bool:
    if a is None or b is None:
        return a is b
    x, y = parse_number(a), parse_number(b)
    return a.strip() == b.strip() if x is None or y is None else abs(x - y) <= 1e-9 * max(1.0, abs(x))


def pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True, help="student: trained run (dir or its model/), checkpoint, registry name")
    ap.add_argument("--split", default="svamp:test")
    ap.add_argument("--problems", type=int, default=300, help="the first N problems of the split")
    ap.add_argument("--thoughts", default=",".join(THOUGHTS))
    ap.add_argument("--quants", default="f16,q8_0,q4_k_m")
    ap.add_argument("--max-new-tokens", type=int, default=160)
    ap.add_argument("--parallel", type=int, default=16, help="llama.cpp: sequences per batch")
    ap.add_argument("--threads", type=int, default=None, help="llama.cpp: threads (default: every usable core)")
    ap.add_argument("--batch-size", type=int, default=16, help="transformers: batch size")
    ap.add_argument("--bf16", default="auto", help="transformers: bf16 autocast (auto, as evaluate runs; true; false)")
    ap.add_argument("--policy", default="flexible", help="CoT answer extraction policy")
    ap.add_argument("--with-bf16", action="store_true",
                    help="also run the transformers backend with bf16 autocast, as a variant against the reference "
                         "(how far another precision of the same checkpoint drifts)")
    ap.add_argument("--gguf-dir", type=Path, help="export each GGUF here with Modelfile and card (default: model cache)")
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()

    from mathdistill.models.to_gguf import gguf_for
    from mathdistill.export import export_gguf

    thoughts = args.thoughts.split(",")
    quants = args.quants.split(",")
    problems = ds.load(args.split)[: args.problems]
    jobs = [(p, t) for t in thoughts for p in problems]
    prompts = [student_prompt(p.question, t) for p, t in jobs]
    args.out.mkdir(parents=True, exist_ok=True)

    ggufs = {}
    for q in quants:
        if args.gguf_dir:
            name = Path(args.model.rstrip("/")).name
            ggufs[q] = export_gguf(args.model, args.gguf_dir / q / f"{name}.{q}.gguf", q)
        else:
            ggufs[q] = gguf_for(args.model, q)

    texts, seconds, info = {}, {}, {}
    hf = open_backend("transformers", args.model, bf16=args.bf16, batch_size=args.batch_size)
    info["transformers"] = {"precision": "bf16 autocast" if hf.student.bf16 else "fp32", "checkpoint": hf.student.path}
    texts["transformers"], seconds["transformers"] = generate(hf, prompts, args.max_new_tokens)
    hf.close()
    del hf
    extra = []
    if args.with_bf16:
        hf = open_backend("transformers", args.model, bf16="true", batch_size=args.batch_size)
        info["transformers-bf16"] = {"precision": "bf16 autocast", "checkpoint": hf.student.path}
        texts["transformers-bf16"], seconds["transformers-bf16"] = generate(hf, prompts, args.max_new_tokens)
        hf.close()
        del hf
        extra = ["transformers-bf16"]
    for q, path in ggufs.items():
        be = open_backend("llamacpp", str(path), parallel=args.parallel, threads=args.threads)
        texts[q], seconds[q] = generate(be, prompts, args.max_new_tokens)
        info[q] = {"gguf": str(path), "gguf_mb": round(path.stat().st_size / 1e6, 1), "parallel": args.parallel,
                   "threads": be.threads}
        be.close()

    variants = ["transformers", *extra, *quants]
    answers: dict[str, list[str | None]] = {}
    with Checker(policy=args.policy) as checker:
        for v in variants:
            answers[v] = [answer(t, text, checker).answer for (_, t), text in zip(jobs, texts[v])]
        scores = {}
        rows_by_variant = {}
        for v in variants:
            records = [Rationale(p.id, t, text) for (p, t), text in zip(jobs, texts[v])]
            scores[v], rows = score_split(records, problems, thoughts, args.policy)
            rows_by_variant[v] = {r["id"]: r for r in rows}

    result = {"script": "gguf_fidelity", "model": args.model, "split": args.split, "problems": len(problems),
              "thoughts": thoughts, "generations": len(jobs), "max_new_tokens": args.max_new_tokens,
              "policy": args.policy, "reference": "transformers", "variants": {}, "machine": describe()}
    for v in variants:
        entry = {**info[v], "seconds": round(seconds[v], 1),
                 "generations_per_second": round(len(jobs) / seconds[v], 3),
                 "accuracy": {t: scores[v]["by_thought"][t]["accuracy"] for t in thoughts}
                 | {"vote": scores[v]["vote"]["accuracy"], "vote_plausible": scores[v]["vote_plausible"]["accuracy"],
                    "oracle": scores[v]["oracle"]["accuracy"]}}
        if v != "transformers":
            same = [same_answer(a, b) for a, b in zip(answers[v], answers["transformers"])]
            same_text = [a == b for a, b in zip(texts[v], texts["transformers"])]
            entry["identical_answers"] = {"all": round(sum(same) / len(same), 4)} | {
                t: round(sum(s for s, (_, tt) in zip(same, jobs) if tt == t) / len(problems), 4) for t in thoughts}
            entry["identical_texts"] = round(sum(same_text) / len(same_text), 4)
        result["variants"][v] = entry
    (args.out / "fidelity.json").write_text(json.dumps(result, indent=2) + "\n")

    with gzip.open(args.out / "predictions.jsonl.gz", "wt", encoding="utf-8") as f:
        for v in variants:
            for i, ((p, t), text) in enumerate(zip(jobs, texts[v])):
                graded = rows_by_variant[v].get(p.id, {}).get("thoughts", {}).get(t, {})
                f.write(json.dumps({"id": p.id, "thought": t, "variant": v, "text": text, "answer": answers[v][i],
                                    "correct": graded.get("correct"), "reason": graded.get("reason")},
                                   ensure_ascii=False) + "\n")

    ref = result["variants"]["transformers"]
    lines = [f"# GGUF fidelity: {args.model}", "",
             f"{len(problems)} problems of {args.split} x {len(thoughts)} thoughts ({len(jobs)} greedy generations, "
             f"up to {args.max_new_tokens} tokens), CoT policy `{args.policy}`. Reference: the transformers backend "
             f"({ref['precision']}) on the checkpoint; the GGUF files are llama.cpp's conversions of it, run by the "
             f"llama.cpp backend. \"Same answer\": the extracted answers agree (both none counts as agreeing).", "",
             "| variant | size | same answer | same text | " + " | ".join(t.upper() for t in thoughts)
             + " | vote | generations/s |",
             "|---|---:|---:|---:|" + "---:|" * len(thoughts) + "---:|---:|"]
    for v in variants:
        e = result["variants"][v]
        size = f"{e['gguf_mb']:.0f} MB" if "gguf_mb" in e else f"checkpoint, {e['precision']}"
        same = pct(e["identical_answers"]["all"]) if "identical_answers" in e else "-"
        same_t = pct(e["identical_texts"]) if "identical_texts" in e else "-"
        accs = " | ".join(pct(e["accuracy"][t]) for t in thoughts)
        lines.append(f"| {v} | {size} | {same} | {same_t} | {accs} | {pct(e['accuracy']['vote'])} | "
                     f"{e['generations_per_second']:.2f} |")
    lines += ["", "Same answer per thought:", "", "| variant | " + " | ".join(t.upper() for t in thoughts) + " |",
              "|---|" + "---:|" * len(thoughts)]
    for q in [*extra, *quants]:
        e = result["variants"][q]["identical_answers"]
        lines.append(f"| {q} | " + " | ".join(pct(e[t]) for t in thoughts) + " |")
    m = result["machine"]
    lines += ["", f"Machine: {m['cpu']} ({m['usable_cpus']} usable cores, class {m['class']}). "
              f"`python scripts/gguf_fidelity.py --model {args.model} --split {args.split} --problems {args.problems} "
              f"--quants {args.quants}{' --with-bf16' if args.with_bf16 else ''}{' --bf16 ' + args.bf16 if args.bf16 != 'auto' else ''} "
              f"--out {args.out}`", ""]
    (args.out / "fidelity.md").write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
