"""Problems -> tokenized examples for the GTS solver: token ids, where each number sits, target ids.

Numbers stay in the question text (the teacher has seen digits in pre-training); the slot
embedding of a number is the encoder vector of its first sub-word token.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass

import torch
from torch import Tensor

from mathdistill.datasets.problem import _NUMBER_IN_TEXT, Problem

from .gts import Vocab
from .prefix import Unconvertible, to_prefix

MAX_TOKENS = 160


@dataclass
class Example:
    problem: Problem
    input_ids: list[int]
    num_pos: list[int]  # token index of each number in problem.numbers order
    prefix: list[str]
    target: list[int]
    vectors: Tensor | None = None  # cached (frozen) encoder output, (len(input_ids), d)


def with_vectors(examples: list[Example], vectors: list[Tensor]) -> list[Example]:
    """The same examples carrying ``vectors`` (cached encoder output or distillation targets)."""
    return [Example(e.problem, e.input_ids, e.num_pos, e.prefix, e.target, v) for e, v in zip(examples, vectors)]


@dataclass
class Batch:
    examples: list[Example]
    input_ids: Tensor
    attention_mask: Tensor
    num_pos: Tensor
    num_mask: Tensor
    vectors: Tensor | None

    @property
    def targets(self) -> list[list[int]]:
        return [e.target for e in self.examples]


def number_positions(question: str, offsets: list[tuple[int, int]]) -> list[int]:
    """Token index of the first sub-word of every number in the question."""
    positions = []
    # the dataset loaders' own number syntax, so the spans line up with Problem.numbers
    for match in _NUMBER_IN_TEXT.finditer(question):
        start = match.start()
        token = next((t for t, (a, b) in enumerate(offsets) if a <= start < b and b > a), None)
        if token is not None:
            positions.append(token)
    return positions


def make_examples(problems: list[Problem], tokenizer, vocab: Vocab | None = None,
                  keep_unencodable: bool = False) -> tuple[list[Example], list[str]]:
    """Examples plus a list of skip reasons (one line per dropped problem, for the run log).

    ``keep_unencodable`` (evaluation sets): a problem whose equation needs a constant or slot the
    decoder cannot produce stays in, with an empty target, so it counts as an equation miss
    instead of silently leaving the denominator (its answer can still come out right).
    """
    examples, skipped = [], []
    for p in problems:
        enc = tokenizer(p.question, truncation=True, max_length=MAX_TOKENS, return_offsets_mapping=True)
        pos = number_positions(p.question, enc["offset_mapping"])
        if len(pos) != len(p.numbers):
            skipped.append(f"{p.id}: found {len(pos)} numbers in the tokens, problem lists {len(p.numbers)}")
            continue
        try:
            prefix = to_prefix(p.equation, p.numbers)
        except Unconvertible as e:
            skipped.append(f"{p.id}: {e}")
            continue
        target = vocab.encode(prefix) if vocab is not None else []
        if target is None:
            skipped.append(f"{p.id}: equation uses a constant or slot unseen in training: {prefix}"
                           + (" (kept: counts as an equation miss)" if keep_unencodable else ""))
            if not keep_unencodable:
                continue
            target = []
        examples.append(Example(p, enc["input_ids"], pos, prefix, target))
    return examples, skipped


def collate(examples: list[Example], pad_id: int) -> Batch:
    length = max(len(e.input_ids) for e in examples)
    slots = max(1, max(len(e.num_pos) for e in examples))
    ids = torch.full((len(examples), length), pad_id, dtype=torch.long)
    mask = torch.zeros(len(examples), length, dtype=torch.long)
    num_pos = torch.zeros(len(examples), slots, dtype=torch.long)
    num_mask = torch.zeros(len(examples), slots, dtype=torch.bool)
    vectors = None
    if examples[0].vectors is not None:
        vectors = torch.zeros(len(examples), length, examples[0].vectors.size(-1))
    for i, e in enumerate(examples):
        ids[i, : len(e.input_ids)] = torch.tensor(e.input_ids)
        mask[i, : len(e.input_ids)] = 1
        num_pos[i, : len(e.num_pos)] = torch.tensor(e.num_pos, dtype=torch.long)
        num_mask[i, : len(e.num_pos)] = True
        if vectors is not None:
            vectors[i, : len(e.input_ids)] = e.vectors.float()
    return Batch(examples, ids, mask, num_pos, num_mask, vectors)


def batches(examples: list[Example], size: int, pad_id: int, shuffle: bool = False,
            rng: random.Random | None = None) -> Iterator[Batch]:
    order = list(range(len(examples)))
    if shuffle:
        (rng or random).shuffle(order)
    for start in range(0, len(order), size):
        yield collate([examples[i] for i in order[start : start + size]], pad_id)
