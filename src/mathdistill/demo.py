"""`mathdistill demo` (`make demo`): the main job on the offline default, in about 10 minutes on 2 cores.

1. gold ETD data (CoT, PoT, EoT, each verified) for the first problems of the SVAMP paper's
   MAWPS+ASDiv-A training set, guarded against SVAMP;
2. a brief full fine-tune of SmolLM2-135M-Instruct on all three thoughts;
3. evaluation on the first SVAMP problems: each thought and their vote;
4. the report.
Every stage is resumable: rerunning continues from what is on disk. Wall time per stage goes
to `<out>/timing.json` (the budget is 15 minutes of compute on 2 cores after installation).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Annotated

from pydantic import Field
from pathlib import Path

from .config import opt
from .distill.dataset import BuildConfig, build_dataset
from .teachers.jobs import GenerateConfig, run_generate
from .distill.train import TrainConfig, train
from .report import write_report
from .evaluate.run import EvalConfig, run_evaluate

TRAIN_SPLIT = "mawps-asdiv-a:train"
EVAL_SPLIT = "svamp:test"


@dataclass
class DemoConfig:
    out: str = opt("runs/demo", help="directory for the data, the student, the evaluation and the report")
    model: str = opt("smollm2-135m", help="the student to fine-tune")
    train_problems: Annotated[int, Field(ge=1)] = 400
    epochs: Annotated[int, Field(ge=1)] = 2
    lr: Annotated[float, Field(gt=0)] = 2e-4  # higher than a full run's 1e-4: the demo trains for few steps
    eval_problems: Annotated[int, Field(ge=1)] = 100
    # gold completions here are at most ~125 tokens, 95% under 45
    max_new_tokens: Annotated[int, Field(ge=1)] = 96


def run_demo(cfg: DemoConfig, progress: Callable[[int, int], object] | None = None,
             say: Callable[[str], None] = print) -> Path:
    """Run the four stages; returns the report's path."""
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    clock = _Stages()
    say(f"[1/4] gold ETD data: first {cfg.train_problems} problems of {TRAIN_SPLIT}")
    run_generate(GenerateConfig(teacher="gold", splits=[TRAIN_SPLIT], limit=cfg.train_problems,
                                out=str(out / "raw.jsonl")), progress=progress)
    built = build_dataset(BuildConfig(inputs=[str(out / "raw.jsonl")], out=str(out / "etd.jsonl"),
                                      eval_splits=[EVAL_SPLIT]))
    say(f"      {built['rows']} verified rationales for {built['problems']} problems")
    clock.done("data")

    say(f"[2/4] fine-tune {cfg.model} on CoT + PoT + EoT ({cfg.epochs:g} epochs)")
    trained = train(TrainConfig(model=cfg.model, data=[str(out / "etd.jsonl")], out=str(out / "train"),
                                epochs=cfg.epochs, lr=cfg.lr, resume=True))
    say(f"      {trained.steps} steps, {trained.tokens_per_second:.0f} tokens/s, final loss {trained.final_loss}")
    clock.done("train")

    say(f"[3/4] evaluate on the first {cfg.eval_problems} problems of {EVAL_SPLIT}: each thought and the vote")
    metrics = run_evaluate(EvalConfig(model=trained.model_dir, splits=[EVAL_SPLIT], limit=cfg.eval_problems,
                                      out=str(out / "smollm2_etd_eval"), max_new_tokens=cfg.max_new_tokens), progress=progress)
    m = metrics["splits"][EVAL_SPLIT]
    say("      " + ", ".join(f"{t} {b['accuracy']:.1%}" for t, b in m["by_thought"].items())
        + f", vote {m['vote']['accuracy']:.1%}, plausible vote {m['vote_plausible']['accuracy']:.1%}"
        + f", oracle {m['oracle']['accuracy']:.1%}")
    clock.done("evaluate")

    say("[4/4] report")
    report, _ = write_report([out / "smollm2_etd_eval"], out / "report")
    clock.done("report")
    timing = {"config": asdict(cfg), "seconds": clock.seconds, "total_seconds": round(sum(clock.seconds.values()), 1),
              "cores": os.cpu_count(), "load_average_at_end": os.getloadavg(),
              "note": "a rerun that resumes finished stages times only what it redid"}
    (out / "timing.json").write_text(json.dumps(timing, indent=2))
    say(f"      stages took {', '.join(f'{k} {v:.0f} s' for k, v in clock.seconds.items())}; "
        f"total {timing['total_seconds'] / 60:.1f} min")
    return report


class _Stages:
    """Wall time of each stage since the previous one."""

    def __init__(self):
        self.seconds: dict[str, float] = {}
        self._last = time.perf_counter()

    def done(self, stage: str) -> None:
        now = time.perf_counter()
        self.seconds[stage] = round(now - self._last, 1)
        self._last = now
