"""Stage 1: its corpus of label-free questions, and the stage-1 student, trained once and cached.

The corpus is the questions of ``stage1_corpus`` (English training sets) minus every question that
duplicates one of an evaluation split of the run's tasks (``ExperimentConfig.stage1_guard``):

    near   (default) the project's ``ContaminationGuard``: the same text once numbers are written one
           way ("$3.00" = "$ 3" = "3") and punctuation dropped, or a near duplicate (the same numbers
           and word Jaccard >= 0.9), against every problem of every task's evaluation split;
    exact  the rule the committed results (results/encoder_kd*) were measured with: the same
           lower-case letters and digits ("$3.00" and "$ 3" differ), against the evaluation examples.

On disk, in ``cache_dir``:

    stage1-<digest>.pt    the student's weights, its loss curve, the spec the digest is taken of, and
                          the corpus counts (questions kept, questions dropped per reason)
    stage1-<digest>.json  the same without the weights, to read
    .lock-stage1          held (``filelock.FileLock``) while a process builds or loads the student:
                          the first shard to need it trains it, the others wait and load it
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import torch
from filelock import FileLock

from mathdistill import datasets
from mathdistill.datasets.text import ContaminationGuard

from .compress import compress_all, fit_on_tokens
from .examples import Example, with_vectors
from .kd_stages import DistillConfig, distill
from .student_encoder import StudentConfig, StudentEncoder
from .tasks import Task, parse_task
from .teacher_cache import TeacherCache

if TYPE_CHECKING:
    from .experiment_config import ExperimentConfig



@dataclass
class Stage1Corpus:
    examples: list[Example]
    guarded: int  # distinct evaluation questions (normalised) the corpus was checked against
    dropped: dict[str, int] = field(default_factory=dict)  # reason ("same text", "near duplicate") -> questions

    def summary(self) -> dict:
        return {"questions": len(self.examples), "guarded": self.guarded, "dropped": dict(self.dropped)}


@dataclass
class Stage1Student:
    state: dict  # the student's state_dict
    losses: list[float]  # mean MSE of every stage-1 epoch
    corpus: dict  # Stage1Corpus.summary() ({} for a student cached before the counts were recorded)


def _letters_and_digits(text: str) -> str:
    """The comparison of the rule "exact" (the normaliser of the first runs, kept to reproduce them)."""
    return re.sub(r"[^a-z0-9\u4e00-\u9fff]+", " ", text.lower()).strip()


def stage1_corpus(cfg: ExperimentConfig, tokenizer, tasks: list[Task]) -> Stage1Corpus:
    """The stage-1 corpus as label-free examples, minus any question of an evaluation split of ``tasks``
    (under the rule ``cfg.stage1_guard``); counts of what was left out, per reason, over the whole corpus."""
    candidates = [p for spec in cfg.stage1_corpus for p in datasets.load(spec)]
    kept, dropped = [], Counter()
    if cfg.stage1_guard == "exact":
        seen = {_letters_and_digits(e.problem.question) for t in tasks for e in t.test}
        guarded = len(seen)
        for p in candidates:
            if _letters_and_digits(p.question) in seen:
                dropped["same text"] += 1
            else:
                kept.append(p)
    else:
        eval_specs = sorted({parse_task(t.name)[1] for t in tasks})
        guard = ContaminationGuard(p for spec in eval_specs for p in datasets.load(spec))
        guarded = len(guard)
        for p in candidates:
            # no own id: a corpus problem that *is* an evaluation problem must go too
            hit = guard.match(p.question)
            if hit is None:
                kept.append(p)
            else:
                dropped["same text" if hit.how == "same text" else "near duplicate"] += 1
    examples = []
    for p in kept[: cfg.stage1_limit]:
        ids = tokenizer(p.question, truncation=True, max_length=160)["input_ids"]
        examples.append(Example(p, ids, [], [], []))
    return Stage1Corpus(examples, guarded, dict(dropped))


def stage1_spec(cfg: ExperimentConfig) -> dict:
    """What the stage-1 student depends on (its cache file is named by a digest of this)."""
    spec = {k: getattr(cfg, k) for k in ("teacher", "stage1_corpus", "stage1_limit", "stage1_epochs", "distill_lr",
                                         "distill_batch_size", "compressor", "dim", "fit_tokens", "seed", "bf16")}
    spec["guard"] = sorted(parse_task(t)[1] for t in cfg.tasks)
    if cfg.stage1_guard != "exact":  # "exact" students keep the file names they were cached under
        spec["guard_rule"] = cfg.stage1_guard
    return spec


def stage1_path(cfg: ExperimentConfig) -> Path:
    digest = hashlib.sha1(json.dumps(stage1_spec(cfg), sort_keys=True).encode()).hexdigest()[:10]
    return Path(cfg.cache_dir) / f"stage1-{digest}.pt"


def load_or_train_stage1(cfg: ExperimentConfig, tokenizer, tasks: list[Task], cache: TeacherCache,
                         student_cfg: StudentConfig, pad_id: int, log=print) -> Stage1Student:
    """The cached stage-1 student, or a new one: MSE onto the pre-trained teacher's compressed vectors
    of the stage-1 corpus, saved for every later run and shard."""
    path = stage1_path(cfg)
    path.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(path.parent / ".lock-stage1"):
        if path.exists():
            saved = torch.load(path)
            log(f"stage 1: cached student {path}")
            return Stage1Student(saved["state"], saved["losses"], saved.get("corpus", {}))
        corpus = stage1_corpus(cfg, tokenizer, tasks)
        log(f"stage 1: {len(corpus.examples)} questions of {', '.join(cfg.stage1_corpus)} (left out, as "
            f"duplicates of {corpus.guarded} evaluation questions under the rule {cfg.stage1_guard!r}: "
            f"{corpus.dropped or 'none'})")
        cache.ensure(corpus.examples, with_base=False)
        pre = cache.vectors(corpus.examples)
        targets = compress_all(fit_on_tokens(cfg.compressor, cfg.dim, pre, cfg.fit_tokens, cfg.seed), pre)
        torch.manual_seed(cfg.seed)
        student = StudentEncoder(student_cfg)
        losses = distill(student, with_vectors(corpus.examples, pre), targets,
                         DistillConfig(cfg.stage1_epochs, cfg.distill_batch_size, cfg.distill_lr, cfg.seed, cfg.bf16),
                         pad_id, log=log)
        meta = {"losses": losses, "spec": stage1_spec(cfg), "n": len(corpus.examples), "corpus": corpus.summary()}
        torch.save({"state": student.state_dict(), **meta}, path)
        path.with_suffix(".json").write_text(json.dumps(meta, indent=1))
        return Stage1Student(student.state_dict(), losses, corpus.summary())
