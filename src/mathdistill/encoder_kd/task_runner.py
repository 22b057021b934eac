"""One task, row by row (each row written to the task file as soon as it is measured):

  1. "teacher (frozen)": a GTS decoder on the frozen teacher vectors;
  2. "teacher (fine-tuned)": the same decoder, training continued with the teacher's top layers
     unfrozen (run on the cached hidden states below them, so a step costs those layers only);
  3. "teacher-compressed-D": a fresh decoder on the fine-tuned teacher's vectors compressed to D;
  4. students (embeddings + 3 layers, 256-d), one per variant: none (from scratch), stage1 (the
     cached stage-1 student), stage2 (MSE onto the compressed fine-tuned teacher's vectors of the
     task's training questions), both (stage 1 then stage 2); then student + a fresh GTS decoder
     are trained on the task;
  5. encoding speed of teacher and student (questions/s) in the same process.

Rows already in the task file are kept; the fine-tuned teacher is rebuilt only when a missing row
needs it (its own, the compressed teacher's, or a student distilled in stage 2).
"""

from __future__ import annotations

import os
import time
from dataclasses import asdict
from pathlib import Path

import torch

from .compress import compress_all, fit_on_tokens
from .examples import Example, with_vectors
from .gts import GTSDecoder
from .kd_stages import DistillConfig, distill
from .prepared import Prepared
from .student_encoder import StudentEncoder
from .task_files import load_task_file, rows_digest, write_final, write_partial
from .tasks import task_slug
from .teacher import TopLayers, count_parameters
from .tree_solver import (
    Solver,
    TrainConfig,
    encode_examples,
    evaluate_solver,
    sentences_per_second,
    train_solver,
)


def run_task(prep: Prepared, task_name: str, variants: list[str], log=print) -> dict:
    """Every missing row of ``task_name`` for ``variants``; returns the finished task file's content."""
    cfg, pad, teacher = prep.cfg, prep.pad, prep.teacher
    task = prep.tasks[task_name]
    train, test = task.train, task.test
    log(f"{task_name}: {len(train)} train, {len(test)} eval examples ({task.eval_dropped} eval problems the "
        f"decoder cannot represent count as misses), {len(task.skipped)} notes, vocab {task.vocab.tokens}")
    torch.manual_seed(cfg.seed)
    top = TopLayers(teacher, cfg.finetune_layers)
    top.load_state_dict(prep.top_snapshot)  # every task fine-tunes from the pre-trained teacher

    def tc(epochs: int) -> TrainConfig:
        return TrainConfig(epochs=epochs, batch_size=cfg.batch_size, lr=cfg.lr, seed=cfg.seed)

    def fit_compressor(vectors: list[torch.Tensor]):
        return fit_on_tokens(cfg.compressor, cfg.dim, vectors, cfg.fit_tokens, cfg.seed)

    out = Path(cfg.out_dir) / "tasks"
    out.mkdir(parents=True, exist_ok=True)
    digest = rows_digest(cfg)
    earlier = load_task_file(out, task_name, digest)
    rows: dict[str, dict] = dict(earlier.get("rows", {}))
    losses: dict[str, dict[str, list[float]]] = dict(earlier.get("distill_losses", {}))
    rebuilt: dict[str, dict] = dict(earlier.get("rebuilt", {}))  # teachers retrained for stage 2: new scores
    if rows:
        log(f"{task_name}: resuming, {len(rows)} rows done earlier ({', '.join(rows)})")
    speed = earlier.get("speed")
    if speed is None:
        speed_examples = test[: cfg.speed_sentences]
        speed = {"teacher": sentences_per_second(teacher, speed_examples, pad),
                 "student": sentences_per_second(StudentEncoder(prep.student_cfg), speed_examples, pad),
                 "load_average": os.getloadavg(), "sentences": len(speed_examples), "threads": torch.get_num_threads()}
        log(f"speed: {speed}")

    def result(done: bool) -> dict:
        return {"task": task_name, "n_train": len(train), "n_eval": len(test) + task.eval_dropped,
                "eval_dropped": task.eval_dropped, "skipped": task.skipped, "rows": rows, "speed": speed,
                "distill_losses": losses, "rebuilt": rebuilt, "rows_digest": digest, "complete": done}

    compressed_row = f"teacher-compressed-{cfg.dim} ({cfg.compressor})"
    missing_variants = [v for v in variants if f"student ({v})" not in rows]
    # the fine-tuned teacher is rebuilt when a row it feeds is missing (its own, the compressed
    # teacher's, or a student distilled in stage 2); rows already measured are kept, not re-recorded
    need_teacher = ("teacher (frozen)" not in rows or "teacher (fine-tuned)" not in rows
                    or compressed_row not in rows or any(v in ("stage2", "both") for v in missing_variants))

    def record(name: str, solver: Solver, seconds: float, params: int, examples: list[Example]) -> None:
        scores = evaluate_solver(solver, examples, pad, extra_misses=task.eval_dropped)
        if name in rows:  # a teacher retrained for stage 2: its row stays, its new score is kept beside it
            rebuilt[name] = asdict(scores)
            log(f"{task_name} {name} (retrained for stage 2): answer {scores.answer_acc:.3f}, "
                f"kept row {rows[name]['answer_acc']:.3f}")
            return
        rows[name] = {**asdict(scores), "params": params, "train_seconds": round(seconds, 1)}
        log(f"{task_name} {name}: equation {scores.equation_acc:.3f} answer {scores.answer_acc:.3f}")
        write_partial(out, task_name, result(False))

    stage2_targets = None
    if need_teacher:
        pre_train, pre_test = prep.cache.vectors(train), prep.cache.vectors(test)
        base_train, base_test = prep.cache.vectors(train, "base"), prep.cache.vectors(test, "base")

        torch.manual_seed(cfg.seed)  # the same initialisation whether the task is new or resumed
        solver = Solver(GTSDecoder(teacher.dim, task.vocab, cfg.gts_hidden, cfg.dropout))
        h = train_solver(solver, with_vectors(train, pre_train), tc(cfg.teacher_epochs), pad, log=log)
        record("teacher (frozen)", solver, h.seconds, count_parameters(teacher), with_vectors(test, pre_test))

        solver.encoder, solver.bf16 = top, cfg.bf16  # the decoder continues, now with the top layers learning too
        h2 = train_solver(solver, with_vectors(train, base_train), tc(cfg.finetune_epochs), pad,
                          encoder_lr=cfg.finetune_lr, log=log)
        record("teacher (fine-tuned)", solver, h.seconds + h2.seconds, count_parameters(teacher),
               with_vectors(test, base_test))
        ft_train = encode_examples(top, with_vectors(train, base_train), pad, bf16=cfg.bf16)

        comp = fit_compressor(ft_train)  # fine-tuning moved the vectors: fitted on the fine-tuned ones
        stage2_targets = compress_all(comp, ft_train)
        if compressed_row not in rows:
            ft_test = encode_examples(top, with_vectors(test, base_test), pad, bf16=cfg.bf16)
            solver = Solver(GTSDecoder(cfg.dim, task.vocab, cfg.gts_hidden, cfg.dropout))
            h = train_solver(solver, with_vectors(train, stage2_targets), tc(cfg.compressed_epochs), pad, log=log)
            record(compressed_row, solver, h.seconds, count_parameters(teacher),
                   with_vectors(test, compress_all(comp, ft_test)))

    for variant in missing_variants:
        torch.manual_seed(cfg.seed)
        student = StudentEncoder(prep.student_cfg)
        losses[variant] = {}
        start = time.time()
        if variant in ("stage1", "both"):
            student.load_state_dict(prep.stage1().state)
        if variant in ("stage2", "both"):
            losses[variant]["stage2"] = distill(student, train, stage2_targets, DistillConfig(
                cfg.stage2_epochs, cfg.distill_batch_size, cfg.distill_lr, cfg.seed, cfg.bf16), pad, log=log)
        solver = Solver(GTSDecoder(student.dim, task.vocab, cfg.gts_hidden, cfg.dropout), student, cfg.bf16)
        lr = cfg.student_lr if variant == "none" or cfg.distilled_student_lr is None else cfg.distilled_student_lr
        h = train_solver(solver, train, tc(cfg.student_epochs), pad, encoder_lr=lr, log=log)
        losses[variant]["task"] = h.losses
        record(f"student ({variant})", solver, time.time() - start, count_parameters(student), test)
        if variant == "both" or "both" not in variants:  # the probe study reads this encoder
            torch.save({"config": asdict(prep.student_cfg), "state": student.state_dict(), "variant": variant},
                       Path(cfg.cache_dir) / f"student-{task_slug(task_name)}.pt")

    stage1_losses = prep.stage1().losses if any(v in ("stage1", "both") for v in variants) else []
    final = {**result(True), "stage1_losses": stage1_losses}
    write_final(out, task_name, final)
    return final
