"""What every task of a run shares (the `prepare` step): tokenizer and teacher, each task's examples,
the teacher states of all their questions (cached on disk), and the stage-1 student (on first use)."""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING

import torch

from .stage1_student import Stage1Student, load_or_train_stage1
from .student_encoder import StudentConfig
from .tasks import load_task
from .teacher import TopLayers, load_teacher
from .teacher_cache import TeacherCache

if TYPE_CHECKING:
    from .experiment_config import ExperimentConfig


class Prepared:
    """Tokenizer, teacher, the tasks' examples, the teacher cache and the stage-1 student of a run."""

    def __init__(self, cfg: ExperimentConfig, log=print) -> None:
        torch.set_num_threads(cfg.threads)
        self.cfg = cfg
        self.tokenizer, self.teacher = load_teacher(cfg.teacher)
        self.pad = self.tokenizer.pad_token_id
        # every task fine-tunes the teacher's top layers from these pre-trained weights
        self.top_snapshot = copy.deepcopy(TopLayers(self.teacher, cfg.finetune_layers).state_dict())
        self.tasks = {t: load_task(t, self.tokenizer, cfg.train_limit, cfg.eval_limit, cfg.min_constant_count)
                      for t in cfg.tasks}
        self.cache = TeacherCache(cfg.teacher, self.teacher, self.pad, cfg.cache_dir, cfg.finetune_layers, log=log)
        for task in self.tasks.values():
            self.cache.ensure(task.train + task.test, with_base=True)
        self.student_cfg = StudentConfig(vocab_size=len(self.tokenizer), pad_id=self.pad)
        self.log = log
        self._stage1: Stage1Student | None = None

    @property
    def needs_stage1(self) -> bool:
        return any(v in ("stage1", "both") for v in [*self.cfg.variants, *self.cfg.ablation_variants])

    def stage1(self) -> Stage1Student:
        """The stage-1 student (weights, loss curve, corpus counts): trained on first use, cached on
        disk, and shared between shards (the first to need it trains it; the others wait and load it)."""
        if self._stage1 is None:
            self._stage1 = load_or_train_stage1(self.cfg, self.tokenizer, list(self.tasks.values()), self.cache,
                                                self.student_cfg, self.pad, self.log)
        return self._stage1
