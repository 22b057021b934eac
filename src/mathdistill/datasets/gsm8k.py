"""GSM8K (Cobbe et al. 2021): JSONL {question, answer}; the answer's last line is '#### <number>'."""

from __future__ import annotations

from .files import data_file
from .formats import read_jsonl
from .problem import DataError, Problem, numbers_in, require_number

SPLITS = {"train": 7473, "test": 1319}


def load(split: str) -> list[Problem]:
    path = data_file(f"gsm8k/{split}.jsonl")
    out = []
    for i, (lineno, row) in enumerate(read_jsonl(path)):
        where = f"{path}:{lineno}"
        try:
            question, full = row["question"], row["answer"]
        except KeyError as e:
            raise DataError(f"{where}: missing field {e}") from None
        solution, sep, final = full.rpartition("####")
        if not sep:
            raise DataError(f"{where}: answer has no '#### <number>' line")
        out.append(Problem(
            id=f"gsm8k/{split}/{i}", dataset="gsm8k", split=split, key=str(i), question=question.strip(),
            answer=require_number(final.strip(), where), solution=solution.strip(),
            numbers=numbers_in(question)))
    return out
