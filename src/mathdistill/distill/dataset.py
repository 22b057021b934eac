"""`mathdistill build-dataset`: raw rationales -> the verified ETD training set.

1. read the raw logs (records a teacher failed to produce are counted, not kept);
2. refuse every problem whose question appears in an evaluation split, as the same normalised
   text or as a near duplicate (`datasets.text.ContaminationGuard`; counts and reasons reported);
3. verify every rationale with the scoring machinery (CoT with the *strict* policy: training
   targets must state their answer explicitly; PoT in the sandbox; EoT with the solver);
4. keep the correct ones, drop duplicates (same problem, thought and normalised text);
5. attach each thought's student instruction and write JSONL that
   `datasets.load_dataset("json", data_files=...)` reads: id, thought, teacher, question,
   instruction, prompt, completion, answer.

A report (yield per thought and teacher, and why rejects failed) is printed and saved next to
the output as `<out>.report.json`.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from dataclasses import dataclass
from typing import Annotated

from pydantic import Field
from pathlib import Path

from .. import datasets as ds
from ..config import POLICY, THOUGHT, opt
from ..datasets.text import ContaminationGuard
from ..jsonl import RecordError, iter_jsonl_tolerant
from ..rationales import Rationale, parse_record
from ..thoughts import INSTRUCTIONS, THOUGHTS, student_prompt
from ..verify import verify


@dataclass
class BuildConfig:
    inputs: list[str] = opt(factory=lambda: ["runs/generate/rationales.jsonl"], flags=("--input", "-i"),
                            help="raw rationale JSONL")
    out: str = opt("runs/etd/train.jsonl", help="the ETD training set (JSONL)")
    thoughts: list[THOUGHT] = opt(factory=lambda: list(THOUGHTS), sep=",", help="thoughts to keep")
    eval_splits: list[str] = opt(factory=lambda: list(ds.EVAL_SPLITS), flags="--eval-split",
                                 help="splits whose questions may not be trained on")
    cot_policy: POLICY = opt("strict", help="CoT answer extraction for training targets")
    workers: Annotated[int, Field(ge=1)] | None = None


def _splits_of(ids) -> list[str]:
    specs = set()
    for pid in ids:
        parts = pid.split("/")
        if len(parts) < 3:
            raise RecordError(f"bad problem id {pid!r}: expected dataset/split/key")
        specs.add(f"{parts[0]}:{parts[1]}")
    return sorted(specs)


def build_dataset(cfg: BuildConfig, progress=None) -> dict:
    records: list[Rationale] = []
    failed_generation: Counter = Counter()
    for path in map(Path, cfg.inputs):
        if not path.exists():
            raise RecordError(f"{path}: no such file")
        for i, obj in enumerate(iter_jsonl_tolerant(path)):
            r = parse_record(obj, f"{path}: record {i + 1}")
            if r.thought not in cfg.thoughts:
                continue
            if not r.text.strip():
                failed_generation[(r.thought, r.extra.get("teacher", "?"))] += 1
                continue
            records.append(r)
    problems = ds.by_id(ds.load_many(_splits_of({r.id for r in records})))

    guard = ContaminationGuard(ds.load_many(cfg.eval_splits))
    eval_specs = {":".join(ds.parse_spec(spec)) for spec in cfg.eval_splits}  # file:/x/shop.csv -> file:shop
    why: Counter = Counter()
    contaminated = set()
    for pid in sorted({r.id for r in records}):
        p = problems[pid]
        hit = "in an evaluation split" if f"{p.dataset}:{p.split}" in eval_specs else guard.match(p.question, pid)
        if hit:
            contaminated.add(pid)
            why[hit if isinstance(hit, str) else hit.how.split(" (")[0]] += 1
    clean = [r for r in records if r.id not in contaminated]

    verdicts = verify(clean, problems, policy=cfg.cot_policy, workers=cfg.workers, progress=progress)
    rows, seen = [], set()
    stats: dict = defaultdict(lambda: Counter())
    for r, v in zip(clean, verdicts):
        key = (r.thought, r.extra.get("teacher", "?"))
        stats[key]["total"] += 1
        if not v.correct:
            stats[key][f"rejected: {v.reason.split(':')[0]}"] += 1
            continue
        dedup = (r.id, r.thought, " ".join(r.text.split()))
        if dedup in seen:
            stats[key]["duplicate"] += 1
            continue
        seen.add(dedup)
        stats[key]["kept"] += 1
        p = problems[r.id]
        rows.append({"id": r.id, "thought": r.thought, "teacher": key[1], "question": p.question,
                     "instruction": INSTRUCTIONS[r.thought], "prompt": student_prompt(p.question, r.thought),
                     "completion": r.text.strip(), "answer": p.answer})
    for key, n in failed_generation.items():
        stats[key]["generation failed"] += n
        stats[key]["total"] += n

    out = Path(cfg.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp")
    tmp.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows), encoding="utf-8")
    tmp.replace(out)
    report = {
        "out": str(out), "rows": len(rows), "problems": len({r["id"] for r in rows}),
        "contaminated_problems_refused": len(contaminated & {r.id for r in records}),
        "contamination_reasons": dict(why),
        "rows_by_split": dict(Counter(row["id"].rsplit("/", 1)[0].replace("/", ":") for row in rows)),
        "cot_policy": cfg.cot_policy,
        "by_thought_teacher": {f"{t}|{teacher}": {"total": c["total"], "kept": c["kept"],
                                                 "yield": round(c["kept"] / c["total"], 4) if c["total"] else 0.0,
                                                 "losses": {k: v for k, v in c.items() if k not in ("total", "kept")}}
                               for (t, teacher), c in sorted(stats.items())},
    }
    out.with_suffix(".report.json").write_text(json.dumps(report, indent=2))
    return report
