"""The issue-#6 experiment: teacher, compressed teacher and student variants, trained with GTS.

For every task (a training split and an evaluation split):

 1. encode the questions with the pre-trained teacher (cached on disk, reused by the other commands);
 2. "teacher (frozen)": GTS decoder on the frozen teacher vectors;
 3. "teacher (fine-tuned)": the same decoder, training continued with the teacher's top layers
    unfrozen; its vectors are then re-encoded;
 4. "teacher-compressed-D": a fresh GTS decoder on the fine-tuned teacher's vectors compressed to D;
 5. students (embeddings + 3 layers, 256-d): for each variant (none / stage1 / stage2 / both)
    distil by MSE onto compressed teacher vectors, then train student + GTS decoder on the task;
 6. encoding speed of teacher and student (questions/s), measured in the same process.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch

from mathdistill import datasets

from .compress import make_compressor
from .distill import DistillConfig, distill
from .examples import Example, make_examples
from .gts import GTSDecoder, Vocab
from .solver import Solver, TrainConfig, encode_examples, evaluate_solver, sentences_per_second, train_solver
from .student import StudentConfig, StudentEncoder
from .teacher import count_parameters, load_teacher, train_top_layers

VARIANTS = ("none", "both", "stage1", "stage2")  # the full method early: a run cut short still has it


@dataclass
class ExperimentConfig:
    teacher: str = "all-mpnet-base-v2"
    # "TRAIN_SPEC>EVAL_SPEC", e.g. "asdiv-a:cv0-train>asdiv-a:cv0-dev", "mawps-asdiv-a:train>svamp:test"
    tasks: list[str] = field(default_factory=lambda: ["asdiv-a:cv0-train>asdiv-a:cv0-dev"])
    compressor: str = "linear"
    dim: int = 256
    gts_hidden: int = 256
    dropout: float = 0.3
    batch_size: int = 8
    lr: float = 2e-3  # GTS decoder learning rate
    teacher_epochs: int = 30  # GTS on frozen teacher vectors (cheap: vectors are cached)
    finetune_layers: int = 2  # top teacher layers trained in the fine-tuning phase
    finetune_epochs: int = 2
    finetune_lr: float = 3e-5
    compressed_epochs: int = 30
    student_epochs: int = 30
    student_lr: float = 1e-3  # student encoder learning rate during task training (all variants alike)
    stage1_epochs: int = 10
    stage2_epochs: int = 10
    distill_lr: float = 5e-3  # measured: 5e-4 moved the MSE by 5% in 3 epochs, 5e-3 by 60%
    distill_batch_size: int = 16
    variants: list[str] = field(default_factory=lambda: list(VARIANTS))
    train_limit: int | None = None  # first N training problems (tests / quick runs)
    eval_limit: int | None = None
    speed_sentences: int = 200
    threads: int = 1  # on a shared 2-core box two threads contend badly (measured ~5x slower steps)
    seed: int = 0
    cache_dir: str = "runs/encoder_kd/cache"
    out_dir: str = "results/encoder_kd"


def parse_task(task: str) -> tuple[str, str]:
    train, sep, test = task.partition(">")
    if not sep:
        raise ValueError(f"task {task!r} is not TRAIN_SPEC>EVAL_SPEC (e.g. asdiv-a:cv0-train>asdiv-a:cv0-dev)")
    return train.strip(), test.strip()


def load_task(task: str, tokenizer, train_limit: int | None = None,
              eval_limit: int | None = None) -> tuple[list[Example], list[Example], Vocab, list[str]]:
    train_spec, eval_spec = parse_task(task)
    train, skipped = make_examples(datasets.load(train_spec)[:train_limit], tokenizer)
    max_slots = max(len(e.problem.numbers) for e in train)
    vocab = Vocab.from_targets([e.prefix for e in train], max_slots)
    train, _ = make_examples([e.problem for e in train], tokenizer, vocab)
    test, skipped_test = make_examples(datasets.load(eval_spec)[:eval_limit], tokenizer, vocab)
    return train, test, vocab, skipped + skipped_test


def cached_vectors(teacher_name: str, encoder, examples: list[Example], pad_id: int, cache_dir: str,
                   log=print) -> list[torch.Tensor]:
    """Pre-trained teacher vectors per example, cached by teacher and problem id (shared by commands)."""
    path = Path(cache_dir) / f"{teacher_name.replace('/', '_')}.pt"
    cache: dict[str, torch.Tensor] = torch.load(path) if path.exists() else {}
    missing = [e for e in examples if e.problem.id not in cache]
    if missing:
        start = time.time()
        for e, v in zip(missing, encode_examples(encoder, missing, pad_id)):
            cache[e.problem.id] = v
        log(f"teacher encoded {len(missing)} questions in {time.time() - start:.0f}s")
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.save(cache, path)
    return [cache[e.problem.id] for e in examples]


def with_vectors(examples: list[Example], vectors: list[torch.Tensor]) -> list[Example]:
    return [Example(e.problem, e.input_ids, e.num_pos, e.prefix, e.target, v) for e, v in zip(examples, vectors)]


def compress_all(compressor, vectors: list[torch.Tensor]) -> list[torch.Tensor]:
    flat = torch.cat(vectors).float().numpy()
    out = torch.from_numpy(compressor.transform(flat))
    return list(out.split([len(v) for v in vectors]))


def run_task(cfg: ExperimentConfig, task: str, log=print) -> dict:
    torch.manual_seed(cfg.seed)
    tokenizer, teacher = load_teacher(cfg.teacher)
    pad = tokenizer.pad_token_id
    train, test, vocab, skipped = load_task(task, tokenizer, cfg.train_limit, cfg.eval_limit)
    log(f"{task}: {len(train)} train, {len(test)} eval examples, {len(skipped)} skipped, vocab {vocab.tokens}")

    def tc(epochs: int) -> TrainConfig:
        return TrainConfig(epochs=epochs, batch_size=cfg.batch_size, lr=cfg.lr, seed=cfg.seed)

    rows: dict[str, dict] = {}

    # speed first (an untrained student is as fast as a trained one), so even a cut-short run has it
    student_cfg = StudentConfig(vocab_size=len(tokenizer), pad_id=pad)
    speed_examples = test[: cfg.speed_sentences]
    speed = {"teacher": sentences_per_second(teacher, speed_examples, pad),
             "student": sentences_per_second(StudentEncoder(student_cfg), speed_examples, pad),
             "load_average": os.getloadavg(), "sentences": len(speed_examples)}
    log(f"speed: {speed}")

    def partial() -> dict:
        return {"task": task, "n_train": len(train), "n_eval": len(test), "skipped": skipped, "rows": rows,
                "speed": speed}

    def record(name: str, solver: Solver, seconds: float, params: int, examples: list[Example] = test) -> None:
        scores = evaluate_solver(solver, examples, pad)
        rows[name] = {**asdict(scores), "params": params, "train_seconds": round(seconds, 1)}
        log(f"{name}: equation {scores.equation_acc:.3f} answer {scores.answer_acc:.3f}")
        # a long run can be cut short by a deadline: keep every finished row on disk
        Path(cfg.out_dir).mkdir(parents=True, exist_ok=True)
        (Path(cfg.out_dir) / "main.partial.json").write_text(json.dumps(partial(), indent=1, default=float))

    pre_train = cached_vectors(cfg.teacher, teacher, train, pad, cfg.cache_dir, log)
    pre_test = cached_vectors(cfg.teacher, teacher, test, pad, cfg.cache_dir, log)

    solver = Solver(GTSDecoder(teacher.dim, vocab, cfg.gts_hidden, cfg.dropout))
    h = train_solver(solver, with_vectors(train, pre_train), tc(cfg.teacher_epochs), pad, log=log)
    record("teacher (frozen)", solver, h.seconds, count_parameters(teacher), with_vectors(test, pre_test))

    train_top_layers(teacher, cfg.finetune_layers)
    solver.encoder = teacher
    h = train_solver(solver, train, tc(cfg.finetune_epochs), pad, encoder_lr=cfg.finetune_lr, log=log)
    record("teacher (fine-tuned)", solver, h.seconds, count_parameters(teacher))
    ft_train = encode_examples(teacher, train, pad)
    ft_test = encode_examples(teacher, test, pad)

    # one compressor per teacher state: fine-tuning moves the vectors, so it is fitted again
    comp_pre = make_compressor(cfg.compressor, cfg.dim, cfg.seed).fit(torch.cat(pre_train).float().numpy())
    comp_ft = make_compressor(cfg.compressor, cfg.dim, cfg.seed).fit(torch.cat(ft_train).float().numpy())
    stage1_targets = compress_all(comp_pre, pre_train)
    stage2_targets = compress_all(comp_ft, ft_train)

    solver = Solver(GTSDecoder(cfg.dim, vocab, cfg.gts_hidden, cfg.dropout))
    h = train_solver(solver, with_vectors(train, stage2_targets), tc(cfg.compressed_epochs), pad, log=log)
    record(f"teacher-compressed-{cfg.dim} ({cfg.compressor})", solver, h.seconds, count_parameters(teacher),
           with_vectors(test, compress_all(comp_ft, ft_test)))

    student_losses: dict[str, dict[str, list[float]]] = {}
    for variant in cfg.variants:
        torch.manual_seed(cfg.seed)
        student = StudentEncoder(student_cfg)
        losses: dict[str, list[float]] = {}
        start = time.time()
        for stage, targets, epochs in (("stage1", stage1_targets, cfg.stage1_epochs),
                                       ("stage2", stage2_targets, cfg.stage2_epochs)):
            if variant in (stage, "both"):
                stage_cfg = DistillConfig(epochs, cfg.distill_batch_size, cfg.distill_lr, cfg.seed)
                losses[stage] = distill(student, train, targets, stage_cfg, pad, log=log)
        solver = Solver(GTSDecoder(student.dim, vocab, cfg.gts_hidden, cfg.dropout), student)
        train_solver(solver, train, tc(cfg.student_epochs), pad, encoder_lr=cfg.student_lr, log=log)
        record(f"student ({variant})", solver, time.time() - start, count_parameters(student))
        student_losses[variant] = losses
        if variant == "both" or "both" not in cfg.variants:  # the probe study reads this encoder
                torch.save({"config": asdict(student_cfg), "state": student.state_dict(), "variant": variant},
                       Path(cfg.cache_dir) / f"student-{task.replace('>', '_to_').replace(':', '-')}.pt")

    return {**partial(), "distill_losses": student_losses}


def run(cfg: ExperimentConfig, log=print) -> dict:
    torch.set_num_threads(cfg.threads)
    results = {"config": asdict(cfg), "tasks": [run_task(cfg, task, log) for task in cfg.tasks]}
    out = Path(cfg.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "main.json").write_text(json.dumps(results, indent=1, default=float))
    from .report import main_table, plot_main

    (out / "main.md").write_text(main_table(results))
    plot_main(results, out / "main.png")
    return results
