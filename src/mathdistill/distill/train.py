"""`mathdistill train`: fine-tune a student on an ETD set with Hugging Face Trainer.

The student sees `student_prompt(question, thought)` -- plain text, no chat template, so causal
and seq2seq students, instruct and base models all get the same input in training and in
evaluation -- and learns the completion followed by EOS. Loss is on the completion only:
causal students get label -100 on prompt tokens; seq2seq students get the prompt as encoder
input and the completion as labels.

Choosing `thoughts` turns one ETD file into CoTD ([cot]), PoTD ([pot]), EoTD ([eot]) or ETD (all).
Speed on CPU comes from bf16 autocast (CPUs with AMX / avx512_bf16), length-grouped batches
with dynamic padding, eager attention (faster than SDPA for these short rows on CPU, measured)
and a loss that projects onto the vocabulary only at the completion tokens: the prompt is most
of each row, and SmolLM2's 49k-word output layer is a fifth of its compute (benchmarks/
train_speed.py). Trainer handles checkpoints, `resume`, and distributed runs
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
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

from ..jsonl import RecordError, iter_jsonl_tolerant
from ..thoughts import THOUGHTS, student_prompt
from .student import is_seq2seq, load_tokenizer, use_bf16

logger = logging.getLogger(__name__)
IGNORE = -100  # label value the loss skips
META_FILE = "mathdistill_train.json"


@dataclass
class TrainConfig:
    model: str = "smollm2-135m"  # registry name, hub id or local checkpoint dir
    data: list[str] = field(default_factory=lambda: ["runs/gold_etd_svamp/etd.jsonl"])
    thoughts: list[str] = field(default_factory=lambda: list(THOUGHTS))
    limit: int | None = None  # first N problems (all their thoughts): data-scale experiments
    out: str = "runs/train/smollm2-etd"
    epochs: float = 2.0
    max_steps: int = -1  # > 0 overrides epochs
    batch_size: int = 16
    grad_accum: int = 1
    lr: float = 1e-4
    warmup_ratio: float = 0.03
    weight_decay: float = 0.0
    max_len: int = 384  # prompt + completion tokens; longer rows are cut (rows_at_max_len in the meta)
    bf16: str | bool = "auto"  # auto: on when the hardware runs bf16 fast
    group_by_length: bool = True
    attn_implementation: str = "auto"  # auto: eager on CPU (faster for short rows), the model's default on GPU
    completion_logits_only: bool = True  # vocabulary logits only where the loss is (checked against the full loss)
    lora: bool = False
    lora_r: int = 16
    lora_alpha: int = 32
    lora_dropout: float = 0.05
    lora_targets: str | list[str] = "all-linear"
    save_steps: int = 200
    save_total_limit: int = 2
    logging_steps: int = 10
    seed: int = 0
    resume: bool = False
    mmap_threshold_mb: int = 0  # > 0: glibc serves blocks >= this from mmap, returned when freed (for jobs side by side)

    def validate(self) -> None:
        bad = [t for t in self.thoughts if t not in THOUGHTS]
        if bad or not self.thoughts:
            raise ValueError(f"thoughts must be a non-empty subset of {', '.join(THOUGHTS)}; got {self.thoughts}")
        if str(self.bf16).lower() not in ("auto", "true", "false"):
            raise ValueError(f"bf16 must be auto, true or false; got {self.bf16!r}")
        if self.batch_size < 1 or self.grad_accum < 1:
            raise ValueError("batch_size and grad_accum must be >= 1")
        if self.mmap_threshold_mb < 0:
            raise ValueError(f"mmap_threshold_mb must be >= 0; got {self.mmap_threshold_mb}")


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


def load_rows(paths: list[str], thoughts: list[str], limit: int | None = None) -> list[dict]:
    """ETD rows of the chosen thoughts; `limit` keeps the first N problems in file order."""
    rows: list[dict] = []
    for path in map(Path, paths):
        if not path.exists():
            raise RecordError(f"{path}: no such file (build it with `mathdistill build-dataset`)")
        for i, row in enumerate(iter_jsonl_tolerant(path)):
            missing = [k for k in ("id", "thought", "question", "completion") if k not in row]
            if missing:
                raise RecordError(f"{path}: record {i + 1} lacks {', '.join(missing)}")
            if row["thought"] in thoughts:
                rows.append(row)
    if limit:
        keep: set[str] = set()
        for r in rows:
            if len(keep) < limit:
                keep.add(r["id"])
        rows = [r for r in rows if r["id"] in keep]
    if not rows:
        raise RecordError(f"no training rows for thoughts {thoughts} in {', '.join(paths)}")
    return rows


def encode(tokenizer, question: str, thought: str, completion: str, seq2seq: bool, max_len: int) -> dict:
    """Token ids and labels of one row. Prompt tokens never carry loss."""
    prompt = tokenizer(student_prompt(question, thought)).input_ids
    target = tokenizer(completion, add_special_tokens=False).input_ids + [tokenizer.eos_token_id]
    if seq2seq:
        return {"input_ids": prompt[:max_len], "labels": target[:max_len]}
    ids = (prompt + target)[:max_len]
    labels = ([IGNORE] * len(prompt) + target)[:max_len]
    return {"input_ids": ids, "labels": labels}


class Collator:
    """Pads a batch to its longest row (right side; labels with -100, so pad == EOS is safe)."""

    def __init__(self, pad_id: int):
        self.pad_id = pad_id

    def __call__(self, features: list[dict]) -> dict[str, torch.Tensor]:
        n_in = max(len(f["input_ids"]) for f in features)
        n_lab = max(len(f["labels"]) for f in features)
        ids = torch.full((len(features), n_in), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(features), n_in), dtype=torch.long)
        labels = torch.full((len(features), n_lab), IGNORE, dtype=torch.long)
        for i, f in enumerate(features):
            ids[i, : len(f["input_ids"])] = torch.tensor(f["input_ids"])
            mask[i, : len(f["input_ids"])] = 1
            labels[i, : len(f["labels"])] = torch.tensor(f["labels"])
        return {"input_ids": ids, "attention_mask": mask, "labels": labels}


class RowsDataset(torch.utils.data.Dataset):
    def __init__(self, items: list[dict]):
        self.items = items

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> dict:
        return self.items[i]


def load_student_for_training(model_dir: str, cfg: TrainConfig):
    from transformers import AutoModelForCausalLM, AutoModelForSeq2SeqLM

    seq2seq = is_seq2seq(model_dir)
    cls = AutoModelForSeq2SeqLM if seq2seq else AutoModelForCausalLM
    attn = cfg.attn_implementation
    if attn == "auto":
        attn = "eager" if not torch.cuda.is_available() else None
    kwargs = {"attn_implementation": attn} if attn else {}
    model = cls.from_pretrained(model_dir, dtype=torch.float32, **kwargs)  # fp32 master weights; bf16 via autocast
    if cfg.lora:
        from peft import LoraConfig, TaskType, get_peft_model

        model = get_peft_model(model, LoraConfig(
            task_type=TaskType.SEQ_2_SEQ_LM if seq2seq else TaskType.CAUSAL_LM, r=cfg.lora_r,
            lora_alpha=cfg.lora_alpha, lora_dropout=cfg.lora_dropout, target_modules=cfg.lora_targets))
    return model, seq2seq


def _completion_loss(decoder, head, inputs: dict, num_items_in_batch) -> torch.Tensor:
    """Causal-LM loss with vocabulary logits computed only at positions that carry a label."""
    hidden = decoder(input_ids=inputs["input_ids"], attention_mask=inputs["attention_mask"]).last_hidden_state
    target = inputs["labels"][:, 1:]
    keep = target != IGNORE
    logits = head(hidden[:, :-1][keep]).float()
    loss = torch.nn.functional.cross_entropy(logits, target[keep], reduction="sum")
    if num_items_in_batch is None:
        return loss / keep.sum().clamp(min=1)
    return loss / torch.as_tensor(num_items_in_batch, device=loss.device)


def make_student_trainer(**kwargs):
    """A Trainer whose causal loss skips vocabulary logits at prompt positions (`completion_logits_only`).

    The shortcut calls the model's decoder and output layer directly, so it is used only for an
    unwrapped causal model (one process: no DDP / DeepSpeed wrapper, whose hooks a direct call would
    bypass). On the first batch it is checked against the model's own loss; a model whose logits are
    more than `head(hidden)` (soft-capping, scaling) fails the check and trains on the standard loss.
    """
    from transformers import Trainer

    class _StudentTrainer(Trainer):
        fast_loss: bool | None = None  # None: not checked yet

        def _fast_parts(self, model):
            if self.fast_loss is False or self.accelerator.unwrap_model(model) is not model:
                return None
            base = model.get_base_model() if hasattr(model, "get_base_model") else model
            if getattr(base.config, "is_encoder_decoder", False):
                return None
            try:
                decoder, head = base.get_decoder(), base.get_output_embeddings()
            except (AttributeError, NotImplementedError, ValueError):
                return None
            if decoder is None or head is None or decoder is base:
                return None
            return decoder, head

        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            parts = None if return_outputs else self._fast_parts(model)
            if parts is None:
                return super().compute_loss(model, inputs, return_outputs, num_items_in_batch)
            if self.fast_loss is None:  # first batch: the shortcut must agree with the model's own loss
                self.fast_loss = self._agrees(model, parts, inputs, num_items_in_batch)
                if not self.fast_loss:
                    logger.warning("completion-only logits disagree with %s's own loss; using the standard loss",
                                   type(model).__name__)
                    return super().compute_loss(model, inputs, return_outputs, num_items_in_batch)
            with self.accelerator.autocast():  # accelerate autocasts model.forward only; the shortcut bypasses it
                return _completion_loss(*parts, inputs, num_items_in_batch)

        def _agrees(self, model, parts, inputs, num_items_in_batch) -> bool:
            was_training = model.training
            model.eval()  # no dropout: both losses see the same network
            try:
                with torch.no_grad(), self.accelerator.autocast():
                    fast = _completion_loss(*parts, inputs, num_items_in_batch)
                    reference = super().compute_loss(model, dict(inputs), False, num_items_in_batch)
            finally:
                model.train(was_training)
            return bool(torch.allclose(fast.float(), reference.float(), rtol=1e-2, atol=1e-3))

    return _StudentTrainer(**kwargs)


def training_arguments(cfg: TrainConfig, output_dir: str, **overrides: Any):
    """Trainer arguments of a run; `overrides` replace any of them (benchmarks turn saving off)."""
    from transformers import TrainingArguments

    args = {
        "output_dir": output_dir, "num_train_epochs": cfg.epochs, "max_steps": cfg.max_steps,
        "per_device_train_batch_size": cfg.batch_size, "gradient_accumulation_steps": cfg.grad_accum,
        "learning_rate": cfg.lr, "warmup_steps": cfg.warmup_ratio, "weight_decay": cfg.weight_decay,
        "lr_scheduler_type": "cosine", "bf16": use_bf16(cfg.bf16), "use_cpu": not torch.cuda.is_available(),
        "train_sampling_strategy": "group_by_length" if cfg.group_by_length else "random",
        "save_strategy": "steps", "save_steps": cfg.save_steps, "save_total_limit": cfg.save_total_limit,
        "logging_steps": cfg.logging_steps, "seed": cfg.seed, "report_to": "none", "remove_unused_columns": False,
        "include_num_input_tokens_seen": "non_padding", "dataloader_num_workers": 0}
    return TrainingArguments(**{**args, **overrides})


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


def train(cfg: TrainConfig, callbacks: list | None = None) -> TrainResult:
    """Fine-tune `cfg.model` on the chosen thoughts of `cfg.data`; returns where the model went."""
    from transformers import Trainer
    from transformers.trainer_utils import get_last_checkpoint

    from ..models import resolve_hf

    cfg.validate()
    fix_mmap_threshold(cfg.mmap_threshold_mb)
    out = Path(cfg.out)
    model_dir = resolve_hf(cfg.model)
    rows = load_rows(cfg.data, cfg.thoughts, cfg.limit)
    tokenizer = load_tokenizer(model_dir)
    model, seq2seq = load_student_for_training(model_dir, cfg)
    items = [encode(tokenizer, r["question"], r["thought"], r["completion"], seq2seq, cfg.max_len) for r in rows]

    checkpoints = out / "checkpoints"
    resume_from = get_last_checkpoint(str(checkpoints)) if cfg.resume and checkpoints.is_dir() else None
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
                "rows_at_max_len": sum(len(i["input_ids"]) >= cfg.max_len for i in items), **asdict(summary)}
        (final / META_FILE).write_text(json.dumps(meta, indent=2))
    return summary
