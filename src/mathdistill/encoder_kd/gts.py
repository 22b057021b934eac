"""GTS: the goal-driven tree-structured decoder of Xie & Sun (2019), "A Goal-Driven Tree-Structured
Neural Model for Math Word Problems", on top of any token encoder.

The decoder grows an expression tree in prefix order.  Each node carries a *goal* vector.  At a node
it attends over the encoded question with the goal, then either picks an operator (and splits the
goal into a left and a right sub-goal) or a leaf: a constant or a number slot, whose embedding is
the encoder's vector at that number in the question.  When a subtree is finished it is summarised
bottom-up into a *subtree embedding*, and a right sub-goal is refined with the embedding of its
finished left sibling before it is expanded -- that is what makes ``a - b`` depend on what ``a`` is.

Departures from the paper, to fit a CPU budget: greedy decoding instead of beam search, and the
encoder is a transformer (its outputs are projected to the decoder's hidden size) instead of a GRU.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from .prefix import OPERATORS, is_slot, slot


@dataclass(frozen=True)
class Vocab:
    """Output tokens: operators, then constants, then number slots (in that index order)."""

    constants: tuple[str, ...]
    max_slots: int
    operators: tuple[str, ...] = OPERATORS

    @classmethod
    def from_targets(cls, targets: Iterable[list[str]], max_slots: int, min_count: int = 1) -> Vocab:
        """Constants used by at least ``min_count`` training equations (rare ones, such as MAWPS's
        0.0833 for 1/12, cost a candidate at every decoding step and are never learnt)."""
        counts = Counter(t for seq in targets for t in set(seq) if t not in OPERATORS and not is_slot(t))
        constants = sorted((t for t, c in counts.items() if c >= min_count), key=float)
        return cls(tuple(constants), max_slots)

    @property
    def tokens(self) -> tuple[str, ...]:
        return self.operators + self.constants + tuple(slot(i) for i in range(self.max_slots))

    def encode(self, seq: list[str]) -> list[int] | None:
        """Token ids, or None when the sequence uses a constant or slot outside the vocabulary."""
        index = {t: i for i, t in enumerate(self.tokens)}
        ids = [index.get(t) for t in seq]
        return None if any(i is None for i in ids) else ids  # type: ignore[return-value]

    def decode(self, ids: list[int]) -> list[str]:
        tokens = self.tokens
        return [tokens[i] for i in ids]


class _Gated(nn.Module):
    """tanh(W x) * sigmoid(W' x): the gated unit GTS uses for every goal and subtree update."""

    def __init__(self, n_in: int, n_out: int) -> None:
        super().__init__()
        self.value = nn.Linear(n_in, n_out)
        self.gate = nn.Linear(n_in, n_out)

    def forward(self, *parts: Tensor) -> Tensor:
        x = torch.cat(parts, dim=-1)
        return torch.tanh(self.value(x)) * torch.sigmoid(self.gate(x))


@dataclass
class _SubTree:
    embedding: Tensor
    finished: bool  # False for an operator still waiting for its children


class GTSDecoder(nn.Module):
    def __init__(self, encoder_dim: int, vocab: Vocab, hidden: int = 256, dropout: float = 0.3) -> None:
        super().__init__()
        self.vocab = vocab
        h = hidden
        self.project = nn.Linear(encoder_dim, h)
        self.constants = nn.Parameter(torch.randn(max(len(vocab.constants), 1), h) * 0.1)
        self.op_embedding = nn.Embedding(len(vocab.operators), h)
        self.attn = nn.Linear(2 * h, h)
        self.attn_score = nn.Linear(h, 1, bias=False)
        self.leaf = nn.Linear(3 * h, h)
        self.leaf_score = nn.Linear(h, 1, bias=False)
        self.op_score = nn.Linear(2 * h, len(vocab.operators))
        self.right_goal_with_left = _Gated(2 * h, h)
        self.left_goal = _Gated(3 * h, h)
        self.right_goal = _Gated(3 * h, h)
        self.merge = _Gated(3 * h, h)
        self.dropout = nn.Dropout(dropout)

    def forward(self, vectors: Tensor, mask: Tensor, num_pos: Tensor, num_mask: Tensor,
                targets: list[list[int]] | None = None, max_steps: int = 30) -> Tensor | list[list[int]]:
        """Teacher-forced mean cross-entropy when ``targets`` is given, else greedy token ids."""
        n_ops, n_const = len(self.vocab.operators), len(self.vocab.constants)
        words = self.dropout(self.project(vectors))  # (B, L, h)
        maskf = mask.unsqueeze(-1).to(words.dtype)
        root = (words * maskf).sum(1) / maskf.sum(1).clamp(min=1)
        # a question with more numbers than any training question: its extra numbers cannot be produced
        num_pos, num_mask = num_pos[:, : self.vocab.max_slots], num_mask[:, : self.vocab.max_slots]
        slots = torch.gather(words, 1, num_pos.unsqueeze(-1).expand(-1, -1, words.size(-1)))  # (B, S, h)
        # Linear layers over [query, item] concatenations split into a query part (per step) and an
        # item part computed once per batch: same function, without re-multiplying every word and
        # every candidate at every decoding step (that was most of the decoder's time).
        h = words.size(-1)
        words_keys = nn.functional.linear(words, self.attn.weight[:, h:])  # (B, L, h)
        const_keys = nn.functional.linear(self.constants[:n_const], self.leaf.weight[:, 2 * h :])  # (C, h)
        slot_keys = nn.functional.linear(slots, self.leaf.weight[:, 2 * h :])  # (B, S, h)
        batch = vectors.size(0)
        goals: list[list[Tensor]] = [[root[i]] for i in range(batch)]
        trees: list[list[_SubTree]] = [[] for _ in range(batch)]
        left: list[Tensor | None] = [None] * batch
        outputs: list[list[int]] = [[] for _ in range(batch)]
        losses: list[Tensor] = []
        n_target_tokens = sum(len(t) for t in targets) if targets is not None else 0
        for step in range(max(len(t) for t in targets) if targets is not None else max_steps):
            active = [i for i in range(batch) if goals[i] and (targets is None or step < len(targets[i]))]
            if not active:
                break
            idx = torch.tensor(active)
            goal = torch.stack([goals[i][-1] for i in active])
            has_left = torch.tensor([left[i] is not None for i in active]).unsqueeze(-1)
            left_emb = torch.stack([left[i] if left[i] is not None else torch.zeros_like(goal[0])
                                    for i in active])
            goal = self.dropout(torch.where(has_left, self.right_goal_with_left(left_emb, goal), goal))
            context = self._attend(goal, words[idx], words_keys[idx], mask[idx])
            candidates = torch.cat([self.constants[:n_const].expand(len(active), -1, -1), slots[idx]], dim=1)
            keys = torch.cat([const_keys.expand(len(active), -1, -1), slot_keys[idx]], dim=1)
            query = nn.functional.linear(torch.cat([goal, context], -1), self.leaf.weight[:, : 2 * h], self.leaf.bias)
            leaf_logits = self.leaf_score(torch.tanh(query.unsqueeze(1) + keys)).squeeze(-1)
            leaf_valid = torch.cat([torch.ones(len(active), n_const, dtype=torch.bool), num_mask[idx]], 1)
            leaf_logits = leaf_logits.masked_fill(~leaf_valid, -1e9)
            logits = torch.cat([self.op_score(torch.cat([goal, context], -1)), leaf_logits], dim=1)
            if targets is not None:
                token = torch.tensor([targets[i][step] for i in active])
                losses.append(nn.functional.cross_entropy(logits, token, reduction="sum"))
            else:
                token = logits.argmax(-1)
            op = self.op_embedding(token.clamp(max=n_ops - 1))
            left_goal = self.left_goal(goal, context, op)
            right_goal = self.right_goal(goal, context, op)
            leaf = candidates[torch.arange(len(active)), (token - n_ops).clamp(min=0)]
            closing: dict[int, Tensor] = {}  # example -> embedding of the subtree it just finished
            for j, i in enumerate(active):
                goals[i].pop()
                k = int(token[j])
                outputs[i].append(k)
                if k < n_ops:
                    goals[i] += [right_goal[j], left_goal[j]]  # the left child is expanded first
                    trees[i].append(_SubTree(op[j], finished=False))
                else:
                    closing[i] = leaf[j]
            # A finished right subtree closes its parent, possibly a chain of them.  Merges of all
            # examples at the same depth of their chain run as one batched call.
            while waiting := [i for i in closing if trees[i] and trees[i][-1].finished]:
                siblings = torch.stack([trees[i].pop().embedding for i in waiting])
                parents = torch.stack([trees[i].pop().embedding for i in waiting])
                merged = self.merge(parents, siblings, torch.stack([closing[i] for i in waiting]))
                closing.update(zip(waiting, merged))
            for i, embedding in closing.items():
                trees[i].append(_SubTree(embedding, finished=True))
            for i in active:
                left[i] = trees[i][-1].embedding if trees[i][-1].finished else None
        if targets is not None:
            return torch.stack(losses).sum() / n_target_tokens
        return outputs

    def _attend(self, goal: Tensor, words: Tensor, words_keys: Tensor, mask: Tensor) -> Tensor:
        """Additive attention: score = v . tanh(W [goal; word] + b), W split as in ``forward``."""
        h = goal.size(-1)
        query = nn.functional.linear(goal, self.attn.weight[:, :h], self.attn.bias).unsqueeze(1)
        scores = self.attn_score(torch.tanh(query + words_keys)).squeeze(-1)
        weights = torch.softmax(scores.masked_fill(~mask.bool(), -1e9), dim=-1)
        return torch.bmm(weights.unsqueeze(1), words).squeeze(1)
