"""The issue-#6 experiment: its config and the two entry points, ``run`` and ``aggregate``.

    prepare  encode every question once with the pre-trained teacher (the hidden states entering its
             top ``finetune_layers`` layers and its last hidden states), cached on disk in parts so a
             killed job resumes; train the stage-1 student once over the stage-1 corpus (questions
             of English training sets that duplicate no evaluation question), also cached
             (prepared.py, teacher_cache.py, stage1_student.py).
    run      per task (TRAIN_SPEC>EVAL_SPEC; one JSON file each under ``out_dir/tasks``, written after
             every row, so a rerun skips finished rows and tasks, adding variants to a finished task
             costs only them (and the teacher fine-tuning stage 2 reads), and ``shard: i/n`` splits the
             tasks between processes): see task_runner.py.
    aggregate  ``main.{json,md,png}`` from every task file (summary.py draws them).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from mathdistill.config import ConfigError

from .prepared import Prepared
from .stage1_student import STAGE1_GUARDS
from .task_files import load_task_file, rows_digest, task_file, task_lock
from .task_runner import run_task
from .tasks import VARIANTS, my_tasks, parse_task, task_variants


@dataclass
class ExperimentConfig:
    teacher: str = "all-mpnet-base-v2"
    # "TRAIN_SPEC>EVAL_SPEC", e.g. "asdiv-a:cv0-train>asdiv-a:cv0-dev", "mawps-asdiv-a:train>svamp:test"
    tasks: list[str] = field(default_factory=lambda: ["asdiv-a:cv0-train>asdiv-a:cv0-dev"])
    compressor: str = "linear"
    dim: int = 256
    fit_tokens: int = 30000  # token vectors each compressor is fitted on
    gts_hidden: int = 256
    dropout: float = 0.3
    batch_size: int = 32
    lr: float = 1e-3  # GTS decoder learning rate (cosine schedule)
    min_constant_count: int = 5  # constants used by fewer training equations are left out of the vocabulary
    teacher_epochs: int = 30  # GTS on frozen teacher vectors
    finetune_layers: int = 2  # top teacher layers trained in the fine-tuning phase
    finetune_epochs: int = 3
    finetune_lr: float = 3e-5
    compressed_epochs: int = 30
    student_epochs: int = 30
    student_lr: float = 5e-4  # student encoder learning rate during task training (all variants alike)
    # ... unless this is set: the rate for distilled students (stage1 / stage2 / both), which then move
    # slowly, like the pre-trained teacher in its fine-tuning, and keep more of what they were taught
    distilled_student_lr: float | None = None
    # stage 1: questions only (no labels), guarded against every evaluation split of `tasks`
    stage1_corpus: list[str] = field(default_factory=lambda: ["gsm8k:train", "asdiv:test", "multiarith:test"])
    stage1_limit: int | None = None
    # which stage-1 questions count as duplicates of an evaluation question (stage1_student.py):
    # "near" = datasets.text.ContaminationGuard (same text after number normalisation, or a near
    # duplicate); "exact" = the first runs' rule (same letters and digits), what results/encoder_kd*
    # were measured with. Not part of the rows digest (task_files.py); the stage-1 student's is.
    stage1_guard: str = "near"
    stage1_epochs: int = 10
    stage2_epochs: int = 20
    distill_lr: float = 1e-3
    distill_batch_size: int = 32
    variants: list[str] = field(default_factory=lambda: ["none", "both"])
    ablation_tasks: list[str] = field(default_factory=list)  # tasks that also run `ablation_variants`
    ablation_variants: list[str] = field(default_factory=lambda: ["stage1", "stage2"])
    train_limit: int | None = None  # first N training problems (tests / quick runs)
    eval_limit: int | None = None
    speed_sentences: int = 200
    threads: int = 1
    bf16: bool = False  # encoders (student, teacher top layers) under bf16 autocast when training / re-encoding
    shard: str = "0/1"  # "i/n": this process runs its share of the tasks (aggregate sees them all)
    # run just these of `tasks` (e.g. to re-balance a run by hand); `tasks` as a whole still decides
    # the stage-1 corpus guard, so the cached stage-1 student stays the same
    only: list[str] = field(default_factory=list)
    seed: int = 0
    cache_dir: str = "runs/encoder_kd/cache"
    out_dir: str = "results/encoder_kd"

    def __post_init__(self) -> None:
        for v in [*self.variants, *self.ablation_variants]:
            if v not in VARIANTS:
                raise ValueError(f"unknown student variant {v!r}; choose from {', '.join(VARIANTS)}")
        for task in [*self.tasks, *self.ablation_tasks]:
            parse_task(task)
        if unknown := [t for t in self.only if t not in self.tasks]:
            raise ValueError(f"only: {', '.join(unknown)} not among the configured tasks")
        i, _, n = self.shard.partition("/")
        if not (i.isdigit() and n.isdigit() and int(i) < int(n)):
            raise ValueError(f"shard {self.shard!r} is not i/n with 0 <= i < n")
        if self.stage1_guard not in STAGE1_GUARDS:
            raise ValueError(f"unknown stage1_guard {self.stage1_guard!r}; choose from {', '.join(STAGE1_GUARDS)}")


def run(cfg: ExperimentConfig, log=print) -> dict:
    """This process's tasks (``only``, else its shard's), each skipped when finished or being trained
    by another process; then ``aggregate``."""
    prep = Prepared(cfg, log)
    out, digest = Path(cfg.out_dir) / "tasks", rows_digest(cfg)
    for task in (cfg.only or my_tasks(cfg)):
        with task_lock(cfg, task) as mine:
            if not mine:  # two processes given overlapping `only` lists never train the same task twice
                log(f"{task}: running in another process, skipped")
                continue
            variants = task_variants(cfg, task)
            earlier = load_task_file(out, task, digest)
            if earlier.get("complete") and all(f"student ({v})" in earlier["rows"] for v in variants):
                log(f"{task}: finished earlier, skipped (delete its file under {out} to rerun)")
                continue
            run_task(prep, task, variants, log)
    return aggregate(cfg)


def aggregate(cfg: ExperimentConfig) -> dict:
    """main.{json,md,png} from the task files of ``cfg.tasks``: finished ones, and the rows so far of
    unfinished ones (marked ``complete: false``); tasks with no row yet are listed as missing."""
    from .summary import main_table, plot_main

    out = Path(cfg.out_dir)
    if not out.is_dir():
        raise ConfigError(f"out_dir {out} does not exist: nothing has run there yet (run `mathdistill encoder-kd "
                          f"run` first, or set out_dir to the directory of a run)")
    done, missing = [], []
    for task in cfg.tasks:
        path = task_file(out / "tasks", task)
        if path is None:
            missing.append(task)
        else:
            done.append(json.loads(path.read_text()))
    results = {"config": asdict(cfg), "tasks": done, "missing_tasks": missing,
               "unfinished_tasks": [t["task"] for t in done if not t.get("complete", True)]}
    (out / "main.json").write_text(json.dumps(results, indent=1, default=float))
    if done:
        (out / "main.md").write_text(main_table(results))
        plot_main(results, out / "main.png")
    return results
