"""Teacher encoders: any Hugging Face encoder (offline default all-mpnet-base-v2 from the registry;
bert-base-uncased / bert-base-chinese for users with a hub), used frozen or partly fine-tuned."""

from __future__ import annotations

import copy

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


class TopLayers(nn.Module):
    """The top ``n`` transformer layers of an :class:`HFEncoder`, run on cached hidden states.

    Fine-tuning only the top layers means everything below them is frozen, so the hidden states
    entering layer ``L - n`` can be computed once per question and cached (``states`` below); the
    fine-tuning forward and backward passes then cost ``n / L`` of the full model's.  The layers
    are shared with the wrapped encoder (training one trains the other).  Works for every HF
    encoder that keeps its blocks in ``model.encoder.layer`` and builds its attention mask with
    ``create_bidirectional_mask`` (BERT, RoBERTa, MPNet); checked against the full forward pass
    in the tests.
    """

    takes_vectors = True  # the Solver passes cached hidden states, not token ids

    def __init__(self, encoder: HFEncoder, n: int) -> None:
        super().__init__()
        stack = encoder.model.encoder
        if not 0 < n <= len(stack.layer):
            raise ValueError(f"cannot fine-tune the top {n} of {len(stack.layer)} layers")
        top = copy.copy(stack)  # the stack's own forward (position bias etc.), on fewer layers
        top._modules = dict(stack._modules)
        top.layer = nn.ModuleList(list(stack.layer)[len(stack.layer) - n :])
        for p in top.parameters():  # e.g. MPNet's relative position bias, shared with the frozen layers
            p.requires_grad_(False)
        for p in top.layer.parameters():
            p.requires_grad_(True)
        self.stack, self.config, self.n = top, encoder.model.config, n

    @property
    def dim(self) -> int:
        return int(self.config.hidden_size)

    def forward(self, states: Tensor, attention_mask: Tensor) -> Tensor:
        from transformers.masking_utils import create_bidirectional_mask

        mask = create_bidirectional_mask(config=self.config, inputs_embeds=states, attention_mask=attention_mask)
        return self.stack(states, attention_mask=mask)[0]


@torch.no_grad()
def hidden_states(encoder: HFEncoder, input_ids: Tensor, attention_mask: Tensor, below_top: int) -> tuple[Tensor, Tensor]:
    """(states entering the top ``below_top`` layers, last hidden states) in one forward pass."""
    out = encoder.model(input_ids=input_ids, attention_mask=attention_mask, output_hidden_states=True)
    return out.hidden_states[-below_top - 1], out.last_hidden_state


def count_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())
