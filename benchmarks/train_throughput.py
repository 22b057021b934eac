"""Where training time goes on this machine, for the bf16-autocast and the fp32 training paths.

For each precision it trains SmolLM2-135M on real ETD rows through the project's training path
(`distill.trainer`: its Trainer, completion-only loss and collator) and reports:

* tokens/s: real (non-padding) tokens, prompt included, as the trainer counts them;
* where a step's time goes: forward + loss, backward, gradient clipping, optimizer, the rest
  (data, scheduler), from hooks on the trainer;
* achieved GFLOP/s, two ways:
  - model FLOPs = 6 x P x T: P = all parameters (134.5M; the tied embedding is the output layer),
    T = real tokens; 2 P per token forward, 4 P backward;
  - executed FLOPs = 6 x (P - V d) x T_padded + 6 x V d x T_logits + 12 x L x d x sum(s^2):
    the transformer body runs on padded tokens, the output layer (V x d) only where logits are
    computed (completion tokens with the completion-only loss, every token without), plus attention
    (scores and values, L layers, s = padded row length);
* utilisation = executed GFLOP/s / matmul GFLOP/s, the matmul measured in the same run, same
  precision and threads, at the training's shape (tokens of a batch x d) @ (d x intermediate);
* the cheap wins, each against the project's default in the same run: length-grouped batches vs
  random ones (padding waste), eager vs SDPA attention, all threads vs one (and, with
  `--variants ...,full_logits`, completion-only logits vs full). The default runs twice (first
  and last), so the spread between its two runs says how much a difference has to be to count.

Every run trains the same rows (batches at evenly spaced length quantiles of a random pool, as length
grouping forms them; the first batch is a warm-up and not timed). The machine (mathdistill.machine)
is recorded. Writes `<out-dir>/<name>.json` and `.md`; the name defaults to the CPU class.

    python benchmarks/train_throughput.py [--steps 6] [--batch-size 16] [--out-dir results/train_throughput]
    python benchmarks/train_throughput.py --smoke          # 2 short runs, to a temp dir: does it work?

As on an AVX2-only CPU (the features this project uses and the kernels torch's libraries pick):

    MATHDISTILL_CPU_FEATURES=avx2,fma ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2 \
        MKL_ENABLE_INSTRUCTIONS=AVX2 python benchmarks/train_throughput.py

Run it with nothing else busy on the machine: two heavy jobs on 2 cores slow each other several-fold.
"""

from __future__ import annotations

import argparse
import gc
import json
import random
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import torch

from mathdistill import machine
from mathdistill.demo import probe_batches
from mathdistill.distill.rows import encode, load_rows, row_prompt
from mathdistill.distill.student import is_seq2seq, load_tokenizer
from mathdistill.distill.train import TrainConfig
from mathdistill.distill.trainer import (
    Collator,
    RowsDataset,
    load_student_for_training,
    make_student_trainer,
    training_arguments,
)
from mathdistill.models import resolve_hf

VARIANTS = ["base", "random_order", "sdpa", "eager", "threads_1"]  # + "full_logits" on request
KNOBS = {  # cheap win -> (faster setting's variant, slower setting's variant)
    "length-grouped batches (vs random order)": ("base", "random_order"),
    "SDPA attention (vs eager)": ("sdpa", "eager"),
    "all threads (vs 1)": ("base", "threads_1"),
    "completion-only logits (vs full)": ("base", "full_logits"),
}


# ---------------------------------------------------------------------------------------------
# Data and batches


def training_rows(data: str | None, tmp: Path) -> tuple[str, list[dict]]:
    """ETD rows from --data, else the demo's: the gold ETD rows of the first 400 problems of
    mawps-asdiv-a:train, built here (a few seconds), the same on every machine."""
    if data:
        if not Path(data).is_file():
            raise SystemExit(f"{data}: no such file")
        return data, load_rows([data], ["cot", "pot", "eot"])
    from mathdistill.distill.dataset import BuildConfig, build_dataset
    from mathdistill.teachers.jobs import GenerateConfig, run_generate

    run_generate(GenerateConfig(teacher="gold", splits=["mawps-asdiv-a:train"], limit=400, out=str(tmp / "raw.jsonl")))
    build_dataset(BuildConfig(inputs=[str(tmp / "raw.jsonl")], out=str(tmp / "etd.jsonl"), eval_splits=["svamp:test"]))
    return "gold ETD of the first 400 problems of mawps-asdiv-a:train (built here)", \
        load_rows([str(tmp / "etd.jsonl")], ["cot", "pot", "eot"])


def random_order(batches: list[list[int]], seed: int) -> list[list[int]]:
    """The same rows in random batches (the warm-up batch kept): what training without grouping pads."""
    rows = [i for b in batches[1:] for i in b]
    random.Random(seed).shuffle(rows)
    size = len(batches[0])
    return [batches[0]] + [rows[i: i + size] for i in range(0, len(rows), size)]


def batch_stats(batches: list[list[int]], items: list[dict]) -> dict:
    """Per batch: real tokens, padded tokens, completion tokens (where logits are needed), sum of s^2."""
    out = []
    for b in batches:
        lens = [len(items[i]["input_ids"]) for i in b]
        longest = max(lens)
        completion = sum(sum(1 for x in items[i]["labels"][1:] if x != -100) for i in b)
        out.append({"real": sum(lens), "padded": longest * len(b), "completion": completion,
                    "sq": len(b) * longest ** 2})
    return out


# ---------------------------------------------------------------------------------------------
# Matmul reference


def matmul_gflops(dtype: torch.dtype, m: int, k: int, n: int, threads: int, seconds: float) -> float:
    """GFLOP/s of (m x k) @ (k x n) in `dtype` (2 m k n per product), with `threads` threads."""
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        a, b = torch.randn(m, k).to(dtype), torch.randn(k, n).to(dtype)
        for _ in range(3):
            a @ b
        count, start = 0, time.perf_counter()
        while (elapsed := time.perf_counter() - start) < seconds or count < 3:
            a @ b
            count += 1
        return round(2 * m * k * n * count / elapsed / 1e9, 1)
    finally:
        torch.set_num_threads(before)


# ---------------------------------------------------------------------------------------------
# One timed training run


class _Phases:
    """Times of each step's phases, from trainer hooks (a TrainerCallback plus wrappers)."""

    def __init__(self):
        self.begin: list[float] = []
        self.loss: list[float] = []  # forward + loss, per step
        self.ts_end: list[float] = []  # end of training_step (forward + backward)
        self.ts_time: list[float] = []
        self.pre_opt: list[float] = []
        self.opt: list[float] = []
        self.end: list[float] = []

    def callback(self):
        from transformers import TrainerCallback

        phases = self

        class Hooks(TrainerCallback):
            def on_step_begin(self, *a, **k):
                phases.begin.append(time.perf_counter())

            def on_pre_optimizer_step(self, *a, **k):
                phases.pre_opt.append(time.perf_counter())

            def on_optimizer_step(self, *a, **k):
                phases.opt.append(time.perf_counter())

            def on_step_end(self, *a, **k):
                phases.end.append(time.perf_counter())

        return Hooks()

    def wrap(self, trainer) -> None:
        compute_loss, training_step = trainer.compute_loss, trainer.training_step

        def timed_loss(*a, **k):
            t = time.perf_counter()
            try:
                return compute_loss(*a, **k)
            finally:
                self.loss.append(time.perf_counter() - t)

        def timed_step(*a, **k):
            t = time.perf_counter()
            try:
                return training_step(*a, **k)
            finally:
                self.ts_end.append(time.perf_counter())
                self.ts_time.append(self.ts_end[-1] - t)

        trainer.compute_loss, trainer.training_step = timed_loss, timed_step

    def breakdown(self) -> dict:
        """Mean seconds per measured step (all but the first) of each phase."""
        n = len(self.end)
        steps = range(1, n)
        mean = lambda xs: round(statistics.fmean(xs), 3) if xs else 0.0
        forward = [self.loss[i] for i in steps]
        backward = [self.ts_time[i] - self.loss[i] for i in steps]
        clip = [self.pre_opt[i] - self.ts_end[i] for i in steps]
        optimizer = [self.opt[i] - self.pre_opt[i] for i in steps]
        total = [self.end[i] - self.end[i - 1] for i in steps]
        rest = [t - f - b - c - o for t, f, b, c, o in zip(total, forward, backward, clip, optimizer)]
        return {"forward_and_loss": mean(forward), "backward": mean(backward), "grad_clip": mean(clip),
                "optimizer": mean(optimizer), "rest": mean(rest), "step": mean(total)}


def timed_run(model_dir: str, cfg: TrainConfig, items: list[dict], batches: list[list[int]], tokenizer,
              threads: int, tmp: str) -> dict:
    from transformers import Trainer
    from transformers.trainer_callback import PrinterCallback

    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    torch.manual_seed(cfg.seed)
    model, _ = load_student_for_training(model_dir, cfg)
    phases = _Phases()
    args = training_arguments(cfg, tmp, max_steps=len(batches), save_strategy="no", disable_tqdm=True,
                              train_sampling_strategy="sequential", logging_steps=10**6)
    trainer_cls = make_student_trainer if cfg.completion_logits_only else Trainer
    trainer = trainer_cls(model=model, args=args, train_dataset=RowsDataset([items[i] for b in batches for i in b]),
                          data_collator=Collator(tokenizer.pad_token_id), processing_class=tokenizer,
                          callbacks=[phases.callback()])
    trainer.remove_callback(PrinterCallback)  # no log lines between ours
    phases.wrap(trainer)
    try:
        trainer.train()
    finally:
        torch.set_num_threads(before)
    fast = bool(getattr(trainer, "fast_loss", False))
    attention = model.config._attn_implementation
    del trainer, model
    gc.collect()
    return {"phases": phases.breakdown(), "seconds": round(phases.end[-1] - phases.end[0], 3),
            "completion_logits_only": fast, "attention": attention}


# ---------------------------------------------------------------------------------------------


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="smollm2-135m")
    ap.add_argument("--data", help="ETD rows (default: the demo's, gold ETD of the first 400 problems of "
                    "mawps-asdiv-a:train, built here)")
    ap.add_argument("--steps", type=int, default=6, help="timed steps per run (after one warm-up step)")
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--precisions", default="bf16,fp32")
    ap.add_argument("--variants", default=",".join(VARIANTS), help=f"of {', '.join(VARIANTS + ['full_logits'])}")
    ap.add_argument("--matmul-seconds", type=float, default=3.0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out-dir", type=Path, default=Path("results/train_throughput"))
    ap.add_argument("--name", help="file name without extension (default: the CPU class, e.g. avx512_bf16)")
    ap.add_argument("--smoke", action="store_true", help="2 timed steps of 4 rows, the default runs only, "
                    "written to a temporary directory unless --out-dir is given")
    args = ap.parse_args()
    if args.smoke:
        args.steps, args.batch_size, args.variants, args.matmul_seconds = 2, 4, "base", 0.3
        if "--out-dir" not in sys.argv:
            args.out_dir = Path(tempfile.mkdtemp(prefix="train_throughput_smoke_"))
    variants = [v for v in args.variants.split(",") if v]
    unknown = set(variants) - set(VARIANTS) - {"full_logits"}
    if unknown:
        raise SystemExit(f"unknown variants {sorted(unknown)}")
    if "base" not in variants:
        variants.insert(0, "base")
    precisions = [p for p in args.precisions.split(",") if p]
    if set(precisions) - {"bf16", "fp32"}:
        raise SystemExit("--precisions: bf16 and/or fp32")

    model_dir = resolve_hf(args.model)
    if is_seq2seq(model_dir):
        raise SystemExit("this benchmark measures causal students")
    tokenizer = load_tokenizer(model_dir)
    all_threads = torch.get_num_threads()
    with tempfile.TemporaryDirectory() as tmp:
        data, rows = training_rows(args.data, Path(tmp))
        base_cfg = TrainConfig(model=args.model, batch_size=args.batch_size, lr=1e-4, seed=args.seed)
        items = [encode(tokenizer, row_prompt(r), r["completion"], False, base_cfg.max_len) for r in rows]
        lengths = [len(i["input_ids"]) for i in items]
        grouped = probe_batches(lengths, args.batch_size, args.steps + 1, args.seed)
        orders = {"grouped": grouped, "random": random_order(grouped, args.seed)}
        stats = {k: batch_stats(v, items) for k, v in orders.items()}

        from transformers import AutoConfig

        conf = AutoConfig.from_pretrained(model_dir)
        d, ffn, layers, vocab = conf.hidden_size, conf.intermediate_size, conf.num_hidden_layers, conf.vocab_size
        probe_model, _ = load_student_for_training(model_dir, base_cfg)
        params = sum(p.numel() for p in probe_model.parameters())
        del probe_model
        gc.collect()
        head = vocab * d
        m = round(statistics.fmean(s["padded"] for s in stats["grouped"][1:]))

        matmul: dict[str, dict[str, float]] = {}
        for p in precisions:
            dtype = torch.bfloat16 if p == "bf16" else torch.float32
            matmul[p] = {str(t): matmul_gflops(dtype, m, d, ffn, t, args.matmul_seconds)
                         for t in sorted({all_threads, 1} if "threads_1" in variants else {all_threads})}
            print(f"matmul {p} ({m} x {d}) @ ({d} x {ffn}): "
                  + ", ".join(f"{g} GFLOP/s with {t} thread(s)" for t, g in matmul[p].items()), flush=True)

        runs = []
        for p in precisions:
            for variant in variants + ["base"]:  # the default again at the end: the noise between its runs
                cfg = replace(base_cfg, bf16="true" if p == "bf16" else "false")
                threads, order = all_threads, "grouped"
                if variant == "random_order":
                    order = "random"
                elif variant in ("sdpa", "eager"):  # base: the project's default (auto)
                    cfg = replace(cfg, attn_implementation=variant)
                elif variant == "threads_1":
                    threads = 1
                elif variant == "full_logits":
                    cfg = replace(cfg, completion_logits_only=False)
                load = machine.describe().get("load_average")
                r = timed_run(model_dir, cfg, items, orders[order], tokenizer, threads, tmp)
                st = stats[order][1:]
                real, padded = sum(s["real"] for s in st), sum(s["padded"] for s in st)
                logits = sum(s["completion"] for s in st) if r["completion_logits_only"] else padded
                executed = 6 * (params - head) * padded + 6 * head * logits + 12 * layers * d * sum(s["sq"] for s in st)
                sec = r["seconds"]
                reference = matmul[p][str(threads)]
                run = {"precision": p, "variant": variant, "threads": threads, "order": order,
                       "attention": r["attention"], "completion_logits_only": r["completion_logits_only"],
                       "steps": len(st), "real_tokens": real, "padded_tokens": padded,
                       "padding_fraction": round(1 - real / padded, 3), "seconds": sec,
                       "tokens_per_second": round(real / sec, 1),
                       "model_gflops": round(6 * params * real / sec / 1e9, 1),
                       "executed_gflops": round(executed / sec / 1e9, 1), "matmul_gflops": reference,
                       "utilisation": round(executed / sec / 1e9 / reference, 3),
                       "phases_seconds_per_step": r["phases"], "load_average_before": load}
                runs.append(run)
                print(f"{p} {variant}: {run['tokens_per_second']} tokens/s, {run['executed_gflops']} GFLOP/s executed "
                      f"= {run['utilisation']:.0%} of matmul, padding {run['padding_fraction']:.0%}, "
                      f"step {r['phases']}", flush=True)

    result = summarise(args, data, runs, matmul, params, head, m, d, ffn, layers, precisions)
    name = args.name or machine.cpu_class().lower().replace(" ", "_").replace("-", "") + (
        "_limited" if machine.feature_limit() is not None else "")
    args.out_dir.mkdir(parents=True, exist_ok=True)
    (args.out_dir / f"{name}.json").write_text(json.dumps(result, indent=2))
    (args.out_dir / f"{name}.md").write_text(markdown(result))
    print(f"wrote {args.out_dir / name}.json and .md")


def summarise(args, data, runs, matmul, params, head, m, d, ffn, layers, precisions) -> dict:
    knobs: dict[str, dict] = {}
    for p in precisions:
        mine = [r for r in runs if r["precision"] == p]
        bases = [r["tokens_per_second"] for r in mine if r["variant"] == "base"]
        base = statistics.fmean(bases)
        noise = (max(bases) - min(bases)) / base if len(bases) > 1 else 0.0
        by_variant = {r["variant"]: r["tokens_per_second"] for r in mine if r["variant"] != "base"}
        by_variant["base"] = base
        knobs[p] = {"default_tokens_per_second": round(base, 1), "noise": round(noise, 3)}
        for knob, (fast, slow) in KNOBS.items():
            if fast in by_variant and slow in by_variant:
                gain = by_variant[fast] / by_variant[slow]
                bar = max(0.05, noise)
                verdict = "helped" if gain > 1 + bar else "hurt" if gain < 1 - bar else "no clear change"
                knobs[p][knob] = {"gain": round(gain, 3), "verdict": verdict}
    bf16_vs_fp32 = None
    if {"bf16", "fp32"} <= set(knobs):
        bf16_vs_fp32 = round(knobs["bf16"]["default_tokens_per_second"] / knobs["fp32"]["default_tokens_per_second"], 2)
    return {"benchmark": "train_throughput", "command": "python " + " ".join(sys.argv), "model": args.model,
            "data": data, "batch_size": args.batch_size, "timed_steps": args.steps, "warmup_steps": 1,
            "parameters": params, "output_layer_parameters": head,
            "flops": {"model": "6 x P x T_real (P = all parameters)",
                      "executed": "6 x (P - V d) x T_padded + 6 x V d x T_logits + 12 x L x d x sum(s^2)",
                      "matmul": f"2 m k n of ({m} x {d}) @ ({d} x {ffn}); L = {layers}"},
            "machine": machine.describe(), "torch": torch.__version__, "matmul_gflops": matmul,
            "runs": runs, "knobs": knobs, "bf16_vs_fp32": bf16_vs_fp32}


def markdown(res: dict) -> str:
    info = res["machine"]
    lines = [f"# Training throughput: {res['model']} on {machine.summary(info)}", "",
             (f"`{res['command']}`; torch {res['torch']}; {res['timed_steps']} timed steps of {res['batch_size']} rows "
             f"per run after a warm-up step, rows from {res['data']}. Load average at the start of each run is in the "
             "JSON."), "",
             (f"Model FLOPs = {res['flops']['model']}; executed FLOPs = {res['flops']['executed']} "
             f"(P = {res['parameters'] / 1e6:.1f}M, V d = {res['output_layer_parameters'] / 1e6:.1f}M). "
             f"Utilisation = executed GFLOP/s / matmul GFLOP/s at the training's shape, {res['flops']['matmul']}, "
             "same precision and threads, measured in this run."), "",
             "| precision | threads | matmul GFLOP/s |", "|---|---:|---:|"]
    for p, by_t in res["matmul_gflops"].items():
        lines += [f"| {p} | {t} | {g} |" for t, g in by_t.items()]
    lines += ["", ("| precision | variant | threads | attention | batches | padding | tokens/s | model GFLOP/s | "
              "executed GFLOP/s | utilisation | s/step: forward+loss / backward / optimizer / rest |"),
              "|---|---|---:|---|---|---:|---:|---:|---:|---:|---|"]
    for r in res["runs"]:
        ph = r["phases_seconds_per_step"]
        lines.append(f"| {r['precision']} | {r['variant']} | {r['threads']} | {r['attention']} | {r['order']} | "
                     f"{r['padding_fraction']:.0%} | {r['tokens_per_second']} | {r['model_gflops']} | "
                     f"{r['executed_gflops']} | {r['utilisation']:.0%} | {ph['forward_and_loss']} / {ph['backward']} / "
                     f"{ph['optimizer']} / {ph['rest'] + ph['grad_clip']:.3f} |")
    lines += ["", "## The cheap wins", "",
              ("Gain = tokens/s with the setting / without it, in this run. A change counts when it is more than "
              "5% and more than the spread between the two runs of the default (noise)."), ""]
    for p, k in res["knobs"].items():
        wins = [f"{name}: x{v['gain']} ({v['verdict']})" for name, v in k.items() if isinstance(v, dict)]
        lines.append(f"* **{p}** (default {k['default_tokens_per_second']} tokens/s, noise {k['noise']:.0%}): "
                     + ("; ".join(wins) or "only the default ran"))
    if res["bf16_vs_fp32"]:
        lines += ["", f"bf16 autocast / fp32 training throughput here: x{res['bf16_vs_fp32']}."]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
