"""The encoder-distillation experiment's config: every field of `mathdistill encoder-kd run/prepare/
aggregate` (a YAML section `run`, `--set key=value`). A module of its own, so the rooms that read it
(prepared, stage1_student, task_files) need not import the experiment that runs them."""

from __future__ import annotations

from dataclasses import dataclass, field

from mathdistill import datasets

from .tasks import VARIANTS, parse_task

STAGE1_GUARDS = ("near", "exact")  # how stage-1 questions are matched against evaluation questions


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


def task_variants(cfg: ExperimentConfig, task: str) -> list[str]:
    """The student variants ``task`` runs, in the order of ``VARIANTS``."""
    extra = cfg.ablation_variants if task in cfg.ablation_tasks else []
    return [v for v in VARIANTS if v in cfg.variants or v in extra]


def my_tasks(cfg: ExperimentConfig) -> list[str]:
    """This shard's tasks: longest-processing-time-first over (training problems x models trained),
    so shards finish at about the same time; every shard computes the same assignment."""
    i, n = (int(x) for x in cfg.shard.split("/"))
    cost = {}
    for task in cfg.tasks:
        cost[task] = len(datasets.load(parse_task(task)[0])[: cfg.train_limit]) * (3 + len(task_variants(cfg, task)))
    loads, mine = [0] * n, []
    for task in sorted(cfg.tasks, key=lambda t: (-cost[t], cfg.tasks.index(t))):
        shard = loads.index(min(loads))
        loads[shard] += cost[task]
        if shard == i:
            mine.append(task)
    return mine
