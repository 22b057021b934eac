"""Problem counts of every split without loading it: what `mathdistill data list` prints.

Loading every split (with its `+distractors` variant) takes a minute; the counts only change when a
data file or the loading code changes. So each count is stored in `$MATHDISTILL_CACHE/split_counts.json`
with the size and mtime of every file the split was read from, a digest of the loaders' source and
the data root; a count is used while all of them are unchanged, and the split is loaded (once) otherwise.
"""

from __future__ import annotations

import hashlib
import json
import os
from functools import lru_cache
from pathlib import Path
from typing import Callable, Iterator

from . import files
from .problem import DataError

CACHE_FILE = "split_counts.json"


@lru_cache(maxsize=1)
def code_digest() -> str:
    """Digest of the code that decides what a split holds: this package and the answer policy."""
    here = Path(__file__).resolve().parent
    h = hashlib.sha256()
    for path in sorted(here.glob("*.py")) + [here.parent / "answers.py"]:
        h.update(path.name.encode())
        h.update(path.read_bytes())
    return h.hexdigest()[:16]


def _stamp(path: str) -> list[int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return [st.st_size, st.st_mtime_ns]


def cache_path() -> Path:
    return files.cache_dir() / CACHE_FILE


def _identity() -> dict:
    return {"code": code_digest(), "roots": [str(r) for r in files.roots()]}


def _read_cache() -> dict:
    try:
        cache = json.loads(cache_path().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(cache, dict) or any(cache.get(k) != v for k, v in _identity().items()):
        return {}
    return cache.get("splits", {}) if isinstance(cache.get("splits"), dict) else {}


def _write_cache(entries: dict) -> None:
    target = cache_path()
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f"{target.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps({**_identity(), "splits": entries}, indent=1, sort_keys=True))
        tmp.replace(target)
    except OSError:
        pass  # a read-only cache only costs speed


def _fresh(entry: object) -> bool:
    """A cached entry whose files all still have the recorded size and mtime."""
    if not isinstance(entry, dict) or not isinstance(entry.get("count"), int) or not entry.get("files"):
        return False
    return all(_stamp(path) == stamp for path, stamp in entry["files"].items())


def split_counts(specs: list[tuple[str, str]], loader: Callable[[str, str], list] | None = None,
                 on_load: Callable[[str], object] | None = None) -> Iterator[tuple[str, int | DataError]]:
    """(spec, count or the DataError that loading it raised) for each (dataset, split), in order.

    Counts come from the cache while their files are unchanged; other splits are loaded with
    `loader(name, split)` (default `datasets.load`), `on_load(spec)` being called first."""
    from . import load, sources

    loader = loader or load
    cache = _read_cache()
    for name, split in specs:
        spec = f"{name}:{split}"
        entry = cache.get(spec)
        if _fresh(entry):
            yield spec, entry["count"]
            continue
        if on_load:
            on_load(spec)
        try:
            with files.recording() as used:
                count = len(loader(name, split))
        except DataError as e:
            yield spec, e
            continue
        used |= sources(name, split)  # files read by an earlier load in this process
        stamps = {str(p): _stamp(str(p)) for p in used}
        if stamps and None not in stamps.values():
            cache[spec] = {"count": count, "files": stamps}
            _write_cache(cache)
        yield spec, count
