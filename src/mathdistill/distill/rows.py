"""The training-row format, in one place: what `build-dataset` writes and `train` reads.

One JSON object a line (`datasets.load_dataset("json", ...)` reads the file too):

    {"id": "mawps-asdiv-a/train/123",      problem id (dataset/split/key)
     "thought": "pot",                     cot | pot | eot
     "question": "...",                    the problem text
     "prompt": "Question: ...\n<instruction>\n",   what the student is given (optional: rebuilt from
                                           question + thought with `thoughts.student_prompt` if absent)
     "completion": "apples = 3\n...",      what it learns to write (loss only on these tokens + EOS)
     "instruction": "...", "teacher": "gold", "answer": 12.0}   kept for reports, not used by training

Rows written by hand need `id`, `thought`, `question` and `completion`. The instruction of each
thought: "Let's think step by step." (cot), "Let's break down the code step by step." (pot),
"System of linear equations: (Do not simplify)" (eot). A PoT completion leaves its answer in `ans`;
an EoT completion is a system whose unknown `ans` is the answer; a CoT completion ends "The answer
is N." (what the graders read; `thoughts/`).
"""

from __future__ import annotations

from pathlib import Path

from ..jsonl import RecordError, iter_jsonl_tolerant
from ..thoughts import student_prompt

IGNORE = -100  # label value the loss skips


def load_rows(paths: list[str], thoughts: list[str], limit: int | None = None) -> list[dict]:
    """ETD rows of the chosen thoughts; `limit` keeps the first N problems in file order."""
    rows: list[dict] = []
    for path in map(Path, paths):
        if not path.exists():
            raise RecordError(f"{path}: no such file (build it with `mathdistill build-dataset`)")
        for i, row in enumerate(iter_jsonl_tolerant(path)):
            missing = [k for k in ("id", "thought", "question", "completion") if k not in row]
            if missing:
                raise RecordError(f"{path}: record {i + 1} lacks {', '.join(missing)}")
            if row["thought"] in thoughts:
                rows.append(row)
    if limit:
        keep: set[str] = set()
        for r in rows:
            if len(keep) < limit:
                keep.add(r["id"])
        rows = [r for r in rows if r["id"] in keep]
    if not rows:
        raise RecordError(f"no training rows for thoughts {thoughts} in {', '.join(paths)}")
    return rows


def row_prompt(row: dict) -> str:
    """The prompt a training row was built with (`build-dataset` stores it); rows written by hand
    without one get the student prompt of their question and thought."""
    return row.get("prompt") or student_prompt(row["question"], row["thought"])


def encode(tokenizer, prompt_text: str, completion: str, seq2seq: bool, max_len: int) -> dict:
    """Token ids and labels of one row. Prompt tokens never carry loss."""
    prompt = tokenizer(prompt_text).input_ids
    target = tokenizer(completion, add_special_tokens=False).input_ids + [tokenizer.eos_token_id]
    if seq2seq:
        return {"input_ids": prompt[:max_len], "labels": target[:max_len]}
    ids = (prompt + target)[:max_len]
    labels = ([IGNORE] * len(prompt) + target)[:max_len]
    return {"input_ids": ids, "labels": labels}
