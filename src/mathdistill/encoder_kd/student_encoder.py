"""The student encoder: token + position embeddings and 3 transformer layers, hidden 256, 16 heads.

It uses the teacher's tokenizer, so student and teacher produce one vector per token for the same
token sequence and distillation is a per-token regression with no alignment step.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn


@dataclass
class StudentConfig:
    vocab_size: int
    hidden: int = 256
    layers: int = 3
    heads: int = 16
    ffn: int = 1024
    max_positions: int = 512
    dropout: float = 0.1
    pad_id: int = 0


class StudentEncoder(nn.Module):
    def __init__(self, cfg: StudentConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.tokens = nn.Embedding(cfg.vocab_size, cfg.hidden, padding_idx=cfg.pad_id)
        self.positions = nn.Embedding(cfg.max_positions, cfg.hidden)
        self.norm = nn.LayerNorm(cfg.hidden)
        self.dropout = nn.Dropout(cfg.dropout)
        layer = nn.TransformerEncoderLayer(cfg.hidden, cfg.heads, cfg.ffn, cfg.dropout, activation="gelu",
                                           batch_first=True)
        # enable_nested_tensor only pays off for very padded batches and warns for post-norm layers
        self.layers = nn.TransformerEncoder(layer, cfg.layers, enable_nested_tensor=False)

    @property
    def dim(self) -> int:
        return self.cfg.hidden

    def forward(self, input_ids: Tensor, attention_mask: Tensor) -> Tensor:
        pos = torch.arange(input_ids.size(1), device=input_ids.device)
        x = self.dropout(self.norm(self.tokens(input_ids) + self.positions(pos)))
        return self.layers(x, src_key_padding_mask=~attention_mask.bool())
