"""The on-disk cache of pre-trained teacher states, one entry per question (keyed by its token ids).

    <cache_dir>/<teacher>-top<k>/part-00000.pt, part-00001.pt, ...   float16 tensors
    <cache_dir>/<teacher>-top<k>/.lock                                held while a process encodes

Shards of one run share the cache: the first to need a question encodes it under the lock (a
``filelock.FileLock``, released when the process dies); the others wait, then read its parts.
"""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

import torch
from filelock import FileLock

from .examples import Example
from .teacher import hidden_states


def question_key(input_ids: list[int]) -> str:
    """The cache key of a question: a digest of its token ids (int32 bytes, as the parts on disk use)."""
    return hashlib.sha1(torch.tensor(input_ids, dtype=torch.int32).numpy().tobytes()).hexdigest()


class TeacherCache:
    """Pre-trained teacher states per question, keyed by its token ids, on disk in parts.

    ``final`` is the last hidden state; ``base`` (only where asked) the state entering the top
    ``below_top`` layers, which fine-tuning those layers starts from.  Parts are written every
    ``part_size`` questions, so a killed encoding job loses at most one part.  float16 on disk.
    """

    def __init__(self, teacher_name: str, encoder, pad_id: int, cache_dir: str, below_top: int,
                 part_size: int = 512, log=print) -> None:
        self.encoder, self.pad_id, self.below_top, self.part_size, self.log = encoder, pad_id, below_top, part_size, log
        self.dir = Path(cache_dir) / f"{teacher_name.replace('/', '_')}-top{below_top}"
        self.final: dict[str, torch.Tensor] = {}
        self.base: dict[str, torch.Tensor] = {}
        self._loaded: set[str] = set()
        self._load_parts()

    def _load_parts(self) -> None:
        for part in sorted(self.dir.glob("part-*.pt")):
            if part.name not in self._loaded:
                data = torch.load(part)
                self.final.update(data["final"])
                self.base.update(data["base"])
                self._loaded.add(part.name)

    def _todo(self, examples: list[Example], with_base: bool) -> list[Example]:
        todo, seen = [], set()
        for e in examples:
            k = question_key(e.input_ids)
            if k not in seen and (k not in self.final or (with_base and k not in self.base)):
                todo.append(e)
                seen.add(k)
        return todo

    def ensure(self, examples: list[Example], with_base: bool, batch_size: int = 32) -> None:
        """Encode the questions of ``examples`` the cache does not hold yet (``base`` too if asked)."""
        if not self._todo(examples, with_base):
            return
        self.dir.mkdir(parents=True, exist_ok=True)
        with FileLock(self.dir / ".lock"):
            self._load_parts()  # another shard may have encoded them while we waited
            todo = self._todo(examples, with_base)
            if todo:
                self._encode(todo, with_base, batch_size)

    def _encode(self, todo: list[Example], with_base: bool, batch_size: int) -> None:
        from tqdm import tqdm

        self.encoder.eval()
        todo.sort(key=lambda e: len(e.input_ids))  # similar lengths batch with little padding
        start, n_parts = time.time(), len(list(self.dir.glob("part-*.pt")))
        bar = tqdm(total=len(todo), desc="teacher encoding", unit="q")
        for lo in range(0, len(todo), self.part_size):
            part: dict[str, dict[str, torch.Tensor]] = {"final": {}, "base": {}}
            for b in range(lo, min(lo + self.part_size, len(todo)), batch_size):
                chunk = todo[b : b + batch_size]
                length = max(len(e.input_ids) for e in chunk)
                ids = torch.full((len(chunk), length), self.pad_id, dtype=torch.long)
                mask = torch.zeros_like(ids)
                for i, e in enumerate(chunk):
                    ids[i, : len(e.input_ids)] = torch.tensor(e.input_ids)
                    mask[i, : len(e.input_ids)] = 1
                base, final = hidden_states(self.encoder, ids, mask, self.below_top)
                for i, e in enumerate(chunk):
                    k, n = question_key(e.input_ids), len(e.input_ids)
                    part["final"][k] = final[i, :n].half().clone()
                    if with_base:
                        part["base"][k] = base[i, :n].half().clone()
                bar.update(len(chunk))
            self.dir.mkdir(parents=True, exist_ok=True)
            tmp = self.dir / f"part-{n_parts:05d}.pt.tmp"
            torch.save(part, tmp)
            tmp.rename(self.dir / f"part-{n_parts:05d}.pt")
            self._loaded.add(f"part-{n_parts:05d}.pt")
            n_parts += 1
            self.final.update(part["final"])
            self.base.update(part["base"])
        bar.close()
        self.log(f"teacher encoded {len(todo)} questions in {time.time() - start:.0f}s")

    def vectors(self, examples: list[Example], which: str = "final") -> list[torch.Tensor]:
        store = self.final if which == "final" else self.base
        return [store[question_key(e.input_ids)] for e in examples]


def cached_vectors(teacher_name: str, encoder, examples: list[Example], pad_id: int, cache_dir: str,
                   log=print, below_top: int = 2) -> list[torch.Tensor]:
    """Pre-trained teacher vectors (last hidden states) of ``examples``, through the shared cache."""
    cache = TeacherCache(teacher_name, encoder, pad_id, cache_dir, below_top, log=log)
    cache.ensure(examples, with_base=False)
    return cache.vectors(examples)
