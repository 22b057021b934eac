"""Program-of-Thought: a Python program whose result is the answer. It runs only in the sandbox
(`mathdistill.sandbox`); here is just how the program is cut out of a model's reply."""

from __future__ import annotations

import re

_FENCE = re.compile(r"```[ \t]*(?:python|py|python3)?[ \t]*\n(.*?)(?:```|\Z)", re.S | re.I)
MAX_PROGRAM_CHARS = 20_000


def extract_program(text: str) -> str:
    """The code in a reply: the first fenced block if there is one, else the whole text."""
    m = _FENCE.search(text)
    code = m.group(1) if m else text
    return code.strip("\n")[:MAX_PROGRAM_CHARS]
