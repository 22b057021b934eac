"""Encoder + GTS decoder: training, evaluation (equation and answer accuracy) and encoding speed."""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field

import torch
from torch import Tensor, nn

from mathdistill.answers import compare

from .examples import Batch, Example, batches
from .gts import GTSDecoder
from .prefix import evaluate


def run_encoder(encoder: nn.Module, batch: Batch, bf16: bool = False) -> Tensor:
    """Token vectors (float32) of a batch: from token ids, or from cached hidden states for
    encoders that continue a frozen model (``takes_vectors``, e.g. a teacher's top layers).

    ``bf16``: run the encoder under bfloat16 autocast (measured 1.7x faster for the student's
    training step on an AMX / avx512_bf16 CPU; slower on CPUs without bf16 units).
    """
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        if getattr(encoder, "takes_vectors", False):
            assert batch.vectors is not None, f"{type(encoder).__name__} needs cached hidden states on the examples"
            out = encoder(batch.vectors, batch.attention_mask)
        else:
            out = encoder(batch.input_ids, batch.attention_mask)
    return out.float()


class Solver(nn.Module):
    """``encoder`` None means the examples carry cached (frozen, possibly compressed) vectors."""

    def __init__(self, decoder: GTSDecoder, encoder: nn.Module | None = None, bf16: bool = False) -> None:
        super().__init__()
        self.decoder = decoder
        self.encoder = encoder
        self.bf16 = bf16  # encoder under bf16 autocast; the decoder always runs in float32

    def features(self, batch: Batch) -> Tensor:
        if self.encoder is None:
            assert batch.vectors is not None, "no encoder and no cached vectors"
            return batch.vectors
        return run_encoder(self.encoder, batch, self.bf16)

    def loss(self, batch: Batch) -> Tensor:
        return self.decoder(self.features(batch), batch.attention_mask, batch.num_pos, batch.num_mask,
                            targets=batch.targets)

    @torch.no_grad()
    def predict(self, batch: Batch) -> list[list[str]]:
        ids = self.decoder(self.features(batch), batch.attention_mask, batch.num_pos, batch.num_mask)
        return [self.decoder.vocab.decode(seq) for seq in ids]


@dataclass
class TrainConfig:
    epochs: int = 20
    batch_size: int = 8  # small batches: with a few hundred problems, the number of updates is what counts
    lr: float = 2e-3
    encoder_lr: float = 5e-5  # pre-trained encoders move slowly; a from-scratch student uses `lr`
    weight_decay: float = 1e-5
    seed: int = 0
    schedule: str = "cosine"  # "cosine" (to 0 over the run, after a 5% warm-up) or "constant"


@dataclass
class History:
    losses: list[float] = field(default_factory=list)  # mean loss per epoch
    seconds: float = 0.0


def train_solver(solver: Solver, train: list[Example], cfg: TrainConfig, pad_id: int,
                 encoder_lr: float | None = None, log=print) -> History:
    rng = random.Random(cfg.seed)
    torch.manual_seed(cfg.seed)
    groups = [{"params": list(solver.decoder.parameters()), "lr": cfg.lr}]
    if solver.encoder is not None:
        trainable = [p for p in solver.encoder.parameters() if p.requires_grad]
        if trainable:
            groups.append({"params": trainable, "lr": encoder_lr or cfg.encoder_lr})
    opt = torch.optim.AdamW(groups, weight_decay=cfg.weight_decay)
    steps = cfg.epochs * -(-len(train) // cfg.batch_size)
    sched = lr_schedule(opt, steps, cfg.schedule)
    history, start = History(), time.time()
    solver.train()
    for epoch in range(cfg.epochs):
        total, n = 0.0, 0
        for batch in batches(train, cfg.batch_size, pad_id, shuffle=True, rng=rng):
            loss = solver.loss(batch)
            opt.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_([p for g in groups for p in g["params"]], 5.0)
            opt.step()
            sched.step()
            total, n = total + loss.item() * len(batch.examples), n + len(batch.examples)
        history.losses.append(total / n)
        log(f"epoch {epoch + 1}/{cfg.epochs} loss {total / n:.4f} ({time.time() - start:.0f}s)")
    history.seconds = time.time() - start
    return history


def lr_schedule(opt: torch.optim.Optimizer, steps: int, kind: str = "cosine") -> torch.optim.lr_scheduler.LambdaLR:
    """Linear warm-up over 5% of the steps, then cosine decay to zero; or a constant rate."""
    import math

    if kind not in ("cosine", "constant"):
        raise ValueError(f"unknown schedule {kind!r}; choose cosine or constant")
    warm = max(1, steps // 20)

    def factor(step: int) -> float:
        if kind == "constant":
            return 1.0
        if step < warm:
            return (step + 1) / warm
        return 0.5 * (1 + math.cos(math.pi * min(1.0, (step - warm) / max(1, steps - warm))))

    return torch.optim.lr_scheduler.LambdaLR(opt, factor)


@dataclass
class Scores:
    n: int
    equation_acc: float  # predicted prefix identical to the gold prefix
    answer_acc: float  # predicted tree's value matches the gold answer


def evaluate_solver(solver: Solver, examples: list[Example], pad_id: int, batch_size: int = 64,
                    extra_misses: int = 0) -> Scores:
    """``extra_misses``: evaluation problems that could not become examples, counted as wrong."""
    solver.eval()
    equation = answer = 0
    for batch in batches(examples, batch_size, pad_id):
        for ex, pred in zip(batch.examples, solver.predict(batch)):
            equation += pred == ex.prefix
            value = evaluate(pred, ex.problem.numbers)
            answer += value is not None and compare(value, ex.problem.answer).match
    n = max(len(examples) + extra_misses, 1)
    return Scores(len(examples) + extra_misses, equation / n, answer / n)


@torch.no_grad()
def encode_examples(encoder: nn.Module, examples: list[Example], pad_id: int, batch_size: int = 32,
                    bf16: bool = False) -> list[Tensor]:
    """Per-example token vectors (stored as float16 to halve the cache; compute is float32)."""
    encoder.eval()
    out: list[Tensor] = []
    for batch in batches(examples, batch_size, pad_id):
        vectors = run_encoder(encoder, batch, bf16)
        out += [vectors[i, : len(e.input_ids)].half() for i, e in enumerate(batch.examples)]
    return out


@torch.no_grad()
def sentences_per_second(encoder: nn.Module, examples: list[Example], pad_id: int, batch_size: int = 32) -> float:
    """Encoding throughput (questions/s), batched as in evaluation, after one warm-up batch."""
    encoder.eval()
    warm = next(batches(examples, batch_size, pad_id))
    encoder(warm.input_ids, warm.attention_mask)
    start = time.perf_counter()
    for batch in batches(examples, batch_size, pad_id):
        encoder(batch.input_ids, batch.attention_mask)
    return len(examples) / (time.perf_counter() - start)
