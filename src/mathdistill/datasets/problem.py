"""The one record every benchmark is loaded into."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field

from ..answers import parse_number


class DataError(Exception):
    """Data could not be located or read. The message says which file/line and what to do."""


@dataclass(frozen=True)
class Problem:
    id: str  # "{dataset}/{split}/{key}" (contract)
    dataset: str
    split: str
    key: str
    question: str
    answer: float
    # Gold arithmetic expression over the literal numbers (infix, no "x="), when the dataset has one.
    equation: str | None = None
    # Gold worked solution in prose (GSM8K), when the dataset has one.
    solution: str | None = None
    # The numbers that appear in the question, in order of appearance.
    numbers: tuple[float, ...] = ()
    meta: dict = field(default_factory=dict, hash=False, compare=False)

    def to_json(self) -> dict:
        d = asdict(self)
        d["numbers"] = list(self.numbers)
        return d


_NUMBER_IN_TEXT = re.compile(r"(?<![A-Za-z0-9_.])-?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?%?|(?<![A-Za-z0-9_.])\.\d+")


def numbers_in(text: str) -> tuple[float, ...]:
    """Numbers as they appear in a question ("1,000" -> 1000, "50%" -> 50)."""
    out = []
    for tok in _NUMBER_IN_TEXT.findall(text):
        value = parse_number(tok)
        if value is not None:
            out.append(value)
    return tuple(out)


def tidy_text(text: str) -> str:
    """Undo the tokenisation some files carry ("books , how" -> "books, how")."""
    text = re.sub(r"\s+([.,?!;:'])", r"\1", text)
    text = re.sub(r"\$\s+(\d)", r"$\1", text)
    return re.sub(r"\s+", " ", text).strip()


def fmt_number(x: float) -> str:
    """Render a number the way it appears in a question: 56.0 -> "56", 0.5 -> "0.5"."""
    if float(x).is_integer():
        return str(int(x))
    return repr(float(x))


def require_number(value: object, where: str) -> float:
    """Parse a gold answer or fail with the location."""
    number = parse_number(value)
    if number is None:
        raise DataError(f"{where}: answer {value!r} is not a number")
    return number
