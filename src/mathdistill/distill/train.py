"""`mathdistill train`: fine-tune a student on an ETD set with Hugging Face Trainer.

The student sees `student_prompt(question, thought)` -- plain text, no chat template, so causal
and seq2seq students, instruct and base models all get the same input in training and in
evaluation -- and learns the completion followed by EOS. Loss is on the completion only:
causal students get label -100 on prompt tokens; seq2seq students get the prompt as encoder
input and the completion as labels.

Choosing `thoughts` turns one ETD file into CoTD ([cot]), PoTD ([pot]), EoTD ([eot]) or ETD (all).
Speed on CPU comes from bf16 autocast (CPUs with AMX / avx512_bf16), length-grouped batches
with dynamic padding, on CPU eager attention with bf16 autocast and SDPA in fp32 (each the faster
there, measured: benchmarks/train_speed.py, benchmarks/train_throughput.py) and a loss that
projects onto the vocabulary only at the completion tokens: the prompt is most of each row, and
SmolLM2's 49k-word output layer is a fifth of its compute (benchmarks/train_speed.py). Trainer handles checkpoints, `resume`, and distributed runs
(`accelerate launch -m mathdistill train ...`, see configs/accelerate/).

The trained model (LoRA adapters merged) and tokenizer are saved to `<out>/model`, with
`mathdistill_train.json` describing the run (data size, thoughts, tokens/s) for reports.
"""

from __future__ import annotations

import ctypes
import json
import logging
import os
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field

from ..config import BF16, THOUGHT, opt, validated
from ..machine import describe as describe_machine
from ..thoughts import THOUGHTS
from .rows import IGNORE, encode, load_rows, row_prompt  # noqa: F401  (IGNORE: part of this module's API)
from .student import load_tokenizer, use_bf16

logger = logging.getLogger(__name__)
META_FILE = "mathdistill_train.json"


@dataclass
class TrainConfig:
    model: str = opt("smollm2-135m", help="student: registry name, hub id or checkpoint dir")
    data: list[str] = opt(factory=lambda: ["runs/gold_etd_svamp/etd.jsonl"], help="ETD training JSONL")
    thoughts: Annotated[list[THOUGHT], Field(min_length=1)] = opt(
        factory=lambda: list(THOUGHTS), sep=",", help="cot,pot,eot: CoTD / PoTD / EoTD / ETD")
    limit: Annotated[int, Field(ge=1)] | None = opt(None, help="first N problems (all their thoughts)")
    out: str = opt("runs/train/smollm2-etd", help="run directory (checkpoints/, model/)")
    epochs: Annotated[int, Field(ge=1)] = 2
    max_steps: int = opt(-1, help="> 0 overrides epochs")
    batch_size: Annotated[int, Field(ge=1)] = 16
    grad_accum: Annotated[int, Field(ge=1)] = 1
    lr: Annotated[float, Field(gt=0)] = 1e-4
    warmup_ratio: Annotated[float, Field(ge=0, le=1)] = 0.03
    weight_decay: Annotated[float, Field(ge=0)] = 0.0
    max_len: Annotated[int, Field(ge=16)] = opt(384, help="prompt + completion tokens; longer rows are cut")
    bf16: BF16 = opt("auto", help="bf16 autocast: auto (on where the CPU/GPU runs it fast), true, false")
    group_by_length: bool = True
    # auto: on CPU eager with bf16 autocast, SDPA in fp32 (x1.09 on an AVX2-only EPYC, results/
    # train_throughput/avx2_only_fp32.md); the model's default on GPU
    attn_implementation: Literal["auto", "eager", "sdpa", "flash_attention_2"] = "auto"
    completion_logits_only: bool = True  # vocabulary logits only where the loss is (checked against the full loss)
    lora: bool = opt(False, flags="--lora/--full", help="LoRA adapters (merged on save) or full fine-tuning")
    lora_r: Annotated[int, Field(ge=1)] = 16
    lora_alpha: Annotated[int, Field(ge=1)] = 32
    lora_dropout: Annotated[float, Field(ge=0, lt=1)] = 0.05
    lora_targets: str | list[str] = "all-linear"
    save_steps: Annotated[int, Field(ge=1)] = 200
    save_total_limit: Annotated[int, Field(ge=1)] = 2
    logging_steps: Annotated[int, Field(ge=1)] = 10
    seed: int = 0
    resume: bool = opt(False, flags="--resume/--no-resume", help="continue from the last checkpoint in --out")
    # > 0: glibc serves blocks >= this from mmap, returned when freed (for jobs side by side)
    mmap_threshold_mb: Annotated[int, Field(ge=0)] = 0


@dataclass
class TrainResult:
    model_dir: str
    rows: int
    problems: int
    steps: int
    seconds: float
    tokens: int  # real (non-padding) tokens processed
    tokens_per_second: float
    final_loss: float  # last logged loss (the run's mean when it was too short to log)
    resumed_at_step: int = 0  # with --resume: the checkpoint's step; seconds and tokens/s cover this process only


def fix_mmap_threshold(mb: int) -> bool:
    """Make glibc serve blocks of >= `mb` MiB from mmap, always; returns whether it was set.

    By default glibc raises its mmap threshold (up to 32 MiB) each time a mapped block is freed. After
    a few steps the activations of variable-length batches come from the heap instead, and the heap
    keeps what a long batch needed: the resident memory of a CPU run only ratchets up (an EoTD run on
    SVAMP rows: 6.4 -> 9.8 GB; a GSM8K run with eager attention: 10 -> 20 GB, then killed). With the
    threshold fixed, memory goes back after each long batch (the GSM8K run resumed: peaks of 12-14 GB,
    about 6 GB between them). `benchmarks/train_memory.py` measures both on the same batches: on 30
    GSM8K batches the mean resident size fell from 10.3 to 5.4 GB, the peak from 14.1 to 12.8 GB, and
    training was 16% slower (page faults on every fresh block). So it is off by default: use it
    when jobs share the machine's memory, not for a single job, whose peak it barely lowers.
    Does nothing for 0, off Linux/glibc, or when MALLOC_MMAP_THRESHOLD_ is set (the user's choice wins).
    """
    if mb == 0 or "MALLOC_MMAP_THRESHOLD_" in os.environ or not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:  # not glibc (musl, ...)
        return False
    m_mmap_threshold = -3  # from malloc.h
    return bool(libc.mallopt(m_mmap_threshold, mb << 20))


def last_complete_checkpoint(checkpoints: Path) -> str | None:
    """The newest checkpoint a resume can use. Trainer writes a checkpoint in place and its
    trainer_state.json last, so a run killed while saving leaves a newer directory without it:
    skipped (it is overwritten when training reaches that step again)."""
    if not checkpoints.is_dir():
        return None
    done = [d for d in checkpoints.glob("checkpoint-*")
            if d.name.split("-")[-1].isdigit() and (d / "trainer_state.json").is_file()]
    return str(max(done, key=lambda d: int(d.name.split("-")[-1]))) if done else None


def train(cfg: TrainConfig, callbacks: list | None = None) -> TrainResult:
    """Fine-tune `cfg.model` on the chosen thoughts of `cfg.data`; returns where the model went."""
    from transformers import Trainer

    from ..models import resolve_hf
    from .trainer import Collator, RowsDataset, load_student_for_training, make_student_trainer, training_arguments

    validated(cfg)
    fix_mmap_threshold(cfg.mmap_threshold_mb)
    out = Path(cfg.out)
    model_dir = resolve_hf(cfg.model)
    rows = load_rows(cfg.data, cfg.thoughts, cfg.limit)
    tokenizer = load_tokenizer(model_dir)
    model, seq2seq = load_student_for_training(model_dir, cfg)
    items = [encode(tokenizer, row_prompt(r), r["completion"], seq2seq, cfg.max_len) for r in rows]

    checkpoints = out / "checkpoints"
    resume_from = last_complete_checkpoint(checkpoints) if cfg.resume else None
    trainer_cls = make_student_trainer if cfg.completion_logits_only else Trainer
    trainer = trainer_cls(model=model, args=training_arguments(cfg, str(checkpoints)), train_dataset=RowsDataset(items),
                          data_collator=Collator(tokenizer.pad_token_id), processing_class=tokenizer,
                          callbacks=callbacks)
    before = json.loads((Path(resume_from) / "trainer_state.json").read_text()) if resume_from else {}
    start = time.perf_counter()
    result = trainer.train(resume_from_checkpoint=resume_from)
    seconds = time.perf_counter() - start
    tokens = int(trainer.state.num_input_tokens_seen)
    new_tokens = tokens - int(before.get("num_input_tokens_seen", 0))  # the checkpoint's count carries over
    losses = [h["loss"] for h in trainer.state.log_history if "loss" in h]

    final = out / "model"
    if trainer.is_world_process_zero():
        to_save = trainer.model.merge_and_unload() if cfg.lora else trainer.model
        to_save.save_pretrained(final)
        tokenizer.save_pretrained(final)
    summary = TrainResult(
        model_dir=str(final), rows=len(rows), problems=len({r["id"] for r in rows}), steps=result.global_step,
        seconds=round(seconds, 1), tokens=tokens, tokens_per_second=round(new_tokens / seconds, 1) if seconds else 0.0,
        final_loss=round(losses[-1] if losses else result.training_loss, 4),
        resumed_at_step=int(before.get("global_step", 0)))
    if trainer.is_world_process_zero():
        meta = {"config": asdict(cfg), "base_model": model_dir, "seq2seq": seq2seq, "bf16": use_bf16(cfg.bf16),
                "rows_at_max_len": sum(len(i["input_ids"]) >= cfg.max_len for i in items), **asdict(summary),
                "machine": describe_machine(bf16=use_bf16(cfg.bf16))}
        (final / META_FILE).write_text(json.dumps(meta, indent=2))
    return summary
