"""Your own problems as a dataset: `--split file:PATH` wherever a split is accepted.

The file
--------
CSV (with a header row; `,`, or `;` / tab when the header has no comma; Excel's "CSV UTF-8" is fine)
or JSONL (one JSON object a line), UTF-8. Columns / keys, case-insensitive:

    question   required  the problem text
    answer     required  one number, read by `answers.parse_number` like every benchmark answer:
                         12, 12.50, 1,000, $1,000, 3/4, 2 1/2, 50%, "9 (apples)"
    equation   optional  an infix arithmetic expression over the question's numbers that gives the
                         answer, like the benchmarks' gold equations: (20-5)*3, 48/2+7; or an
                         equation in x: x*4+600=10000. The gold teacher turns it into CoT, PoT and EoT.
    solution   optional  a worked solution in prose (GSM8K style, `<<48/2=24>>` calculator annotations
                         allowed): the gold teacher's CoT then uses it, and without an equation its
                         arithmetic becomes PoT and EoT. A JSONL answer written GSM8K-style,
                         "...solution...\\n#### 72", is split into solution and answer.
    id         optional  your id for the problem (unique in the file)

Other columns are kept in the problem's `meta`, with the file and the line. Problem ids are
`file/{stem}/{id}`, or `file/{stem}/{row}` with the 0-based row number (blank lines do not count)
where a row has no id: `file:problems/shop.csv` holds `file/shop/0`, `file/shop/1`, ... Like any split
it also exists as `file:PATH+distractors` (see `distractors`).

A row without a question, or whose answer is not one number, is an error naming the file and the line
(the message also lists the lines of the other bad rows). An equation that does not reproduce the
answer, and a problem with neither equation nor solution (the gold teacher cannot write rationales
for it; an LLM teacher can), are warnings: loading logs one line counting them, and
`mathdistill data check PATH` lists every one.

Remembered by name
------------------
The first use of a path registers its stem: `file:shop` (and ids `file/shop/...`) then mean that file
in every later command, which is how `build-dataset` finds the problems behind the ids of raw
rationales, and how `mathdistill data show file/shop/3` works. The names live in
`$MATHDISTILL_CACHE/user_files.json` (default: the user cache directory). Using another file with the
same stem moves the name to it, with a warning; the problems are read from the file each time, so an
edited file is seen at once (a row's id is its row number unless it has an `id`: give ids if you
will insert rows).

From a CSV to an evaluated student
----------------------------------
    mathdistill data check my_train.csv                      # errors and warnings, line by line
    mathdistill generate --teacher gold --split file:my_train.csv --out runs/mine/raw.jsonl
    mathdistill build-dataset --input runs/mine/raw.jsonl --out runs/mine/etd.jsonl \\
        --eval-split file:my_test.csv --eval-split svamp:test   # refuses questions of those splits
    mathdistill train --data runs/mine/etd.jsonl --model smollm2-135m --out runs/mine/train
    mathdistill evaluate --model runs/mine/train/model --split file:my_test.csv --out runs/mine/eval

(`--teacher openai --base-url ... --model ...` instead of gold: any problem then works, with or
without an equation.) The guard refuses training problems whose question is also in my_test.csv
(same text or a near duplicate).

What `train --data` reads (the rows `build-dataset` writes from these problems): `distill/rows.py`.
"""

from __future__ import annotations

import csv
import json
import logging
import os
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Iterator

from ..answers import parse_number
from . import files
from .formats import read_jsonl
from .problem import DataError, Problem, numbers_in

DATASET = "file"
SUFFIXES = (".csv", ".jsonl")
COLUMNS = ("question", "answer", "equation", "solution", "id")
# what is not kept in meta: the columns, and the Problem fields of a file written by `data export`
_NOT_META = set(COLUMNS) | {"dataset", "split", "key", "numbers"}
REGISTRY_FILE = "user_files.json"
_DISTRACTORS = "+distractors"  # distractors.SUFFIX (not imported here: distractors imports nothing of ours)

logger = logging.getLogger(__name__)


@dataclass
class FileReport:
    """What loading a user file found: counts, and the rows that gave warnings."""

    path: Path
    name: str
    problems: int = 0
    with_equation: int = 0
    equation_mismatch: list[tuple[int, str, str]] = field(default_factory=list)  # (line, id, why)
    without_gold: list[tuple[int, str]] = field(default_factory=list)  # (line, id): no equation, no solution

    @property
    def warnings(self) -> int:
        return len(self.equation_mismatch) + len(self.without_gold)

    def summary(self) -> str:
        """One line: counts and the first warning of each kind."""
        parts = [f"{self.path}: {self.problems} problems as file:{self.name} "
                 f"(ids file/{self.name}/...), {self.with_equation} with an equation"]
        if self.equation_mismatch:
            line, pid, why = self.equation_mismatch[0]
            n = len(self.equation_mismatch)
            parts.append(f"{n} equation{'s do' if n > 1 else ' does'} not reproduce the answer "
                         f"(first: line {line}, {why})")
        if self.without_gold:
            lines = ", ".join(str(line) for line, _ in self.without_gold[:5])
            more = ", ..." if len(self.without_gold) > 5 else ""
            n = len(self.without_gold)
            parts.append(f"{n} without equation or solution (line{'s' if n > 1 else ''} {lines}{more}): "
                         f"the gold teacher cannot write rationales for {'those' if n > 1 else 'it'}")
        return "; ".join(parts)

    def to_json(self) -> dict:
        return {"path": str(self.path), "name": self.name, "problems": self.problems,
                "with_equation": self.with_equation,
                "equation_mismatch": [{"line": line, "id": pid, "why": why} for line, pid, why in self.equation_mismatch],
                "without_gold": [{"line": line, "id": pid} for line, pid in self.without_gold]}


# ---------------------------------------------------------------------------------------------
# names: file:STEM -> the file it was last used for


def registry_path() -> Path:
    return files.cache_dir() / REGISTRY_FILE


def registered() -> dict[str, str]:
    """Every remembered name and its file (absolute path)."""
    path = registry_path()
    try:
        names = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return {str(k): str(v) for k, v in names.items()} if isinstance(names, dict) else {}


def _remember(name: str, path: Path) -> None:
    names = registered()
    if names.get(name) == str(path):
        return
    before = names.get(name)
    if before and Path(before).is_file():
        logger.warning("note: file:%s now means %s (it meant %s); ids file/%s/... refer to the new file",
                       name, path, before, name)
    names[name] = str(path)
    target = registry_path()
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f"{target.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(names, indent=1, sort_keys=True), encoding="utf-8")
        tmp.replace(target)
    except OSError as e:
        logger.warning("note: could not remember file:%s in %s (%s); later commands need its path again",
                       name, target, e)


def name_of(path: Path) -> str:
    """The split name of a user file: its stem ("problems/shop.csv" -> "shop")."""
    return Path(path).name[: -len(Path(path).suffix)] if Path(path).suffix else Path(path).name


def resolve(text: str) -> str:
    """`PATH` or `NAME` (either optionally + "+distractors") -> the split name; a path is registered.

    A path ends in .csv or .jsonl; anything else is a name remembered from an earlier use."""
    text = text.strip()
    base, suffix = (text[: -len(_DISTRACTORS)], _DISTRACTORS) if text.endswith(_DISTRACTORS) else (text, "")
    if not base:
        raise DataError("file: give the path of a .csv or .jsonl file, e.g. --split file:my_problems.csv")
    if Path(base).suffix.lower() in SUFFIXES or os.sep in base or "/" in base:
        path = Path(base).expanduser()
        if path.suffix.lower() not in SUFFIXES:
            raise DataError(f"file:{base}: use a .csv file (header: question,answer[,equation,solution,id]) "
                            f"or a .jsonl file (one JSON object a line)")
        if not path.is_file():
            raise DataError(f"file:{base}: no such file (looked for {path.resolve()})")
        path = path.resolve()
        name = name_of(path)
        if "/" in name:  # pragma: no cover (a stem never holds a slash on POSIX)
            raise DataError(f"{path}: rename the file: its name becomes part of problem ids")
        _remember(name, path)
        return name + suffix
    names = registered()
    if base not in names:
        known = ", ".join(f"file:{n}" for n in sorted(names)) or "none yet"
        raise DataError(f"file:{base}: not a .csv/.jsonl path, nor a name used before (known: {known}); "
                        f"give the file's path (file:path/to/{base}.csv), or use it once "
                        f"(`mathdistill data check path/to/{base}.csv`) and the name works from then on")
    return base + suffix


def path_of(name: str) -> Path:
    """The file behind a registered name (without "+distractors")."""
    names = registered()
    if name not in names:
        raise DataError(f"file:{name}: no file is known by that name here ({registry_path()}); use its path once "
                        f"(--split file:path/to/{name}.csv, or `mathdistill data check path/to/{name}.csv`) "
                        f"and the name works from then on")
    path = Path(names[name])
    if not path.is_file():
        raise DataError(f"file:{name}: {path} is gone; use the file's new path once (--split file:NEW_PATH, "
                        f"or `mathdistill data check NEW_PATH`)")
    return path


# ---------------------------------------------------------------------------------------------
# reading and checking


def load_split(split: str) -> list[Problem]:
    """The problems of `file:{split}` (a registered name, optionally + "+distractors")."""
    base = split.removesuffix(_DISTRACTORS)
    problems, _ = read(path_of(base))
    if split.endswith(_DISTRACTORS):
        from .distractors import make_split

        return make_split(list(problems), split)
    return list(problems)


def read(path: Path) -> tuple[tuple[Problem, ...], FileReport]:
    """Problems and report of a user file; read again only when its size or mtime changes."""
    path = Path(path).resolve()
    files.note_used(path)
    st = path.stat()
    return _read(path, st.st_size, st.st_mtime_ns)


@lru_cache(maxsize=16)
def _read(path: Path, size: int, mtime_ns: int) -> tuple[tuple[Problem, ...], FileReport]:
    problems, report = parse(path)
    if report.warnings:
        logger.warning("note: %s (`mathdistill data check %s` lists every one)", report.summary(), path)
    return problems, report


def parse(path: Path, name: str | None = None) -> tuple[tuple[Problem, ...], FileReport]:
    """Read and validate every row; raise one DataError for bad rows (the first in full, the others' lines)."""
    path = Path(path)
    name = name or name_of(path)
    report = FileReport(path, name)
    problems: list[Problem] = []
    errors: list[tuple[int, str]] = []
    seen: dict[str, int] = {}
    for row_index, (line, row) in enumerate(_rows(path)):
        try:
            p = _problem(row, row_index, line, path, name)
        except _BadRow as e:
            errors.append((line, str(e)))
            continue
        if p.key in seen:
            errors.append((line, f"id {p.key!r} already used on line {seen[p.key]} (ids must be unique)"))
            continue
        seen[p.key] = line
        problems.append(p)
        _check_gold(p, line, report)
    if errors:
        line, why = errors[0]
        more = ""
        if len(errors) > 1:
            lines = ", ".join(str(n) for n, _ in errors[1:11]) + (", ..." if len(errors) > 11 else "")
            more = f" (and {len(errors) - 1} more bad row{'s' if len(errors) > 2 else ''}: line{'s' if len(errors) > 2 else ''} {lines})"
        raise DataError(f"{path}:{line}: {why}{more}")
    if not problems:
        raise DataError(f"{path}: no problems in the file (expected a header with question,answer and rows)")
    report.problems = len(problems)
    return tuple(problems), report


class _BadRow(ValueError):
    pass


def _text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value).strip()


def _problem(row: dict, row_index: int, line: int, path: Path, name: str) -> Problem:
    question = _text(row.get("question"))
    if not question:
        raise _BadRow("no question (the question column is empty)")
    raw = row.get("answer")
    solution = _text(row.get("solution")) or None
    if isinstance(raw, str) and "####" in raw:  # GSM8K style: solution, then "#### answer"
        before, _, raw = raw.rpartition("####")
        solution = solution or before.strip() or None
    if isinstance(raw, bool) or _text(raw) == "":
        raise _BadRow("no answer (the answer column is empty)")
    answer = parse_number(raw if isinstance(raw, (int, float)) else _text(raw))
    if answer is None:
        raise _BadRow(f"answer {_text(raw)!r} is not a number (write one number: 12, 12.50, 1,000, $5, 3/4, 2 1/2, 50%)")
    if solution and "####" in solution:
        solution = solution.rpartition("####")[0].strip() or None
    key = _text(row.get("id")) or str(row_index)
    equation = _text(row.get("equation")) or None
    meta = {"file": str(path), "line": line,
            **{k: v for k, v in row.items() if k not in _NOT_META and v not in (None, "")}}
    return Problem(id=f"{DATASET}/{name}/{key}", dataset=DATASET, split=name, key=key, question=question,
                   answer=answer, equation=equation, solution=solution, numbers=numbers_in(question), meta=meta)


def _check_gold(p: Problem, line: int, report: FileReport) -> None:
    if not p.equation:
        if not p.solution:
            report.without_gold.append((line, p.id))
        return
    report.with_equation += 1
    why = equation_problem(p.equation, p.answer)
    if why:
        report.equation_mismatch.append((line, p.id, why))


def equation_problem(equation: str, answer: float) -> str | None:
    """Why an equation does not reproduce the answer, or None when it does."""
    from ..answers import compare
    from ..equations import solve_text

    text = equation if "=" in equation else f"ans = {equation}"
    try:
        result = solve_text(text)
    except Exception as e:  # noqa: BLE001 (a user's text: any failure is a warning, not a crash)
        return f"equation {equation!r} cannot be read ({e.__class__.__name__}: {e})"
    if result.value is None:
        return f"equation {equation!r} cannot be solved ({result.reason})"
    value = float(result.value)
    if not compare(value, answer).match:
        return f"equation {equation!r} gives {value:g}, the answer is {answer:g}"
    return None


def _rows(path: Path) -> Iterator[tuple[int, dict]]:
    """(line, row with lower-case keys) for every non-blank row of a CSV or JSONL file."""
    suffix = path.suffix.lower()
    try:
        if suffix == ".csv":
            yield from _csv_rows(path)
        elif suffix == ".jsonl":
            for line, obj in read_jsonl(path):
                if not isinstance(obj, dict):
                    raise DataError(f"{path}:{line}: expected a JSON object with question and answer, "
                                    f"got {type(obj).__name__}")
                yield line, {str(k).strip().lower(): v for k, v in obj.items()}
        else:
            raise DataError(f"{path}: use a .csv or .jsonl file")
    except UnicodeDecodeError as e:
        raise DataError(f"{path}: not UTF-8 text at byte {e.start}; save it as UTF-8 (Excel: CSV UTF-8)") from None


def _csv_rows(path: Path) -> Iterator[tuple[int, dict]]:
    with open(path, encoding="utf-8-sig", newline="") as f:
        first = f.readline()
        f.seek(0)
        # a spreadsheet saved with ; or tab between columns (no comma in the header)
        delimiter = next((d for d in (",", ";", "\t") if d in first), ",")
        reader = csv.reader(f, delimiter=delimiter)
        try:
            header = [h.strip().lower() for h in next(reader)]
        except StopIteration:
            raise DataError(f"{path}: empty file (expected a header with question,answer and rows)") from None
        except csv.Error as e:
            raise DataError(f"{path}:1: {e}") from None
        missing = [c for c in ("question", "answer") if c not in header]
        if missing:
            raise DataError(f"{path}:1: the header has no {' and no '.join(missing)} column "
                            f"(it has: {', '.join(h for h in header if h) or 'nothing'}); the first row must name "
                            f"the columns: question,answer[,equation,solution,id]")
        previous = reader.line_num
        while True:
            start = previous + 1
            try:
                fields = next(reader)
            except StopIteration:
                return
            except csv.Error as e:
                raise DataError(f"{path}:{start}: {e}") from None
            previous = reader.line_num
            if not any(x.strip() for x in fields):
                continue
            if len(fields) > len(header):
                raise DataError(f"{path}:{start}: {len(fields)} fields but the header has {len(header)} "
                                f"(put a question or answer that contains commas in double quotes)")
            fields += [""] * (len(header) - len(fields))
            yield start, {h: v for h, v in zip(header, fields) if h}
