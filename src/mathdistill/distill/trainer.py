"""The training machinery behind `distill.train`: batches, the student model, and a Trainer whose
causal loss computes vocabulary logits only where the loss is (imported only when training runs,
so that configs and the CLI load without torch)."""

from __future__ import annotations

import logging
from typing import Any

import torch

from .rows import IGNORE
from .student import is_seq2seq, use_bf16

logger = logging.getLogger(__name__)


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


def load_student_for_training(model_dir: str, cfg):
    """The student to train (fp32 master weights), with LoRA adapters when `cfg.lora` (a TrainConfig)."""
    from transformers import AutoModelForCausalLM, AutoModelForSeq2SeqLM

    seq2seq = is_seq2seq(model_dir)
    cls = AutoModelForSeq2SeqLM if seq2seq else AutoModelForCausalLM
    attn = cfg.attn_implementation
    if attn == "auto":
        attn = None if torch.cuda.is_available() else "eager" if use_bf16(cfg.bf16) else "sdpa"
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


def training_arguments(cfg, output_dir: str, **overrides: Any):
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
