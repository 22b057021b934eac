"""Rationale records (contract): JSONL objects {"id", "thought": "cot"|"pot"|"eot", "text", ...}.

Reading validates every line and names file:line on errors (JSONL itself: `mathdistill.jsonl`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from .jsonl import RecordError, read_jsonl
from .thoughts import THOUGHTS

__all__ = ["RecordError", "Rationale", "parse_record", "read_records"]


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
