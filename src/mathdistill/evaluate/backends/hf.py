"""The transformers backend: batched generation with left padding and a KV cache, greedy by default.

Prompts are sorted by length before batching so a batch pads little; outputs come back in input
order. The prompt is `student_prompt(question, thought)` tokenized exactly as in training, with
no chat template. At a temperature > 0 each row draws its token with its own prompt's generator
(`sampling.pick`, applied as the last logits processor of a greedy search, which then takes the
drawn token), rather than `do_sample` with one global seed: a global stream hands out draws in
batch order, so a sample would change with the length sort and with where a resumed run restarts.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch
from transformers import LogitsProcessor, LogitsProcessorList

from ...distill.student import Student, load_student
from .sampling import generators, pick


class TransformersBackend:
    """A student loaded in this process (`distill.student.load_student`)."""

    name = "transformers"

    def __init__(self, model: str, bf16: str | bool = "auto", batch_size: int = 16):
        self.model = model
        self.student = load_student(model, bf16)
        self.batch_size = batch_size

    def generate(self, prompts: Sequence[str], max_new_tokens: int, progress: Callable[[int], None] | None = None,
                 *, temperature: float = 0.0, seeds: Sequence[int] | None = None) -> list[str]:
        return generate(self.student, prompts, self.batch_size, max_new_tokens, progress,
                        temperature=temperature, seeds=seeds)

    def close(self) -> None:
        pass


class _RowSampler(LogitsProcessor):
    """Replaces each row's scores by a one-hot of the token drawn with that row's own generator."""

    def __init__(self, temperature: float, rngs: list[np.random.Generator]):
        self.temperature, self.rngs = temperature, rngs

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        rows = scores.float().cpu().numpy()
        out = torch.full_like(scores, float("-inf"))
        for b, rng in enumerate(self.rngs):
            out[b, pick(rows[b], self.temperature, rng)] = 0.0
        return out


def generate(student: Student, prompts: Sequence[str], batch_size: int = 16, max_new_tokens: int = 160,
             progress: Callable[[int], None] | None = None, *, temperature: float = 0.0,
             seeds: Sequence[int] | None = None) -> list[str]:
    """Completions of `prompts`, in input order: greedy at temperature 0, else sampled from
    softmax(logits / temperature) with prompt i's generator seeded by seeds[i] (default i)."""
    rngs = generators(len(prompts), temperature, seeds)
    tok = student.tokenizer
    encoded = [tok(p).input_ids for p in prompts]
    order = sorted(range(len(prompts)), key=lambda i: len(encoded[i]))
    out: list[str] = [""] * len(prompts)
    for start in range(0, len(order), batch_size):
        idx = order[start: start + batch_size]
        batch = tok.pad({"input_ids": [encoded[i] for i in idx]}, return_tensors="pt")
        sampler = LogitsProcessorList([_RowSampler(temperature, [rngs[i] for i in idx])]) if rngs else None
        with torch.inference_mode(), torch.autocast("cpu" if student.model.device.type == "cpu" else "cuda",
                                                    dtype=torch.bfloat16, enabled=student.bf16):
            gen = student.model.generate(
                **batch.to(student.model.device), max_new_tokens=max_new_tokens, do_sample=False, use_cache=True,
                pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id, logits_processor=sampler)
        new = gen if student.seq2seq else gen[:, batch["input_ids"].shape[1]:]
        for i, text in zip(idx, tok.batch_decode(new, skip_special_tokens=True)):
            out[i] = text.strip()
        if progress:
            progress(len(idx))
    return out
