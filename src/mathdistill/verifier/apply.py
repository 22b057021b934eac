"""A trained verifier where one answer is needed: `evaluate --set select=...`, `solve`, `serve`.

These generate one greedy rationale per thought, so the verifier must have been trained on pools of
that shape: candidates sampled with `--k 1 --temperature 0` (its calibration and threshold were fit
to such pools). A verifier of k sampled candidates is refused here, with the command that makes a
matching one; `verifier evaluate` is where sampled pools are judged.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from .. import datasets as ds
from .model import Decision, Verifier
from ..jsonl import RecordError
from .pools import ProblemPool
from .run import check_fit, selection_metrics


class VerifierMismatch(ValueError):
    pass


def load_for_greedy(path: str | None, model: str) -> Verifier:
    """The verifier at `path` (default: `<model>/verifier`), checked to judge one greedy rationale per thought."""
    where = Path(path) if path else Path(model)
    try:
        v = Verifier.load(where)
    except FileNotFoundError as e:
        raise VerifierMismatch(str(e)) from None
    read = v.meta.get("read", {})
    k, temps = read.get("k"), read.get("temperatures") or []
    if k != 1 or any(t not in (0, 0.0) for t in temps):
        raise VerifierMismatch(
            f"{v.path}: trained on pools of k={k} candidates per thought sampled at temperature "
            f"{', '.join(map(str, temps)) or '?'}; one greedy answer per thought needs a verifier of greedy pools: "
            "`mathdistill sample --split <training split> --k 1 --temperature 0 --out RUN`, then "
            "`mathdistill verifier train --candidates RUN`")
    return v


def evaluation_selector(verifier: str | None, model: str, method: str | None = None):
    """An `evaluate.run.Selector` for `run_evaluate`: `method`'s selection (default: the verifier's
    own) over a problem's greedy thoughts, with the verifier's calibration and threshold."""
    v = load_for_greedy(verifier, model)
    method = method or v.method

    def selector(spec: str, problems: list[ds.Problem], rows: list[dict],
                 texts: dict[tuple[str, str], str]) -> tuple[dict, dict[str, dict]]:
        thoughts = sorted({t for r in rows for t in r["thoughts"]})
        try:
            check_fit(v, str(v.path), [spec], {**v.meta.get("read", {}), "thoughts": thoughts})
        except RecordError as e:
            raise VerifierMismatch(str(e)) from None
        questions = {p.id: p.question for p in problems}
        pools = [ProblemPool(spec, r["id"], questions[r["id"]],
                             [{"thought": t, "sample": 0, "answer": g["answer"], "correct": g["correct"],
                               "text": texts.get((r["id"], t), "")} for t, g in r["thoughts"].items()])
                 for r in rows]
        scores = v.score_pools([(p.question, p.candidates) for p in pools])
        metrics, chosen = selection_metrics(pools, scores, v, method)
        metrics = {"method": method, "verifier": str(v.path), "scorer": v.scorer, **metrics}
        return metrics, {c["id"]: {k: c[k] for k in ("answer", "confidence", "correct", "abstain")} for c in chosen}

    return selector


def decide_thoughts(v: Verifier, question: str, answers: Sequence[tuple[str, str, str | None]],
                    method: str | None = None) -> Decision:
    """`solve` / `serve`: (thought, text, answer) of one greedy rationale per thought -> the decision."""
    pool = [{"thought": t, "sample": 0, "answer": a, "text": text} for t, text, a in answers]
    return v.decide(question, pool, method)
