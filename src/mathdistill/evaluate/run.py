"""`mathdistill evaluate`: a student x evaluation splits x thoughts -> predictions, verdicts, metrics.

    <out>/predictions.jsonl  {id, thought, text, split, model, fingerprint}: appended as batches
                             finish, so a killed evaluation resumes where it stopped (done (id,
                             thought) skipped); predictions of other weights are refused, not mixed
    <out>/verdicts.jsonl     every prediction graded by `mathdistill.verify`, plus the vote
    <out>/metrics.json       per split: accuracy per thought, vote, oracle ("any thought right")
"""

from __future__ import annotations

import hashlib
import json
import random
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from typing import Annotated, Literal

from pydantic import Field
from pathlib import Path

from .. import datasets as ds
from ..answers import compare
from ..config import BF16, POLICY, THOUGHT, opt, validated
from ..distill.student import use_bf16
from ..jsonl import JsonlAppender, RecordError, iter_jsonl_tolerant
from ..machine import describe as describe_machine
from ..rationales import Rationale
from ..thoughts import THOUGHTS, student_prompt
from ..verify import summarize, verify
from . import backends
from .vote import PRIORITY, plausible_vote, vote

CHUNK = 64  # prompts generated between appends to predictions.jsonl


@dataclass
class GenerationConfig:
    """What a student generates on, and how: the fields `evaluate` and `sample` share."""

    model: str = opt("runs/train/smollm2-etd/model", help="trained student dir (or registry name / hub id)")
    splits: list[str] = opt(factory=lambda: ["svamp:test"], flags="--split", help="DATASET:SPLIT")
    thoughts: Annotated[list[THOUGHT], Field(min_length=1)] = opt(factory=lambda: list(THOUGHTS), sep=",")
    limit: Annotated[int, Field(ge=1)] | None = opt(None, help="first N problems of each split")
    # a seeded random N problems of each split, kept in file order: an unbiased estimate where a file
    # is sorted (ASDiv by grade). The draw is a prefix of one fixed permutation per seed, so a larger
    # sample holds every problem of a smaller one and resumes from its predictions
    sample: Annotated[int, Field(ge=1)] | None = opt(None, help="a seeded random N problems of each split "
                                                     "(sample_seed; nested: a larger N resumes a smaller)")
    sample_seed: int = 0
    backend: Literal["transformers", "llamacpp", "openai"] = opt(
        "transformers", help="how the student generates: transformers, llamacpp (a GGUF, or the model converted to "
        "one), openai (an OpenAI-compatible /v1/completions server; model = the name it serves)")
    batch_size: Annotated[int, Field(ge=1)] = opt(16, help="prompts per generation batch")
    parallel: Annotated[int, Field(ge=1)] = opt(16, help="llamacpp: sequences decoded together in one batch")
    threads: Annotated[int, Field(ge=1)] | None = opt(None, help="llamacpp: CPU threads (default: every core)")
    base_url: str = opt("http://127.0.0.1:8000/v1", help="openai: the server's API root")
    api_key_env: str = opt("OPENAI_API_KEY", help="openai: environment variable holding the API key")
    concurrency: Annotated[int, Field(ge=1)] = opt(8, help="openai: requests in flight")
    max_new_tokens: Annotated[int, Field(ge=1)] = 160
    policy: POLICY = opt("flexible", help="CoT answer extraction policy (the grading depends on it)")
    bf16: BF16 = "auto"
    workers: Annotated[int, Field(ge=1)] | None = opt(None, help="sandbox workers (default: one per core)")

    def validate(self) -> None:
        if self.limit is not None and self.sample is not None:
            raise ValueError("give either limit (the first N problems) or sample (a random N), not both")


@dataclass
class EvalConfig(GenerationConfig):
    out: str = opt("runs/eval/smollm2-etd", help="directory for predictions, verdicts, metrics")
    select: Literal["vote", "plausible", "verifier", "verifier_vote"] | None = opt(
        None, help="with a verifier, the selection it judges: vote, plausible (vote), verifier (best-scored thought), "
        "verifier_vote (score-weighted vote); default: the verifier's own. metrics.json gets its accuracy, calibrated "
        "confidence and abstention")
    verifier: str | None = opt(None, help="a verifier of greedy pools (default for select=verifier*: <model>/verifier)")
    # grade the predictions already in <out> again (after a change to the grading or the vote) and
    # generate nothing: no model is loaded, and the training record of <out>/metrics.json is kept
    regrade_only: bool = False


def sample_problems(problems: list[ds.Problem], n: int, seed: int = 0) -> list[ds.Problem]:
    """n problems drawn without replacement, in their file order; nested across n for one seed."""
    order = list(range(len(problems)))
    random.Random(seed).shuffle(order)
    return [problems[i] for i in sorted(order[:n])]


def _problems(cfg: GenerationConfig) -> dict[str, list[ds.Problem]]:
    out = {}
    for spec in cfg.splits:
        ps = ds.load(spec)
        if cfg.sample:
            ps = sample_problems(ps, cfg.sample, cfg.sample_seed)
        out[spec] = ps[: cfg.limit] if cfg.limit else ps
    return out


def model_fingerprint(model: str) -> str:
    """A short hash of a local checkpoint's weights (a name or hub id stands for itself), so a
    resumed evaluation never mixes predictions of two different trainings saved to one path."""
    path = Path(model)
    files = sorted(p for ext in ("*.safetensors", "*.bin") for p in path.glob(ext)) if path.is_dir() else []
    if path.is_file():  # a single-file checkpoint (GGUF)
        files = [path]
    if not files:
        return model
    h = hashlib.sha256()
    for f in files:
        with open(f, "rb") as fh:
            while chunk := fh.read(1 << 24):
                h.update(chunk)
    return h.hexdigest()[:16]


def generate_missing(cfg: EvalConfig, problems: dict[str, list[ds.Problem]],
                     progress: Callable[[int, int], object] | None = None) -> dict:
    """Generate predictions not yet in predictions.jsonl; returns counts and throughput."""
    path = Path(cfg.out) / "predictions.jsonl"
    fingerprint = model_fingerprint(cfg.model)
    done = set()
    for r in iter_jsonl_tolerant(path):
        if r.get("fingerprint", fingerprint) != fingerprint:
            raise RecordError(f"{path} holds predictions of other weights ({r.get('model')}, {r['fingerprint']}) than "
                              f"{cfg.model} ({fingerprint}); evaluate into a new --out or delete that file")
        done.add((r["id"], r["thought"]))
    # thought-major: a batch then holds one thought, whose outputs have similar lengths, so its rows
    # wait less for the batch's longest generation (a CoT row beside 15 EoT rows sets their pace).
    # A stopped run thus holds the first thoughts of every problem; the rest resume later.
    jobs = [(spec, p, t) for t in cfg.thoughts for spec, ps in problems.items() for p in ps if (p.id, t) not in done]
    total = sum(len(ps) for ps in problems.values()) * len(cfg.thoughts)
    stats = {"generated": len(jobs), "already_done": total - len(jobs), "seconds": 0.0}
    if not jobs:
        return stats
    backend = backends.open_backend(cfg.backend, cfg.model, **_backend_options(cfg))
    bar = progress(total, total - len(jobs)) if progress else None
    start = time.perf_counter()
    try:
        with JsonlAppender(path) as log:
            for i in range(0, len(jobs), CHUNK):
                part = jobs[i: i + CHUNK]
                texts = backend.generate([student_prompt(p.question, t) for _, p, t in part], cfg.max_new_tokens,
                                         progress=bar.update if bar else None)
                log.write_many({"id": p.id, "thought": t, "text": text, "split": spec, "model": cfg.model,
                                "fingerprint": fingerprint, "backend": cfg.backend}
                               for (spec, p, t), text in zip(part, texts))
    finally:
        backend.close()
    elapsed = time.perf_counter() - start
    stats["seconds"] = round(elapsed, 1)
    stats["generations_per_second"] = round(len(jobs) / elapsed, 3)  # unrounded: a fast run can take < 0.05 s
    if bar:
        bar.close()
    return stats


def _backend_options(cfg: GenerationConfig) -> dict:
    if cfg.backend == "transformers":
        return {"bf16": cfg.bf16, "batch_size": cfg.batch_size}
    if cfg.backend == "llamacpp":
        return {"parallel": cfg.parallel, "threads": cfg.threads}
    if cfg.backend == "openai":
        return {"base_url": cfg.base_url, "api_key_env": cfg.api_key_env, "concurrency": cfg.concurrency}
    return {}


def _vote_row(v, gold) -> dict:
    return {"answer": v.answer, "support": list(v.support),
            "correct": v.answer is not None and compare(v.answer, gold).match}


def score_split(records: list[Rationale], problems: list[ds.Problem], thoughts: list[str], policy: str,
                workers: int | None = None) -> tuple[dict, list[dict]]:
    """Metrics of one split (per thought, vote, oracle) and one graded row per problem."""
    by_id = ds.by_id(problems)
    verdicts = verify(records, by_id, policy=policy, workers=workers)
    per_problem: dict[str, dict] = {p.id: {} for p in problems}
    for v in verdicts:
        per_problem[v.id][v.thought] = v
    rows = []
    for pid, vs in per_problem.items():
        if set(vs) != set(thoughts):
            continue  # incomplete (should not happen after generate_missing); not scored
        answers, gold = {t: v.answer for t, v in vs.items()}, by_id[pid].answer
        rows.append({"id": pid, "gold": gold,
                     "thoughts": {t: {"answer": v.answer, "correct": v.correct, "reason": v.reason} for t, v in vs.items()},
                     "vote": _vote_row(vote(answers), gold), "vote_plausible": _vote_row(plausible_vote(answers), gold),
                     "oracle": any(v.correct for v in vs.values())})
    n = len(rows)
    summary = summarize([v for v in verdicts if v.id in {r["id"] for r in rows}], policy)

    def block(c: int) -> dict:
        return {"n": n, "correct": c, "accuracy": round(c / n, 4) if n else 0.0}

    metrics = {"problems": n, "by_thought": {t: summary["by_thought"][t] for t in thoughts},
               "vote": block(sum(r["vote"]["correct"] for r in rows)),
               "vote_plausible": block(sum(r["vote_plausible"]["correct"] for r in rows)),
               "oracle": block(sum(r["oracle"] for r in rows)),
               "agreement": accuracy_at_agreement(rows, len(thoughts)),
               "failures": {t: summary["failures"][t] for t in thoughts}}
    return metrics, rows


def accuracy_at_agreement(rows: list[dict], n_thoughts: int) -> dict:
    """Abstention in its simplest form: answer (with the vote) only when at least k thoughts agree.
    For each k from all thoughts down to 1: how many problems are answered (coverage) and how many of
    those answers are right (accuracy among answered). k = 1 answers whenever any thought answers."""
    n = len(rows)
    out = {}
    for k in range(n_thoughts, 0, -1):
        answered = [r for r in rows if len(r["vote"]["support"]) >= k]
        right = sum(r["vote"]["correct"] for r in answered)
        out[str(k)] = {"answered": len(answered), "correct": right,
                       "coverage": round(len(answered) / n, 4) if n else 0.0,
                       "accuracy": round(right / len(answered), 4) if answered else 0.0}
    return out


# a regrade keeps these from the run's metrics.json; the grading options (policy, workers) are the caller's
REGRADE_KEEPS = ("model", "splits", "thoughts", "limit", "sample", "sample_seed", "backend", "max_new_tokens")


# what a selection layer (`verifier.apply`) adds to a split: (split, problems, graded rows, texts by
# (id, thought)) -> (its metrics, {id: the selected answer, its confidence, abstain}); injected by the
# caller so that evaluation does not depend on the verifier built above it
Selector = Callable[[str, list[ds.Problem], list[dict], dict[tuple[str, str], str]], tuple[dict, dict[str, dict]]]


def run_evaluate(cfg: EvalConfig, progress: Callable[[int, int], object] | None = None,
                 selector: Selector | None = None) -> dict:
    """Generate what is missing, grade everything, write verdicts.jsonl and metrics.json. With a
    `selector`, each split also gets `selection` (cfg.select's accuracy, coverage, calibration) and
    each graded row its `selected` answer."""
    if cfg.select in ("verifier", "verifier_vote") and selector is None:
        raise ValueError(f"select={cfg.select} needs the verifier: run it through `mathdistill evaluate` or pass "
                         "selector=verifier.apply.evaluation_selector(cfg.verifier, cfg.model, cfg.select)")
    validated(cfg)
    out = Path(cfg.out)
    earlier = {}
    if cfg.regrade_only and (out / "metrics.json").is_file():
        earlier = json.loads((out / "metrics.json").read_text())
        # what was evaluated is the run's own: its model, splits, thoughts and problem selection
        kept = {k: v for k, v in (earlier.get("config") or {}).items() if k in REGRADE_KEEPS}
        cfg = replace(cfg, **kept)
    problems = _problems(cfg)
    if cfg.regrade_only:
        if predictions_file(out) is None:
            raise RecordError(f"{out / 'predictions.jsonl'}: nothing to regrade (nor a .gz of it)")
        gen = {**earlier.get("generation", {}), "regraded": True}
    else:
        gen = generate_missing(cfg, problems, progress)
    wanted = {p.id for ps in problems.values() for p in ps}
    records: dict[tuple[str, str], Rationale] = {}
    for r in iter_jsonl_tolerant(predictions_file(out) or out / "predictions.jsonl"):
        if r["id"] in wanted and r["thought"] in cfg.thoughts:
            records[(r["id"], r["thought"])] = Rationale(r["id"], r["thought"], r["text"])
    metrics: dict = {"model": cfg.model, "cot_policy": cfg.policy, "vote_tie_rule": " > ".join(PRIORITY),
                     "config": asdict(cfg), "generation": gen, "splits": {},
                     "training": earlier.get("training") if cfg.regrade_only else _training_meta(cfg.model),
                     "machine": earlier.get("machine") if cfg.regrade_only
                     else describe_machine(bf16=use_bf16(cfg.bf16))}
    all_rows = []
    for spec, ps in problems.items():
        ids = {p.id for p in ps}
        split_records = [r for (pid, _), r in records.items() if pid in ids]
        metrics["splits"][spec], rows = score_split(split_records, ps, cfg.thoughts, cfg.policy, cfg.workers)
        if selector is not None:
            texts = {(pid, t): r.text for (pid, t), r in records.items() if pid in ids}
            metrics["splits"][spec]["selection"], chosen = selector(spec, ps, rows, texts)
            rows = [{**r, "selected": chosen[r["id"]]} for r in rows]
        all_rows += rows
    (out / "verdicts.jsonl").write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in all_rows))
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2))
    return metrics


def predictions_file(out: Path) -> Path | None:
    """A run's predictions: the live log, else its gzipped copy (what results/ commits)."""
    for name in ("predictions.jsonl", "predictions.jsonl.gz"):
        if (out / name).is_file():
            return out / name
    return None


def _training_meta(model: str) -> dict | None:
    """What `mathdistill train` recorded about this student (data size, thoughts), for reports."""
    from ..distill.train import META_FILE

    meta = Path(model) / META_FILE
    return json.loads(meta.read_text()) if meta.is_file() else None
