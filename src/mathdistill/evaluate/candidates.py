"""`mathdistill sample`: k candidates per thought per problem at a temperature, each verified and labelled.

The first part of a learned verifier (issue 18): the student writes k rationales of every thought
for every problem, sampled at `temperature`, and each is graded against the gold answer by the
project's one grader (`verify`: CoT extraction, PoT in the sandbox, EoT through the solver). A
label is `verify`'s verdict and nothing else, so a wrong candidate is never labelled right.

    <out>/candidates.jsonl  one row per (id, thought, sample): the text, the answer, correct (bool),
                            the reason, the verification's work and detail (PoT: stdout; EoT: the
                            solver and the solved values; CoT: the extraction rule; the program or
                            system itself is left out: `thoughts.pot.extract_program(text)` gives it)
    <out>/summary.json      per split and thought: fraction correct, pass@k (any of the k right),
                            the agreement-count baseline (the majority answer among all of a
                            problem's candidates), the cost in generations per problem; the config
                            and the exact command

Rows are appended as chunks finish, so a killed run resumes: rows already present are skipped.
Candidate j of (problem, thought) is sampled with its own seed, a hash of (seed, id, thought, j),
and the backends sample each prompt from its own seeded stream, so a row's text depends on
neither the chunking, nor the batch, nor where a resume restarted; and a larger k keeps the
candidates of a smaller one. A file of other weights, temperature, seed, token budget or CoT
policy is refused (the error names it), never mixed in.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Annotated

from pydantic import Field

from .. import datasets as ds
from ..answers import answers_match, parse_number
from ..config import opt, validated
from ..distill.student import use_bf16
from ..jsonl import JsonlAppender, RecordError, iter_jsonl_tolerant
from ..machine import describe as describe_machine
from ..rationales import Rationale
from ..thoughts import student_prompt
from ..verify import verify_with_work
from . import backends
from .run import CHUNK, GenerationConfig, _backend_options, _problems, model_fingerprint
from .vote import PRIORITY

FILE = "candidates.jsonl"
SUMMARY = "summary.json"
# a row must agree with the run on these, or the file is another run's (the error says which)
RUN_KEYS = ("fingerprint", "temperature", "seed", "max_new_tokens", "policy")
# verification detail that repeats the text (the program, the equations): left out of the rows
_REPEATS_TEXT = ("program", "equations")


@dataclass
class SampleConfig(GenerationConfig):
    k: Annotated[int, Field(ge=1)] = opt(8, help="candidates per thought per problem")
    temperature: Annotated[float, Field(ge=0)] = opt(0.7, help="sampling temperature (0: greedy; then k must be 1)")
    seed: int = opt(0, help="sampling seed: candidate j of (problem, thought) draws from a hash of "
                            "(seed, id, thought, j)")
    out: str = opt("runs/sample/smollm2-etd", help="directory for candidates.jsonl and summary.json")

    def validate(self) -> None:
        super().validate()
        if self.temperature == 0 and self.k > 1:
            raise ValueError(f"k={self.k} at temperature 0 would write the same greedy text {self.k} times; "
                             "give a temperature > 0 or k=1")


def candidate_seed(seed: int, problem_id: str, thought: str, j: int) -> int:
    """The seed of candidate j of (problem, thought): stable across runs, machines and chunkings,
    and below 2**31 so every server's "seed" field takes it."""
    digest = hashlib.sha256(f"{seed}\x00{problem_id}\x00{thought}\x00{j}".encode()).digest()
    return int.from_bytes(digest[:4], "big") >> 1


def _run_values(cfg: SampleConfig, fingerprint: str) -> dict:
    return {"fingerprint": fingerprint, "temperature": cfg.temperature, "seed": cfg.seed,
            "max_new_tokens": cfg.max_new_tokens, "policy": cfg.policy}


def read_done(path: Path, run: dict) -> set[tuple[str, str, int]]:
    """(id, thought, sample) of the rows already in `path`; a row of another run is an error."""
    done = set()
    for r in iter_jsonl_tolerant(path):
        theirs = {key: r.get(key) for key in RUN_KEYS}
        if theirs != run:
            diff = ", ".join(f"{key} {theirs[key]!r} (this run: {run[key]!r})" for key in RUN_KEYS
                             if theirs[key] != run[key])
            raise RecordError(f"{path}: the row of {r.get('id')!r} {r.get('thought')} sample {r.get('sample')} "
                              f"belongs to another run: {diff}; sample into a new --out or delete that file")
        done.add((r["id"], r["thought"], r["sample"]))
    return done


def candidate_rows(jobs: Sequence[tuple[str, ds.Problem, str, int]], texts: Sequence[str],
                   problems: dict[str, ds.Problem], policy: str, workers: int | None = None,
                   sandbox=None) -> list[dict]:
    """One labelled row per generated text: `verify`'s verdict against the gold answer, and the work."""
    records = [Rationale(p.id, t, text) for (_, p, t, _), text in zip(jobs, texts)]
    graded = verify_with_work(records, problems, policy=policy, workers=workers, sandbox=sandbox)
    rows = []
    for (spec, p, t, j), text, (verdict, produced) in zip(jobs, texts, graded):
        rows.append({"id": p.id, "split": spec, "thought": t, "sample": j, "text": text,
                     "answer": verdict.answer, "correct": verdict.correct, "reason": verdict.reason,
                     "work": produced.work,
                     "detail": {k: v for k, v in produced.detail.items() if k not in _REPEATS_TEXT}})
    return rows


def generate_candidates(cfg: SampleConfig, problems: dict[str, list[ds.Problem]],
                        progress: Callable[[int, int], object] | None = None) -> dict:
    """Sample, verify and append the candidates not yet in candidates.jsonl; returns counts and speed."""
    path = Path(cfg.out) / FILE
    run = _run_values(cfg, model_fingerprint(cfg.model))
    done = read_done(path, run)
    # thought-major, as evaluate: a batch holds one thought, whose texts have similar lengths
    jobs = [(spec, p, t, j) for t in cfg.thoughts for spec, ps in problems.items() for p in ps
            for j in range(cfg.k) if (p.id, t, j) not in done]
    total = sum(len(ps) for ps in problems.values()) * len(cfg.thoughts) * cfg.k
    stats: dict = {"generated": len(jobs), "already_done": total - len(jobs), "seconds": 0.0}
    if not jobs:
        return stats
    by_id = {p.id: p for ps in problems.values() for p in ps}
    backend = backends.open_backend(cfg.backend, cfg.model, **_backend_options(cfg))
    sandbox = None
    bar = progress(total, total - len(jobs)) if progress else None
    start = time.perf_counter()
    try:
        if "pot" in cfg.thoughts:  # one sandbox for the run, not one per chunk
            from ..sandbox import Sandbox

            sandbox = Sandbox(workers=cfg.workers)
        with JsonlAppender(path) as log:
            for i in range(0, len(jobs), CHUNK):
                part = jobs[i: i + CHUNK]
                texts = backend.generate([student_prompt(p.question, t) for _, p, t, _ in part], cfg.max_new_tokens,
                                         progress=bar.update if bar else None, temperature=cfg.temperature,
                                         seeds=[candidate_seed(cfg.seed, p.id, t, j) for _, p, t, j in part])
                rows = candidate_rows(part, texts, by_id, cfg.policy, cfg.workers, sandbox)
                log.write_many({**row, "model": cfg.model, "backend": cfg.backend, **run} for row in rows)
    finally:
        backend.close()
        if sandbox is not None:
            sandbox.close()
        if bar:
            bar.close()
    elapsed = time.perf_counter() - start
    stats["seconds"] = round(elapsed, 1)
    stats["generations_per_second"] = round(len(jobs) / elapsed, 3)
    return stats


# ---------------------------------------------------------------------------------------------
# the summary


def majority(candidates: Sequence[dict]) -> dict:
    """The answer most candidates agree on (agreement as in grading: `answers_match`), and its label.

    Candidates without a readable number do not vote. Ties go to the group opened first, with the
    candidates in `vote.PRIORITY` order of their thought (EoT > PoT > CoT), then sample order, as
    `evaluate`'s vote breaks them. The group's answer is its first candidate's, and so is its
    label: the verdict `verify` gave that very answer.
    """
    rank = {t: i for i, t in enumerate(PRIORITY)}
    valid = sorted((c for c in candidates if c.get("answer") is not None and parse_number(c["answer"]) is not None),
                   key=lambda c: (rank.get(c["thought"], len(rank)), c["sample"]))
    groups: list[list[dict]] = []
    for c in valid:
        for g in groups:
            if answers_match(c["answer"], g[0]["answer"]):
                g.append(c)
                break
        else:
            groups.append([c])
    if not groups:
        return {"answer": None, "support": 0, "voters": 0, "correct": False}
    best = max(groups, key=len)  # the first of equal sizes
    return {"answer": best[0]["answer"], "support": len(best), "voters": len(valid),
            "correct": bool(best[0]["correct"])}


def summarize_candidates(rows: Iterable[dict], thoughts: Sequence[str], k: int,
                         wanted: dict[str, set[str]] | None = None) -> dict:
    """Per split: per-thought fraction correct, pass@k and majority; pass@k over all thoughts; the
    agreement-count baseline. Counts the candidates j < k of `thoughts` (of the `wanted` ids of
    each split, when given); a problem missing any of them is left out and counted as incomplete."""
    by_split: dict[str, dict[str, dict[str, dict[int, dict]]]] = defaultdict(lambda: defaultdict(
        lambda: defaultdict(dict)))
    for r in rows:
        if r["thought"] in thoughts and r["sample"] < k and (wanted is None or r["id"] in wanted.get(r["split"], ())):
            by_split[r["split"]][r["id"]][r["thought"]][r["sample"]] = r
    splits = list(wanted) if wanted is not None else list(by_split)
    return {spec: _split_summary(by_split.get(spec, {}), thoughts, k) for spec in splits}


def _block(correct: int, n: int) -> dict:
    return {"n": n, "correct": correct, "accuracy": round(correct / n, 4) if n else 0.0}


def _split_summary(problems: dict[str, dict[str, dict[int, dict]]], thoughts: Sequence[str], k: int) -> dict:
    complete = {pid: {t: [by_t[t][j] for j in range(k)] for t in thoughts}
                for pid, by_t in problems.items() if all(len(by_t.get(t, {})) == k for t in thoughts)}
    n = len(complete)
    by_thought = {}
    for t in thoughts:
        cands = [c for ts in complete.values() for c in ts[t]]
        by_thought[t] = {"candidates": _block(sum(c["correct"] for c in cands), len(cands)),
                         "pass_at_k": _block(sum(any(c["correct"] for c in ts[t]) for ts in complete.values()), n),
                         "majority": _block(sum(majority(ts[t])["correct"] for ts in complete.values()), n)}
    votes = [majority([c for t in thoughts for c in ts[t]]) for ts in complete.values()]
    every = [c for ts in complete.values() for t in thoughts for c in ts[t]]
    return {"problems": n, "incomplete": len(problems) - n, "k": k,
            "generations_per_problem": k * len(thoughts),
            "by_thought": by_thought,
            "candidates": _block(sum(c["correct"] for c in every), len(every)),
            "pass_at_k": _block(sum(any(c["correct"] for t in thoughts for c in ts[t]) for ts in complete.values()), n),
            "agreement": {**_block(sum(v["correct"] for v in votes), n),
                          "mean_support": round(sum(v["support"] for v in votes) / (n * k * len(thoughts)), 4)
                          if n else 0.0}}


def run_sample(cfg: SampleConfig, progress: Callable[[int, int], object] | None = None,
               command: str | None = None) -> dict:
    """Sample what is missing, then summarise every candidate of this config into summary.json."""
    validated(cfg)
    out = Path(cfg.out)
    problems = _problems(cfg)
    gen = generate_candidates(cfg, problems, progress)
    wanted = {spec: {p.id for p in ps} for spec, ps in problems.items()}
    summary = {"model": cfg.model, "command": command, "cot_policy": cfg.policy, "temperature": cfg.temperature,
               "k": cfg.k, "generations_per_problem": cfg.k * len(cfg.thoughts),
               "majority_tie_rule": " > ".join(PRIORITY), "config": asdict(cfg), "generation": gen,
               "machine": describe_machine(bf16=use_bf16(cfg.bf16) if cfg.backend == "transformers" else None),
               "splits": summarize_candidates(iter_jsonl_tolerant(out / FILE), cfg.thoughts, cfg.k, wanted)}
    out.mkdir(parents=True, exist_ok=True)
    (out / SUMMARY).write_text(json.dumps(summary, indent=2))
    return summary
