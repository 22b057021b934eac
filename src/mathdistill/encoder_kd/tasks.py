"""The task list: "TRAIN_SPEC>EVAL_SPEC" names, their examples, which variants each runs, and which
process (shard) runs it."""

from __future__ import annotations

from dataclasses import dataclass

from mathdistill import datasets

from .examples import Example, make_examples
from .gts import Vocab


VARIANTS = ("none", "stage1", "stage2", "both")


def parse_task(task: str) -> tuple[str, str]:
    """``"mawps-asdiv-a:train>svamp:test"`` -> (training split, evaluation split)."""
    train, sep, test = task.partition(">")
    if not sep:
        raise ValueError(f"task {task!r} is not TRAIN_SPEC>EVAL_SPEC (e.g. asdiv-a:cv0-train>asdiv-a:cv0-dev)")
    return train.strip(), test.strip()


def task_slug(task: str) -> str:
    """The task's name in file names: ``asdiv-a-cv0-train_to_asdiv-a-cv0-dev``."""
    return task.replace(">", "_to_").replace(":", "-")


@dataclass
class Task:
    name: str
    train: list[Example]
    test: list[Example]
    vocab: Vocab
    skipped: list[str]
    eval_dropped: int  # evaluation problems the decoder cannot represent at all (counted as misses)


def load_task(task: str, tokenizer, train_limit: int | None = None, eval_limit: int | None = None,
              min_constant_count: int = 1) -> Task:
    """Training and evaluation examples of ``task``, with the decoder vocabulary of its training equations."""
    train_spec, eval_spec = parse_task(task)
    train, skipped = make_examples(datasets.load(train_spec)[:train_limit], tokenizer)
    max_slots = max(len(e.problem.numbers) for e in train)
    vocab = Vocab.from_targets([e.prefix for e in train], max_slots, min_constant_count)
    train, skipped_train = make_examples([e.problem for e in train], tokenizer, vocab)
    problems = datasets.load(eval_spec)[:eval_limit]
    test, skipped_test = make_examples(problems, tokenizer, vocab, keep_unencodable=True)
    return Task(task, train, test, vocab, skipped + skipped_train + skipped_test, len(problems) - len(test))
