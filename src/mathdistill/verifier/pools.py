"""A sample run's candidates as pools (one problem's candidates), the validation draw, and the
guard that keeps a verifier's training problems apart from the splits it will be evaluated on."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from .. import datasets as ds
from ..datasets.distractors import SUFFIX
from ..datasets.parts import draw, split_part
from ..evaluate.candidates import FILE as CANDIDATES
from ..jsonl import RecordError, iter_jsonl_tolerant


@dataclass
class ProblemPool:
    split: str
    id: str
    question: str
    candidates: list[dict]  # thought-major in `thoughts` order, then sample


def candidates_file(path: Path | str) -> Path:
    """A sample run's candidates: the directory's candidates.jsonl(.gz), or the file itself."""
    path = Path(path)
    if path.is_file():
        return path
    for name in (CANDIDATES, CANDIDATES + ".gz"):
        if (path / name).is_file():
            return path / name
    raise RecordError(f"{path}: no {CANDIDATES} (nor .gz) here; sample candidates with `mathdistill sample`")


def load_pools(sources: Sequence[str], thoughts: Sequence[str], k: int | None) -> tuple[list[ProblemPool], dict]:
    """Every problem whose pool is complete: each of `thoughts` with samples 0..k-1 (k: the largest
    complete k of the files when None). Returns the pools and what was read and left out."""
    rows: dict[tuple[str, str], dict[tuple[str, int], dict]] = defaultdict(dict)
    models, temperatures = set(), set()
    for src in sources:
        for r in iter_jsonl_tolerant(candidates_file(src)):
            if r["thought"] in thoughts:
                rows[(r["split"], r["id"])][(r["thought"], r["sample"])] = r
                models.add(r.get("fingerprint") or r.get("model"))
                temperatures.add(r.get("temperature"))
    if not rows:
        raise RecordError(f"{', '.join(sources)}: no candidates of the thoughts {', '.join(thoughts)}")
    if len(models) > 1:
        raise RecordError(f"{', '.join(sources)}: candidates of {len(models)} different students or weights "
                          f"({', '.join(sorted(map(str, models)))}); a verifier judges one student's candidates")
    if k is None:  # the run's k: problems a stopped run left short are counted as incomplete
        k = max(1, max(min(sum(1 for (t, _) in c if t == th) for th in thoughts) for c in rows.values()))
    questions = {}
    pools, incomplete = [], 0
    for (spec, pid), cands in rows.items():
        if spec not in questions:
            questions[spec] = {p.id: p.question for p in ds.load(spec)}
        if pid not in questions[spec]:
            raise RecordError(f"{', '.join(sources)}: candidate id {pid!r} is not in {spec}")
        wanted = [(t, j) for t in thoughts for j in range(k)]
        if not all(w in cands for w in wanted):
            incomplete += 1
            continue
        pools.append(ProblemPool(spec, pid, questions[spec][pid], [cands[w] for w in wanted]))
    if not pools:
        raise RecordError(f"{', '.join(sources)}: no problem has all of {', '.join(thoughts)} with k={k} candidates "
                          f"each ({incomplete} incomplete); sample more (mathdistill sample resumes) or ask for "
                          "fewer (--k, --thoughts)")
    return pools, {"problems": len(pools), "incomplete": incomplete, "k": k, "thoughts": list(thoughts),
                   "generations_per_problem": k * len(thoughts), "models": sorted(m for m in models if m),
                   "temperatures": sorted(t for t in temperatures if t is not None)}


def is_validation(problem_id: str, fraction: float, seed: int) -> bool:
    """A stable, order-free draw: the same id lands on the same side for a seed on any machine, and
    so does a problem's `+distractors` variant (same source id), so validation never sees a
    near-copy of a problem the verifier was fitted on."""
    dataset, _, rest = problem_id.partition("/")
    split, _, key = rest.partition("/")
    source = f"{dataset}/{split.split('+')[0]}/{key}" if key else problem_id
    return draw(f"{seed}\x00{source}") < fraction


def normal_spec(spec: str) -> str:
    """`SVAMP:test`, ` svamp:test `, `svamp:test+distractors` and `svamp:test@heldout` -> `svamp:test`."""
    name, split = ds.parse_spec(spec.strip())
    return f"{name}:{split_part(split)[0].removesuffix(SUFFIX)}".lower()


def guard(pools: list[ProblemPool], eval_splits: Sequence[str], sources: Sequence[str]) -> tuple[list, list[str], dict]:
    """Keep the verifier's training problems apart from the evaluation splits: candidates of one of
    them are an error; a problem whose question duplicates one of theirs (normalised text, or the
    same numbers and nearly the same words: `datasets.text.ContaminationGuard`) is left out and counted."""
    from ..datasets.text import ContaminationGuard

    guarded = sorted({normal_spec(s) for s in eval_splits})
    leaked = sorted({p.split for p in pools if normal_spec(p.split) in guarded})
    if leaked:
        raise RecordError(f"{', '.join(sources)}: candidates of evaluation split(s) {', '.join(leaked)}; a verifier "
                          "is trained on the student's training problems only (sample --split <training split>)")
    g = ContaminationGuard(ds.load_many(guarded))
    kept, why = [], defaultdict(int)
    for p in pools:
        hit = g.match(p.question, p.id)
        if hit:
            why[hit.how.split(" (")[0]] += 1
        else:
            kept.append(p)
    if not kept:
        raise RecordError(f"{', '.join(sources)}: every problem duplicates an evaluation question of "
                          f"{', '.join(guarded)}")
    return kept, guarded, {"left_out": len(pools) - len(kept), "why": dict(why)}
