"""Rationale records (contract): JSONL objects {"id", "thought": "cot"|"pot"|"eot", "text", ...}.

Reading validates every line and names file:line on errors. Writing appends one line per record
and flushes, so a killed job loses at most the record being written; `done_keys` lets a rerun
skip what is already there.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator

from .datasets.formats import read_jsonl
from .thoughts import THOUGHTS


class RecordError(ValueError):
    """A malformed or unknown record; the message names the file and line."""


@dataclass
class Rationale:
    id: str
    thought: str
    text: str
    extra: dict = field(default_factory=dict)  # teacher, sample, tokens, ... (kept on round trips)
    where: str = field(default="", compare=False)  # "file:line" it was read from, for error messages

    def to_json(self) -> dict:
        return {"id": self.id, "thought": self.thought, "text": self.text, **self.extra}


def parse_record(obj: object, where: str) -> Rationale:
    if not isinstance(obj, dict):
        raise RecordError(f"{where}: expected a JSON object")
    missing = [k for k in ("id", "thought", "text") if k not in obj]
    if missing:
        raise RecordError(f"{where}: record lacks {', '.join(missing)}")
    if obj["thought"] not in THOUGHTS:
        raise RecordError(f"{where}: unknown thought {obj['thought']!r} (use one of {', '.join(THOUGHTS)})")
    if not isinstance(obj["text"], str) or not isinstance(obj["id"], str):
        raise RecordError(f"{where}: 'id' and 'text' must be strings")
    extra = {k: v for k, v in obj.items() if k not in ("id", "thought", "text")}
    return Rationale(obj["id"], obj["thought"], obj["text"], extra, where)


def read_records(path: Path | str) -> list[Rationale]:
    path = Path(path)
    if not path.is_file():
        raise RecordError(f"{path}: no such file")
    return [parse_record(obj, f"{path}:{lineno}") for lineno, obj in read_jsonl(path, RecordError)]


def iter_jsonl_tolerant(path: Path) -> Iterator[dict]:
    """Objects of an append-only log; a torn last line (from a kill mid-write) is skipped."""
    if not path.exists():
        return
    with open(path, encoding="utf-8") as f:
        lines = f.readlines()
    for i, line in enumerate(lines):
        if not line.strip():
            continue
        try:
            yield json.loads(line)
        except json.JSONDecodeError:
            if i == len(lines) - 1:
                return  # torn tail: the writer was killed mid-line
            raise RecordError(f"{path}:{i + 1}: not valid JSON in the middle of the log") from None


class JsonlAppender:
    """Append-only JSONL writer; each record is one write + flush + fsync-on-close."""

    def __init__(self, path: Path | str):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._repair_torn_tail()
        self._f = open(self.path, "a", encoding="utf-8")

    def _repair_torn_tail(self) -> None:
        if not self.path.exists() or self.path.stat().st_size == 0:
            return
        with open(self.path, "rb+") as f:
            f.seek(-1, os.SEEK_END)
            if f.read(1) == b"\n":
                return
            data = f.seek(0) or f.read()
            f.truncate(data.rfind(b"\n") + 1)

    def write(self, obj: dict) -> None:
        self._f.write(json.dumps(obj, ensure_ascii=False) + "\n")
        self._f.flush()

    def write_many(self, objs: Iterable[dict]) -> None:
        for obj in objs:
            self.write(obj)

    def close(self) -> None:
        self._f.flush()
        os.fsync(self._f.fileno())
        self._f.close()

    def __enter__(self) -> "JsonlAppender":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
