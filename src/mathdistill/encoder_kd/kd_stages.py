"""The knowledge-distillation stages' training loop: the student's token vectors regressed onto
compressed teacher token vectors.

Both run on the same token sequence (shared tokenizer), so the loss is the mean squared error over
real (non-padding) tokens.  Stage 1 regresses onto the pre-trained teacher (stage1_student.py), stage 2
onto the teacher after it was fine-tuned with the GTS decoder (task_runner.py); the same function
does both, only the targets differ.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from .examples import Example, batches
from .tree_solver import lr_schedule, run_encoder


@dataclass
class DistillConfig:
    epochs: int = 5
    batch_size: int = 32
    lr: float = 1e-3
    seed: int = 0
    bf16: bool = False  # student forward/backward under bf16 autocast (the loss is float32)


def distill(student: nn.Module, examples: list[Example], targets: list[Tensor], cfg: DistillConfig,
            pad_id: int, log=print) -> list[float]:
    """Train ``student`` so student(example) ~ targets[i]; returns the mean loss of every epoch."""
    if len(examples) != len(targets):
        raise ValueError(f"{len(examples)} examples but {len(targets)} target tensors")
    # carry the targets on the examples so batching keeps them aligned with their token ids
    paired = [Example(e.problem, e.input_ids, e.num_pos, e.prefix, e.target, t) for e, t in zip(examples, targets)]
    torch.manual_seed(cfg.seed)
    rng = random.Random(cfg.seed)
    opt = torch.optim.AdamW(student.parameters(), lr=cfg.lr)
    # warm-up then cosine decay (the first runs used a constant 5e-3, one suspect of their collapsed students)
    sched = lr_schedule(opt, cfg.epochs * -(-len(paired) // cfg.batch_size))
    student.train()
    losses, start = [], time.time()
    for epoch in range(cfg.epochs):
        total, n = 0.0, 0
        for batch in batches(paired, cfg.batch_size, pad_id, shuffle=True, rng=rng):
            loss = token_mse(run_encoder(student, batch, cfg.bf16), batch.vectors, batch.attention_mask)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            total, n = total + loss.item() * len(batch.examples), n + len(batch.examples)
        losses.append(total / n)
        log(f"distill epoch {epoch + 1}/{cfg.epochs} mse {total / n:.4f} ({time.time() - start:.0f}s)")
    return losses


def token_mse(predicted: Tensor, target: Tensor, mask: Tensor) -> Tensor:
    m = mask.unsqueeze(-1).to(predicted.dtype)
    return ((predicted - target) ** 2 * m).sum() / (m.sum() * predicted.size(-1))
