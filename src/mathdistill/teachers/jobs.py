"""`mathdistill generate`: teacher x split x thoughts x samples -> raw rationale JSONL.

The output is an append-only log, one record per completion, written and flushed as soon as it
arrives. A rerun reads the log, skips every (id, thought, sample) already there and generates
the rest, so a job killed at any moment (even SIGKILL) loses at most the requests in flight and
never writes a duplicate. Jobs run thought by thought so a local server keeps reusing the cached
few-shot prefix of the current thought.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Callable, Literal

from pydantic import Field

from .. import datasets as ds
from ..config import THOUGHT, opt, validated
from ..jsonl import JsonlAppender, iter_jsonl_tolerant
from ..thoughts import THOUGHTS, teacher_messages


@dataclass
class GenerateConfig:
    teacher: Literal["gold", "openai", "llamacpp"] = opt("gold", help="who writes the rationales")
    model: str | None = opt(None, help="openai: model name; llamacpp: registry name or .gguf path")
    base_url: str | None = opt(None, help="openai: endpoint, e.g. http://localhost:8000/v1")
    api_key_env: str = opt("OPENAI_API_KEY", help="openai: environment variable holding the API key")
    splits: list[str] = opt(factory=lambda: ["mawps-asdiv-a:train"], flags="--split", help="DATASET:SPLIT")
    thoughts: list[THOUGHT] = opt(factory=lambda: list(THOUGHTS), sep=",", help="thoughts to write")
    samples: Annotated[int, Field(ge=1)] = opt(1, help="samples per problem and thought")
    limit: Annotated[int, Field(ge=1)] | None = opt(None, help="first N problems of each split")
    shots: Annotated[int, Field(ge=0)] = opt(4, help="few-shot exemplars in the teacher prompt")
    temperature: Annotated[float, Field(ge=0)] = 0.0
    max_tokens: Annotated[int, Field(ge=1)] = 400
    concurrency: Annotated[int, Field(ge=1)] = opt(4, help="parallel requests (llamacpp serves one at a time)")
    seed: int = 0
    n_ctx: Annotated[int, Field(ge=256)] = 4096
    threads: Annotated[int, Field(ge=1)] | None = opt(None, help="llamacpp: CPU threads of the server (default: all)")
    out: str = opt("runs/generate/rationales.jsonl", help="raw rationale JSONL (appended, resumable)")

    def validate(self) -> None:
        if self.teacher == "openai" and not (self.base_url and self.model):
            raise ValueError("teacher openai needs base_url and model")
        if self.teacher == "llamacpp" and not self.model:
            raise ValueError("teacher llamacpp needs model (a registry name such as qwen2.5-coder-1.5b, or a .gguf)")


def _problems(cfg: GenerateConfig) -> list[ds.Problem]:
    out = []
    for spec in cfg.splits:
        problems = ds.load(spec)
        out += problems[: cfg.limit] if cfg.limit else problems
    return out


def pending_jobs(cfg: GenerateConfig, problems: list[ds.Problem], done: set) -> list[tuple[ds.Problem, str, int]]:
    return [(p, t, s) for t in cfg.thoughts for p in problems for s in range(cfg.samples) if (p.id, t, s) not in done]


def done_keys(path: Path) -> set[tuple[str, str, int]]:
    return {(r["id"], r["thought"], int(r.get("sample", 0))) for r in iter_jsonl_tolerant(path)}


@dataclass
class GenerateStats:
    already_done: int
    generated: int
    tokens: int
    seconds: float  # summed request time (teacher-side latency)
    wall_seconds: float

    @property
    def tokens_per_second(self) -> float:
        return self.tokens / self.seconds if self.seconds else 0.0


def run_generate(cfg: GenerateConfig, progress: Callable[[int, int], object] | None = None) -> GenerateStats:
    """Generate what is missing from cfg.out. `progress(total, initial)` returns a bar with update()."""
    validated(cfg)
    out = Path(cfg.out)
    problems = _problems(cfg)
    done = done_keys(out)
    jobs = pending_jobs(cfg, problems, done)
    already = len(problems) * len(cfg.thoughts) * cfg.samples - len(jobs)
    bar = progress(len(jobs) + already, already) if progress else None
    start = time.perf_counter()
    with JsonlAppender(out) as log:
        if cfg.teacher == "gold":
            tokens, seconds, made = _run_gold(jobs, log, bar)
        else:
            tokens, seconds, made = asyncio.run(_run_llm(cfg, jobs, log, bar))
    if bar is not None:
        bar.close()
    out.with_suffix(".stats.json").write_text(json.dumps(log_stats(out), indent=2))
    return GenerateStats(already, made, tokens, seconds, time.perf_counter() - start)


def log_stats(path: Path) -> dict:
    """Throughput per thought over the whole log (all runs that appended to it)."""
    per: dict = {}
    for r in iter_jsonl_tolerant(path):
        row = per.setdefault(r["thought"], {"records": 0, "tokens": 0, "seconds": 0.0, "empty": 0})
        row["records"] += 1
        row["tokens"] += r.get("tokens") or 0
        row["seconds"] += r.get("seconds") or 0.0
        row["empty"] += not r.get("text", "").strip()
    for row in per.values():
        row["seconds"] = round(row["seconds"], 1)
        row["tokens_per_s"] = round(row["tokens"] / row["seconds"], 2) if row["seconds"] else None
        row["seconds_per_record"] = round(row["seconds"] / row["records"], 2) if row["records"] else None
    return per


def _run_gold(jobs, log: JsonlAppender, bar) -> tuple[int, float, int]:
    from .gold import convert

    made = 0
    for p, thought, sample in jobs:
        rationales, failed = convert(p, (thought,))
        record = {"id": p.id, "thought": thought, "sample": sample, "teacher": "gold"}
        if rationales:
            record["text"] = rationales[0].text
        else:  # logged too, so a rerun does not retry what cannot be converted
            record.update(text="", error=failed.get(thought, "not convertible"))
        log.write(record)
        made += 1
        if bar is not None:
            bar.update(1)
    return 0, 0.0, made


async def _run_llm(cfg: GenerateConfig, jobs, log: JsonlAppender, bar) -> tuple[int, float, int]:
    from .openai_compat import OpenAICompatTeacher

    server_ctx = contextlib.nullcontext()
    base_url, model_name, concurrency = cfg.base_url, cfg.model, cfg.concurrency
    if cfg.teacher == "llamacpp":
        from .llamacpp import LlamaCppServer

        gguf = _gguf_path(cfg.model)
        server_ctx = LlamaCppServer(gguf, n_ctx=cfg.n_ctx, n_threads=cfg.threads, log_path=Path(cfg.out).with_suffix(".server.log"))
        model_name, concurrency = gguf.stem, 1
    totals = {"tokens": 0, "seconds": 0.0, "made": 0}
    with server_ctx as server:
        if server is not None:
            base_url = server.base_url
        teacher = OpenAICompatTeacher(base_url=base_url, model=model_name, api_key_env=cfg.api_key_env,
                                      concurrency=concurrency, max_tokens=cfg.max_tokens,
                                      temperature=cfg.temperature, seed=cfg.seed)
        queue: asyncio.Queue = asyncio.Queue()
        for job in jobs:
            queue.put_nowait(job)

        async def worker() -> None:
            while True:
                try:
                    p, thought, sample = queue.get_nowait()
                except asyncio.QueueEmpty:
                    return
                c = await teacher.complete(teacher_messages(p.question, thought, cfg.shots), sample)
                log.write({"id": p.id, "thought": thought, "sample": sample, "text": c.text,
                           "teacher": f"{cfg.teacher}:{model_name}", "tokens": c.tokens,
                           "seconds": round(c.seconds, 3), "finish_reason": c.finish_reason})
                totals["tokens"] += c.tokens or 0
                totals["seconds"] += c.seconds
                totals["made"] += 1
                if bar is not None:
                    bar.update(1)

        async with teacher:
            await asyncio.gather(*(worker() for _ in range(max(1, concurrency))))
    return totals["tokens"], totals["seconds"], totals["made"]


def _gguf_path(model: str) -> Path:
    path = Path(model)
    if path.suffix == ".gguf":
        return path
    from ..models import resolve_gguf

    return resolve_gguf(model)
