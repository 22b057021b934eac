"""JSONL, the one home for reading and writing it.

* `read_jsonl(path)`: strict reading of a finished file, (line number, object) pairs; any bad line
  is an error naming file:line. Files ending in `.gz` are read through gzip.
* `iter_jsonl_tolerant(path)`: reading an append-only log that a killed job may have left with a
  torn last line (skipped); a bad line anywhere else is an error.
* `JsonlAppender`: one line per record, flushed, so a killed job loses at most the line in flight;
  a torn tail left by an earlier kill is cut off before appending.
* `write_jsonl(path, objects)`: a whole file at once, atomically (temporary file, then rename).
"""

from __future__ import annotations

import gzip
import json
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO


class RecordError(ValueError):
    """A malformed or unknown record; the message names the file and line."""


def open_text(path: Path | str) -> IO[str]:
    path = Path(path)
    if path.suffix == ".gz":
        return gzip.open(path, "rt", encoding="utf-8")
    return open(path, encoding="utf-8")


def dumps(obj: object) -> str:
    return json.dumps(obj, ensure_ascii=False) + "\n"


def read_jsonl(path: Path | str, error: type[Exception] = RecordError) -> Iterator[tuple[int, dict]]:
    """(line number, object) for every non-blank line; `error` is raised with file:line."""
    with open_text(path) as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as e:
                raise error(f"{path}:{lineno}: not valid JSON ({e.msg}); the file may be truncated") from None
            if not isinstance(obj, dict):
                raise error(f"{path}:{lineno}: expected a JSON object, got {type(obj).__name__}")
            yield lineno, obj


def iter_jsonl_tolerant(path: Path | str) -> Iterator[dict]:
    """Objects of an append-only log; a torn last line (from a kill mid-write) is skipped."""
    path = Path(path)
    if not path.exists():
        return
    with open_text(path) as f:
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


def write_jsonl(path: Path | str, objects: Iterable[object]) -> Path:
    """The whole file, atomically: readers see the old file or the new one, never half of it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        f.writelines(dumps(o) for o in objects)
    tmp.replace(path)
    return path


class JsonlAppender:
    """Append-only JSONL writer; each record is one write + flush, fsync on close."""

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

    def write(self, obj: object) -> None:
        self._f.write(dumps(obj))
        self._f.flush()

    def write_many(self, objs: Iterable[object]) -> None:
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
