"""Readers for the benchmark file formats. Every error names the file and line."""

from __future__ import annotations

import csv
import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Iterator

from .. import jsonl
from .problem import DataError


def read_jsonl(path: Path, error: type[Exception] = DataError) -> Iterator[tuple[int, dict]]:
    """(line number, object) for every non-blank line; `error` is raised with file:line."""
    return jsonl.read_jsonl(path, error)


def read_json(path: Path) -> object:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise DataError(f"{path}:{e.lineno}: not valid JSON ({e.msg}); the file may be truncated") from None


def read_json_list(path: Path) -> list:
    rows = read_json(path)
    if not isinstance(rows, list):
        raise DataError(f"{path}:1: expected a JSON list of problems")
    return rows


def read_concatenated_json(path: Path) -> list[dict]:
    """Objects written back to back (Math_23K.json is not a JSON array)."""
    text = path.read_text(encoding="utf-8")
    decoder = json.JSONDecoder()
    out, i = [], 0
    while True:
        while i < len(text) and text[i].isspace():
            i += 1
        if i >= len(text):
            return out
        try:
            obj, i = decoder.raw_decode(text, i)
        except json.JSONDecodeError as e:
            raise DataError(f"{path}:{e.lineno}: not valid JSON ({e.msg}); the file may be truncated") from None
        out.append(obj)


def read_csv(path: Path, required: tuple[str, ...]) -> Iterator[tuple[int, dict]]:
    """(line number, row) for every row; a row with missing fields is an error."""
    with open(path, encoding="utf-8", newline="") as f:
        reader = csv.DictReader(f)
        missing = set(required) - set(reader.fieldnames or ())
        if missing:
            raise DataError(f"{path}:1: header lacks columns {sorted(missing)}")
        for row in reader:
            if None in row.values() or None in row:
                raise DataError(f"{path}:{reader.line_num}: row has the wrong number of fields; the file may be truncated")
            yield reader.line_num, row


def read_xml(path: Path) -> ET.Element:
    try:
        return ET.parse(path).getroot()
    except ET.ParseError as e:
        raise DataError(f"{path}:{e.position[0]}: not valid XML ({e}); the file may be truncated") from None


def first_error(path: Path) -> str | None:
    """Where a damaged file first fails to parse ("file:line: reason"), or None if it parses."""
    readers = {
        ".jsonl": lambda: list(read_jsonl(path)),
        ".csv": lambda: list(read_csv(path, ())),
        ".xml": lambda: read_xml(path),
        ".json": lambda: read_concatenated_json(path),
    }
    try:
        readers.get(path.suffix, lambda: None)()
    except DataError as e:
        return str(e)
    except UnicodeDecodeError as e:
        return f"{path}: not UTF-8 text at byte {e.start}"
    return None
