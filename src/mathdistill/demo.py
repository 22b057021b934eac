"""`mathdistill demo` (`make demo`): the main job on the offline default, sized to the machine so that
training takes about `budget_minutes` (10) and the whole demo about `total_minutes` (15) on 2 cores.

1. gold ETD data (CoT, PoT, EoT, each verified) for the first problems of the SVAMP paper's
   MAWPS+ASDiv-A training set, guarded against SVAMP;
2. measure and size: a few real training steps of the student on that data give tokens/s on this
   machine (bf16 autocast where the CPU has AMX / avx512_bf16, fp32 elsewhere); `plan_demo` turns
   (tokens/s, tokens per problem, budget) into training problems, epochs and evaluation problems;
3. a brief full fine-tune of SmolLM2-135M-Instruct on all three thoughts;
4. evaluation on the first SVAMP problems: each thought and their vote;
5. the report, which says how the student was trained (a demo-size student, not the flagship).

Sizes given explicitly (`--train-problems`, `--epochs`, `--eval-problems`) are used as given; the
measurement is skipped when all three are. Every stage is resumable: rerunning continues from what
is on disk, with the plan stored in `<out>/plan.json`. Wall time per stage, the machine and the plan
go to `<out>/timing.json`.

The sizing rule (`plan_demo`, a pure function):
* the probe's tokens/s times 0.77 is what a whole training run achieves (shorter batches run less
  efficiently than the probe's median one; measured in two demos on AVX2 machines);
* today's demo (400 problems, 2 epochs, 100 SVAMP problems) when it fits the budget (within 10%):
  on an AMX CPU a whole run trains at ~280 tokens/s, and 400 x 2 x ~212 tokens take ~10 min;
* otherwise 2 epochs over the most problems that fit, in tens, but never fewer than 70 problems
  (the floor: ~27 steps of 16 rows, enough for the student to learn the three output forms, which
  the untuned model never writes: it scores 3.8% on SVAMP, all of it CoT); an AVX2-only CPU in fp32
  at ~60 tokens/s gets the floor, ~11 min of training, ~14 min in all;
* evaluation problems: what the rest of `total_minutes` allows, at an estimated
  0.95 + 89 / (training tokens/s) seconds per problem with transformers (fitted to two demos: 1.26 s
  at 280 tokens/s with bf16, 2.4 s at 60 tokens/s in fp32), 2.2x less with llama.cpp (its measured
  speed-up, results/backends), in tens, between 50 and 100.

Evaluation runs on llama.cpp (the student converted to an f16 GGUF by llama.cpp's converter) where
llama-cpp-python is installed, else on transformers (`--backend`), with the same graders either way.
"""

from __future__ import annotations

import gc
import json
import random
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field

from . import machine
from .config import BF16, opt
from .distill.dataset import BuildConfig, build_dataset
from .distill.student import use_bf16
from .distill.train import TrainConfig, train
from .evaluate.run import EvalConfig, run_evaluate
from .report import write_report
from . import demo_plan
from .demo_plan import EVAL_SPLIT, DemoPlan, Limits, eval_seconds_per_problem, explain, given_plan, plan_demo  # noqa: F401
from .teachers.jobs import GenerateConfig, run_generate

TRAIN_SPLIT = "mawps-asdiv-a:train"
FLAGSHIP = ("the flagship SVAMP student (results/students/svamp) trains on all 3,129 problems "
            "(9,387 rationales, 587 steps) and its ETD vote scores 34.3% on all 1,000 SVAMP problems")
UNTUNED = "the untuned SmolLM2-135M-Instruct scores 3.8% on all of SVAMP (6 of the first 100)"


@dataclass
class DemoConfig:
    out: str = opt("runs/demo", help="directory for the data, the student, the evaluation and the report")
    model: str = opt("smollm2-135m", help="the student to fine-tune")
    budget_minutes: Annotated[float, Field(gt=0)] = opt(
        10.0, help="training time to size the run for, from tokens/s measured on this machine")
    total_minutes: Annotated[float, Field(gt=0)] = opt(
        15.0, help="the whole demo (sizes the evaluation with what training leaves)")
    train_problems: Annotated[int, Field(ge=1)] | None = opt(
        None, help="training problems; unset: sized to the training budget (100-400)")
    epochs: Annotated[int, Field(ge=1)] | None = opt(None, help="training epochs; unset: 2")
    lr: Annotated[float, Field(gt=0)] = 2e-4  # higher than a full run's 1e-4: the demo trains for few steps
    eval_problems: Annotated[int, Field(ge=1)] | None = opt(
        None, help="SVAMP problems to evaluate on; unset: sized to the time left (50-100)")
    # gold completions here are at most ~125 tokens, 95% under 45
    max_new_tokens: Annotated[int, Field(ge=1)] = 96
    bf16: BF16 = opt("auto", help="bf16 autocast for training and evaluation: auto (on where the CPU runs it "
                                  "fast: AMX / avx512_bf16), true, false")
    backend: Literal["auto", "transformers", "llamacpp"] = opt(
        "auto", help="evaluation backend: auto (llamacpp, the student converted to an f16 GGUF, where "
        "llama-cpp-python is installed and the conversion works; else transformers), transformers, llamacpp")


# ---------------------------------------------------------------------------------------------
# Measuring: a few real training steps


@dataclass(frozen=True)
class Throughput:
    tokens_per_second: float
    tokens_per_problem: float
    steps: int  # measured steps (after one warm-up step)
    tokens: int
    seconds: float
    warmup_seconds: float
    batch_size: int


def probe_batches(lengths: list[int], batch_size: int, steps: int, seed: int = 0) -> list[list[int]]:
    """Row indices of `steps` batches as length-grouped training forms them: a random pool of 50 batches'
    worth of rows (the trainer's megabatch), sorted by length and cut into batches, from which batches at
    evenly spaced length quantiles are taken. The first (for warm-up) is the longest; then the median,
    and outwards from it, so that a measurement cut short stays about the middle."""
    rng = random.Random(seed)
    pool = rng.sample(range(len(lengths)), min(len(lengths), 50 * batch_size))
    pool.sort(key=lambda i: (lengths[i], i))
    size = min(batch_size, len(pool))
    batches = [pool[i: i + size] for i in range(0, len(pool) - size + 1, size)]
    n = min(steps, len(batches))
    picked = [batches[min(len(batches) - 1, int((k + 0.5) * len(batches) / n))] for k in range(n)]
    middle = n // 2
    order = [n - 1] + sorted((k for k in range(n) if k != n - 1), key=lambda k: (abs(k - middle), k))
    return [picked[k] for k in order]


def measure_training(model: str, data: str, *, bf16: BF16 = "auto", batch_size: int = 16, lr: float = 2e-4,
                     max_steps: int = 5, min_seconds: float = 10.0, seed: int = 0) -> Throughput:
    """Tokens/s of training `model` on the rows of `data`, through the normal training path (the project's
    Trainer, loss and collator, this run's precision): one warm-up step, then steps until `min_seconds`
    have passed (at least one, at most `max_steps` - 1)."""
    import torch
    from transformers import TrainerCallback
    from transformers.trainer_callback import PrinterCallback

    from .distill.rows import encode, load_rows, row_prompt
    from .distill.student import load_tokenizer
    from .distill.trainer import (
        Collator,
        RowsDataset,
        load_student_for_training,
        make_student_trainer,
        training_arguments,
    )
    from .models import resolve_hf

    cfg = TrainConfig(model=model, data=[data], batch_size=batch_size, lr=lr, bf16=bf16, seed=seed)
    model_dir = resolve_hf(model)
    rows = load_rows(cfg.data, cfg.thoughts)
    tokenizer = load_tokenizer(model_dir)
    torch.manual_seed(seed)
    net, seq2seq = load_student_for_training(model_dir, cfg)
    items = [encode(tokenizer, row_prompt(r), r["completion"], seq2seq, cfg.max_len) for r in rows]
    lengths = [len(i["input_ids"]) + (len(i["labels"]) if seq2seq else 0) for i in items]
    per_problem = sum(lengths) / len({r["id"] for r in rows})
    batches = probe_batches(lengths, batch_size, max_steps, seed)
    batch_tokens = [sum(lengths[i] for i in b) for b in batches]

    class StepTimer(TrainerCallback):
        def __init__(self):
            self.start = time.perf_counter()
            self.ends: list[float] = []

        def on_step_end(self, args, state, control, **kwargs):
            self.ends.append(time.perf_counter())
            if len(self.ends) >= 2 and self.ends[-1] - self.ends[0] >= min_seconds:
                control.should_training_stop = True

    timer = StepTimer()
    with tempfile.TemporaryDirectory() as tmp:
        args = training_arguments(cfg, tmp, max_steps=len(batches), save_strategy="no", disable_tqdm=True,
                                  train_sampling_strategy="sequential", logging_steps=10**6)
        trainer = make_student_trainer(model=net, args=args, train_dataset=RowsDataset([items[i] for b in batches for i in b]),
                                       data_collator=Collator(tokenizer.pad_token_id), processing_class=tokenizer,
                                       callbacks=[timer])
        trainer.remove_callback(PrinterCallback)  # its log lines would interrupt the demo's
        timer.start = time.perf_counter()
        trainer.train()
    del trainer, net
    gc.collect()
    if len(timer.ends) < 2:
        raise RuntimeError(f"{data}: too few rows to measure training ({len(rows)} rows, batch {batch_size})")
    measured = len(timer.ends) - 1
    seconds = timer.ends[-1] - timer.ends[0]
    tokens = sum(batch_tokens[1: 1 + measured])
    return Throughput(tokens_per_second=round(tokens / seconds, 1), tokens_per_problem=round(per_problem, 1),
                      steps=measured, tokens=tokens, seconds=round(seconds, 4),
                      warmup_seconds=round(timer.ends[0] - timer.start, 2), batch_size=len(batches[0]))


# ---------------------------------------------------------------------------------------------
# The demo


def run_demo(cfg: DemoConfig, progress: Callable[[int, int], object] | None = None,
             say: Callable[[str], None] = print,
             measure: Callable[..., Throughput] = measure_training) -> Path:
    """Run the five stages; returns the report's path. `measure` is `measure_training` (tests pass a fake)."""
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    clock = _Stages()
    bf16 = use_bf16(cfg.bf16)
    pool = cfg.train_problems or demo_plan.LIMITS.full_train
    say(f"[1/5] gold ETD data: first {pool} problems of {TRAIN_SPLIT}")
    run_generate(GenerateConfig(teacher="gold", splits=[TRAIN_SPLIT], limit=pool,
                                out=str(out / "raw.jsonl")), progress=progress)
    etd = out / "etd.jsonl"
    built = build_dataset(BuildConfig(inputs=[str(out / "raw.jsonl")], out=str(etd), eval_splits=[EVAL_SPLIT]))
    say(f"      {built['rows']} verified rationales for {built['problems']} problems")
    clock.done("data")

    say(f"[2/5] measure and size: {machine.summary(machine.describe(bf16=bf16))}")
    plan, throughput, resume = _plan(cfg, out, etd, bf16, measure, say)
    if not resume:  # another plan than the stored one: its student and its predictions are not this run's
        for stale in (out / "train", out / "smollm2_etd_eval"):
            shutil.rmtree(stale, ignore_errors=True)
    say("      " + explain(plan, machine.cpu_class(), machine.precision(bf16)))
    clock.done("measure")

    say(f"[3/5] fine-tune {cfg.model} on CoT + PoT + EoT: {plan.train_problems} problems, {plan.epochs} epochs")
    trained = train(TrainConfig(model=cfg.model, data=[str(etd)], out=str(out / "train"), limit=plan.train_problems,
                                epochs=plan.epochs, lr=cfg.lr, bf16=cfg.bf16, resume=resume))
    say(f"      {trained.steps} steps, {trained.tokens_per_second:.0f} tokens/s, final loss {trained.final_loss}")
    clock.done("train")

    say(f"[4/5] evaluate on the first {plan.eval_problems} problems of {EVAL_SPLIT}: each thought and the vote")
    used = eval_backend(cfg.backend, trained.model_dir, say)
    metrics = run_evaluate(EvalConfig(model=trained.model_dir, splits=[EVAL_SPLIT], limit=plan.eval_problems,
                                      out=str(out / "smollm2_etd_eval"), max_new_tokens=cfg.max_new_tokens,
                                      bf16=cfg.bf16, backend=used), progress=progress)
    m = metrics["splits"][EVAL_SPLIT]
    say("      " + ", ".join(f"{t} {b['accuracy']:.1%}" for t, b in m["by_thought"].items())
        + f", vote {m['vote']['accuracy']:.1%}, plausible vote {m['vote_plausible']['accuracy']:.1%}"
        + f", oracle {m['oracle']['accuracy']:.1%}")
    clock.done("evaluate")

    say("[5/5] report")
    report, _ = write_report([out / "smollm2_etd_eval"], out / "report")
    how = how_trained(cfg, plan, trained, machine.describe(bf16=bf16))
    _append_to_report(report, how)
    say("      " + how)
    clock.done("report")
    timing = {"config": asdict(cfg), "machine": machine.describe(bf16=bf16),
              "plan": {**asdict(plan), "explanation": explain(plan, machine.cpu_class(), machine.precision(bf16))},
              "measured": asdict(throughput) if throughput else None,
              "trained": {"problems": trained.problems, "rows": trained.rows, "epochs": plan.epochs,
                          "steps": trained.steps, "tokens": trained.tokens,
                          "tokens_per_second": trained.tokens_per_second, "precision": machine.precision(bf16)},
              "how_trained": how,
              "seconds": clock.seconds, "total_seconds": round(sum(clock.seconds.values()), 1),
              "predicted_seconds": {"train": plan.train_seconds, "evaluate": plan.eval_seconds},
              "load_average_at_end": machine.describe().get("load_average"),
              "note": "a rerun that resumes finished stages times only what it redid"}
    (out / "timing.json").write_text(json.dumps(timing, indent=2))
    say(f"      stages took {', '.join(f'{k} {v:.0f} s' for k, v in clock.seconds.items())}; "
        f"total {timing['total_seconds'] / 60:.1f} min")
    return report


def planned_backend(choice: str) -> str:
    """The evaluation backend to size the plan for: llamacpp when asked, or under `auto` when the
    bindings import (the conversion is tried after training, by `eval_backend`)."""
    if choice != "auto":
        return choice
    from .models import ModelError
    from .models.to_gguf import import_llama_cpp

    try:
        import_llama_cpp()
    except ModelError:
        return "transformers"
    return "llamacpp"


def eval_backend(choice: str, model_dir: str, say: Callable[[str], None]) -> str:
    """The backend the evaluation runs on. `auto`: llama.cpp (several sequences per batch, the
    fastest backend here) when llama-cpp-python is installed and the student converts to an f16 GGUF
    with llama.cpp's converter (fetched once from PyPI); otherwise transformers, saying why."""
    if choice != "auto":
        return choice
    from .models import ModelError
    from .models.to_gguf import gguf_for, import_llama_cpp

    start = time.perf_counter()
    try:
        import_llama_cpp()
        path = gguf_for(model_dir, "f16")
    except (ModelError, OSError, RuntimeError) as e:
        say(f"      backend: transformers (llama.cpp not usable here: {e})")
        return "transformers"
    say(f"      backend: llamacpp, the student as an f16 GGUF ({path.stat().st_size / 1e6:.0f} MB, "
        f"{time.perf_counter() - start:.0f} s to convert)")
    return "llamacpp"


def _plan(cfg: DemoConfig, out: Path, etd: Path, bf16: bool, measure: Callable[..., Throughput],
          say: Callable[[str], None]) -> tuple[DemoPlan, Throughput | None, bool]:
    """This run's plan, its measurement, and whether training may resume from checkpoints in `out`.
    A plan stored by an earlier run with the same settings is reused (so a rerun resumes the same
    training); a plan for other settings means the old checkpoints are not this run's."""
    backend = planned_backend(cfg.backend)
    key = {"model": cfg.model, "bf16": bf16, "backend": backend, "budget_minutes": cfg.budget_minutes,
           "total_minutes": cfg.total_minutes, "train_problems": cfg.train_problems, "epochs": cfg.epochs,
           "eval_problems": cfg.eval_problems}
    stored = out / "plan.json"
    earlier = json.loads(stored.read_text()) if stored.is_file() else None
    if earlier and earlier.get("key") == key:
        say(f"      reusing the plan in {stored} (delete it to measure again)")
        measured = earlier.get("measured")
        return DemoPlan(**earlier["plan"]), Throughput(**measured) if measured else None, True
    if cfg.train_problems and cfg.epochs and cfg.eval_problems:
        plan, throughput = given_plan(cfg), None
    else:
        start = time.perf_counter()
        throughput = measure(cfg.model, str(etd), bf16="true" if bf16 else "false", lr=cfg.lr)
        say(f"      measured {throughput.tokens_per_second:.0f} tokens/s over {throughput.steps} training "
            f"step{'s' if throughput.steps != 1 else ''} of {throughput.batch_size} rows "
            f"({throughput.tokens_per_problem:.0f} tokens per problem, all three thoughts)")
        plan = plan_demo(throughput.tokens_per_second, throughput.tokens_per_problem, cfg.budget_minutes,
                         total_minutes=cfg.total_minutes, measure_seconds=time.perf_counter() - start,
                         train_problems=cfg.train_problems, epochs=cfg.epochs, eval_problems=cfg.eval_problems,
                         backend=backend)
    stored.write_text(json.dumps({"key": key, "plan": asdict(plan),
                                  "measured": asdict(throughput) if throughput else None}, indent=2))
    return plan, throughput, earlier is None


def how_trained(cfg: DemoConfig, plan: DemoPlan, trained, info: dict) -> str:
    """One paragraph for the report: what this student is, so that it is not taken for the flagship."""
    return (f"This is a demo-size student: {cfg.model} fully fine-tuned on the verified gold CoT, PoT and EoT "
            f"rationales of the first {trained.problems} problems of {TRAIN_SPLIT} ({trained.rows} rows) for "
            f"{plan.epochs} epoch{'s' if plan.epochs != 1 else ''} ({trained.steps} steps, "
            f"{trained.tokens_per_second:.0f} tokens/s, {machine.summary(info)}), evaluated on the first "
            f"{plan.eval_problems} problems of {EVAL_SPLIT}. Its size was "
            + ("given on the command line" if plan.why == "given" else
               f"chosen for a {plan.budget_minutes:g}-minute training budget from a measured "
               f"{plan.tokens_per_second:.0f} tokens/s")
            + f". For comparison, {FLAGSHIP}; {UNTUNED}.")


def _append_to_report(report: Path, paragraph: str) -> None:
    from .rendering import html_page

    text = report.read_text(encoding="utf-8").rstrip("\n") + "\n\n## How this demo's student was trained\n\n" + paragraph + "\n"
    report.write_text(text, encoding="utf-8")
    report.with_suffix(".html").write_text(html_page("mathdistill report", text), encoding="utf-8")


class _Stages:
    """Wall time of each stage since the previous one."""

    def __init__(self):
        self.seconds: dict[str, float] = {}
        self._last = time.perf_counter()

    def done(self, stage: str) -> None:
        now = time.perf_counter()
        self.seconds[stage] = round(now - self._last, 1)
        self._last = now
