"""Verifier option (b): a small encoder fine-tuned as a cross-encoder of (question, candidate).

The encoder (by default the registry's all-MiniLM-L6-v2, 22M parameters, so it trains on a laptop
CPU) reads the question and the candidate's rationale as one pair and gives one logit: is this
candidate right? It is trained with binary cross-entropy on labelled candidates of training
problems only, batches grouped by length, one progress bar. It sees the text, not the pool: what
the other candidates say is the feature scorer's business.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from pathlib import Path

Pair = tuple[str, str]  # (question, candidate text)


def _text(thought: str, text: str) -> str:
    return f"[{thought}] {text.strip()}"


def pairs(question: str, pool: Sequence[dict]) -> list[Pair]:
    return [(question, _text(c["thought"], c.get("text") or "")) for c in pool]


def train_cross_encoder(encoder: str, examples: Sequence[Pair], labels: Sequence[bool], out: Path,
                        epochs: int = 1, batch_size: int = 16, lr: float = 3e-5, max_len: int = 256,
                        seed: int = 0, progress: Callable[[int], object] | None = None) -> dict:
    """Fine-tune `encoder` (registry name, hub id or directory) on the pairs; save model + tokenizer
    to `out`. Returns what was trained (examples, steps, positive rate, seconds)."""
    import time

    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from ..models import resolve_hf

    if not examples or len(examples) != len(labels):
        raise ValueError(f"cross-encoder: {len(examples)} pairs and {len(labels)} labels; need the same number > 0")
    torch.manual_seed(seed)
    rng = random.Random(seed)
    path = resolve_hf(encoder)
    tok = AutoTokenizer.from_pretrained(path)
    model = AutoModelForSequenceClassification.from_pretrained(path, num_labels=1)
    model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
    order = list(range(len(examples)))
    positives = sum(bool(y) for y in labels)
    # balance the loss: right candidates are the minority for a weak student
    pos_weight = torch.tensor((len(labels) - positives) / max(1, positives))
    loss_fn = torch.nn.BCEWithLogitsLoss(pos_weight=pos_weight)
    steps = 0
    start = time.perf_counter()
    total_steps = epochs * ((len(order) + batch_size - 1) // batch_size)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: max(0.0, 1 - s / max(1, total_steps)))
    for _ in range(epochs):
        rng.shuffle(order)
        # length-grouped: sort chunks of 50 batches by length, then shuffle the batches
        chunk = batch_size * 50
        batches = []
        for i in range(0, len(order), chunk):
            part = sorted(order[i: i + chunk], key=lambda j: len(examples[j][0]) + len(examples[j][1]))
            batches += [part[b: b + batch_size] for b in range(0, len(part), batch_size)]
        rng.shuffle(batches)
        for batch in batches:
            enc = tok([examples[j][0] for j in batch], [examples[j][1] for j in batch], truncation=True,
                      max_length=max_len, padding=True, return_tensors="pt")
            logits = model(**enc).logits.squeeze(-1)
            loss = loss_fn(logits, torch.tensor([float(labels[j]) for j in batch]))
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad()
            steps += 1
            if progress:
                progress(len(batch))
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    tok.save_pretrained(out)
    return {"encoder": encoder, "examples": len(examples), "positives": positives, "epochs": epochs, "steps": steps,
            "batch_size": batch_size, "lr": lr, "max_len": max_len, "seconds": round(time.perf_counter() - start, 1)}


class CrossEncoder:
    """A trained cross-encoder: logits for (question, candidate) pairs, batched, no gradients."""

    def __init__(self, path: Path | str, max_len: int = 256, batch_size: int = 32):
        import torch
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        self.tok = AutoTokenizer.from_pretrained(str(path))
        self.model = AutoModelForSequenceClassification.from_pretrained(str(path)).eval()
        self.max_len, self.batch_size, self._torch = max_len, batch_size, torch

    def logits(self, examples: Sequence[Pair], progress: Callable[[int], object] | None = None) -> list[float]:
        order = sorted(range(len(examples)), key=lambda j: len(examples[j][0]) + len(examples[j][1]))
        values = [0.0] * len(examples)
        with self._torch.inference_mode():
            for i in range(0, len(order), self.batch_size):
                batch = order[i: i + self.batch_size]
                enc = self.tok([examples[j][0] for j in batch], [examples[j][1] for j in batch], truncation=True,
                               max_length=self.max_len, padding=True, return_tensors="pt")
                for j, v in zip(batch, self.model(**enc).logits.squeeze(-1).tolist()):
                    values[j] = float(v)
                if progress:
                    progress(len(batch))
        return values
