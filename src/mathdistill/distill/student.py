"""Loading a student: the one home for tokenizer set-up, dtype and precision choice.

`load_student(model)` takes a registry name, hub id or checkpoint directory (a trained run's
`model/`, where LoRA adapters were already merged at save time) and returns the network in
fp32 (bf16 runs as autocast where the CPU supports it) with its tokenizer, padded on the left
for batched generation.
"""

from __future__ import annotations

from dataclasses import dataclass


def bf16_supported() -> bool:
    """True where bf16 autocast is fast: CUDA with bf16, or a CPU with AMX / avx512_bf16."""
    import torch

    from ..machine import bf16_fast

    if torch.cuda.is_available():
        return torch.cuda.is_bf16_supported()
    return bf16_fast()  # CPU features from mathdistill.machine (MATHDISTILL_CPU_FEATURES can limit them)


def use_bf16(setting: str | bool) -> bool:
    s = str(setting).lower()
    return bf16_supported() if s == "auto" else s == "true"


def is_seq2seq(model_dir: str) -> bool:
    from transformers import AutoConfig

    return bool(getattr(AutoConfig.from_pretrained(model_dir), "is_encoder_decoder", False))


def load_tokenizer(model_dir: str):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(model_dir)
    if tok.pad_token is None:  # GPT-2 family: pad with EOS; labels are masked by position, not id
        tok.pad_token = tok.eos_token
    return tok


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
    import torch

    net = cls.from_pretrained(path, dtype=torch.float32).eval()
    tok = load_tokenizer(path)
    tok.padding_side = "left"  # causal batches must end where generation starts
    return Student(net, tok, seq2seq, use_bf16(bf16), path)


