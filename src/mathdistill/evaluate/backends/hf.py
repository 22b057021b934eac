"""The transformers backend: batched greedy generation with left padding and a KV cache.

Prompts are sorted by length before batching so a batch pads little; outputs come back in input
order. The prompt is `student_prompt(question, thought)` tokenized exactly as in training, with
no chat template.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch

from ...distill.student import Student, load_student


class TransformersBackend:
    """A student loaded in this process (`distill.student.load_student`)."""

    name = "transformers"

    def __init__(self, model: str, bf16: str | bool = "auto", batch_size: int = 16):
        self.model = model
        self.student = load_student(model, bf16)
        self.batch_size = batch_size

    def generate(self, prompts: Sequence[str], max_new_tokens: int,
                 progress: Callable[[int], None] | None = None) -> list[str]:
        return generate(self.student, prompts, self.batch_size, max_new_tokens, progress)

    def close(self) -> None:
        pass


def generate(student: Student, prompts: Sequence[str], batch_size: int = 16, max_new_tokens: int = 160,
             progress: Callable[[int], None] | None = None) -> list[str]:
    """Greedy completions of `prompts`, in input order."""
    tok = student.tokenizer
    encoded = [tok(p).input_ids for p in prompts]
    order = sorted(range(len(prompts)), key=lambda i: len(encoded[i]))
    out: list[str] = [""] * len(prompts)
    for start in range(0, len(order), batch_size):
        idx = order[start: start + batch_size]
        batch = tok.pad({"input_ids": [encoded[i] for i in idx]}, return_tensors="pt")
        with torch.inference_mode(), torch.autocast("cpu" if student.model.device.type == "cpu" else "cuda",
                                                    dtype=torch.bfloat16, enabled=student.bf16):
            gen = student.model.generate(
                **batch.to(student.model.device), max_new_tokens=max_new_tokens, do_sample=False, use_cache=True,
                pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id)
        new = gen if student.seq2seq else gen[:, batch["input_ids"].shape[1]:]
        for i, text in zip(idx, tok.batch_decode(new, skip_special_tokens=True)):
            out[i] = text.strip()
        if progress:
            progress(len(idx))
    return out
