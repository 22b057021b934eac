"""Batched student generation: left padding, a KV cache, greedy by default.

Prompts are sorted by length before batching so a batch pads little; outputs come back in input
order. The prompt is `student_prompt(question, thought)` tokenized exactly as in training
(`distill.train.encode`), with no chat template.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

from ..distill.train import is_seq2seq, load_tokenizer, use_bf16


@dataclass
class Student:
    model: object
    tokenizer: object
    seq2seq: bool
    bf16: bool
    path: str


def load_student(model: str, bf16: str | bool = "auto") -> Student:
    """A trained student (or any registry name / hub id / checkpoint dir) ready to generate."""
    from transformers import AutoModelForCausalLM, AutoModelForSeq2SeqLM

    from ..models import resolve_hf

    path = resolve_hf(model)
    seq2seq = is_seq2seq(path)
    cls = AutoModelForSeq2SeqLM if seq2seq else AutoModelForCausalLM
    net = cls.from_pretrained(path, dtype=torch.float32).eval()
    tok = load_tokenizer(path)
    tok.padding_side = "left"  # causal batches must end where generation starts
    return Student(net, tok, seq2seq, use_bf16(bf16), path)


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
