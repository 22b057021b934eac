"""Teacher encoders: any Hugging Face encoder (offline default all-mpnet-base-v2 from the registry;
bert-base-uncased / bert-base-chinese for users with a hub), used frozen or partly fine-tuned."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from mathdistill.models import resolve_hf


class HFEncoder(nn.Module):
    """A Hugging Face encoder as ``(input_ids, attention_mask) -> last hidden states``."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    @property
    def dim(self) -> int:
        return int(self.model.config.hidden_size)

    def forward(self, input_ids: Tensor, attention_mask: Tensor) -> Tensor:
        return self.model(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state


def load_teacher(name: str) -> tuple[object, HFEncoder]:
    """Tokenizer and encoder for a registry short name, hub id or local directory."""
    from transformers import AutoModel, AutoTokenizer

    path = resolve_hf(name)
    return AutoTokenizer.from_pretrained(path), HFEncoder(AutoModel.from_pretrained(path, dtype=torch.float32))


def train_top_layers(encoder: HFEncoder, n: int) -> int:
    """Freeze everything except the top ``n`` transformer layers; returns the trainable parameter count.

    Fine-tuning all 12 layers of a BERT-base on 2 CPU cores does not fit our budget; the top layers
    are where task fine-tuning changes BERT most, and gradients then stop early in the backward pass.
    """
    layers = encoder.model.encoder.layer  # BERT, RoBERTa and MPNet all keep their blocks here
    for p in encoder.parameters():
        p.requires_grad_(False)
    for layer in layers[len(layers) - n :] if n > 0 else []:
        for p in layer.parameters():
            p.requires_grad_(True)
    return sum(p.numel() for p in encoder.parameters() if p.requires_grad)


def count_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())
