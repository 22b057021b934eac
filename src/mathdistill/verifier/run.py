"""`mathdistill verifier train` and `mathdistill verifier evaluate`.

Train: candidates the student sampled on its own *training* problems (`mathdistill sample --split
mawps-asdiv-a:train ...`), labelled by verification, are split by problem into a fit part and a
validation part (a seeded hash of the id, `validation`). The scorer learns on the fit part; on the
validation part each selection method's raw confidence is calibrated (Platt) and its abstention
threshold chosen: the lowest calibrated confidence at which the validation answers are at least
`target_accuracy` right. No evaluation split is read. Saved as <out>/verifier.json (default: beside
the student, `<student>/verifier`).

Evaluate: candidates of evaluation problems, one or more trained verifiers (the ablation), every
selection method: accuracy over all problems with its standard error, accuracy at `coverage`, at the
validation threshold, the AUROC of right vs wrong candidates (scores) and of right vs wrong
selections (confidences), ECE with a reliability diagram, and accuracy-at-coverage curves on one
plot. Writes metrics.json, report.md, the plots, scores.jsonl.gz (every candidate's score, so the
numbers regrade from committed files: `regrade`) and selections.jsonl.gz.
"""

from __future__ import annotations

import gzip
import json
import math
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Annotated, Literal

import numpy as np
from pydantic import Field

from .. import datasets as ds
from ..config import THOUGHT, opt, validated
from ..jsonl import RecordError, iter_jsonl_tolerant
from ..thoughts import THOUGHTS
from . import metrics as M
from .logistic import Logistic
from .model import CROSS_ENCODER_DIR, Verifier, pool_matrix
from .pools import ProblemPool, candidates_file, guard, is_validation, load_pools, normal_spec
from .report import write_report
from .select import METHODS, select

SCORES = "scores.jsonl.gz"
SELECTIONS = "selections.jsonl.gz"


# ---------------------------------------------------------------------------------------------
# training


@dataclass
class VerifierTrainConfig:
    candidates: Annotated[list[str], Field(min_length=1)] = opt(
        factory=list, flags="--candidates", help="sample runs (dirs holding candidates.jsonl) of TRAINING problems")
    scorer: Literal["agreement", "features", "features_no_agreement", "cross_encoder"] = opt(
        "features", help="agreement (a), cross_encoder (b), features / features_no_agreement (c)")
    out: str | None = opt(None, help="directory for verifier.json (default: <student>/verifier, the student "
                                     "the candidates came from)")
    thoughts: Annotated[list[THOUGHT], Field(min_length=1)] = opt(factory=lambda: list(THOUGHTS), sep=",")
    k: Annotated[int, Field(ge=1)] | None = opt(None, help="candidates per thought per problem (default: all "
                                                 "complete); use the k you will evaluate with")
    validation: Annotated[float, Field(gt=0, lt=1)] = opt(0.2, help="share of training problems held out to "
                                                          "calibrate and choose the threshold")
    seed: int = 0
    method: Literal["vote", "plausible", "verifier", "verifier_vote"] = opt(
        "verifier_vote", help="the selection that solve / serve / evaluate use by default")
    target_accuracy: Annotated[float, Field(gt=0, le=1)] = opt(
        0.8, help="abstain below the confidence at which validation answers reach this accuracy")
    min_answered: Annotated[int, Field(ge=1)] = opt(20, help="a threshold must answer at least this many validation "
                                                    "problems (so a few lucky ones cannot set it)")
    eval_splits: list[str] = opt(factory=lambda: list(ds.EVAL_SPLITS), flags="--eval-split",
                                 help="splits the verifier will be evaluated on: their problems and duplicates of "
                                      "their questions are kept out of its training (repeatable)")
    l2: Annotated[float, Field(ge=0)] = opt(1.0, help="features: L2 penalty of the logistic regression")
    # cross_encoder
    encoder: str = opt("all-minilm-l6-v2", help="cross_encoder: registry name, hub id or directory")
    epochs: Annotated[int, Field(ge=1)] = 1
    batch_size: Annotated[int, Field(ge=1)] = 16
    lr: Annotated[float, Field(gt=0)] = 3e-5
    max_len: Annotated[int, Field(ge=16)] = 256
    max_train: Annotated[int, Field(ge=1)] | None = opt(None, help="cross_encoder: at most this many fit "
                                                        "candidates (a seeded subset), for a CPU budget")

    def validate(self) -> None:
        if self.scorer != "cross_encoder" and self.max_train is not None:
            raise ValueError("max_train applies to the cross_encoder scorer only")


def default_out(sources: Sequence[str]) -> Path:
    """`<student>/verifier` when every candidate came from one local student directory."""
    names = set()
    for src in sources:
        for r in iter_jsonl_tolerant(candidates_file(src)):
            names.add(r.get("model"))
            break
    if len(names) == 1:
        (name,) = names
        if name and Path(name).is_dir():
            return Path(name) / "verifier"
    raise RecordError(f"the candidates name no single local student directory ({', '.join(map(str, names))}); "
                      "give --out")


def _fit_scorer(cfg: VerifierTrainConfig, fit: list[ProblemPool], out: Path,
                progress: Callable[[str, int], Callable[[int], object]] | None) -> tuple[Verifier, dict]:
    v = Verifier(scorer=cfg.scorer, method=cfg.method, min_answered=cfg.min_answered)
    labels = [bool(c["correct"]) for p in fit for c in p.candidates]
    info: dict = {"candidates": len(labels), "right": sum(labels)}
    if cfg.scorer in ("features", "features_no_agreement"):
        x = np.vstack([pool_matrix(p.question, p.candidates, cfg.scorer) for p in fit])
        v.logistic = Logistic.fit(x, np.asarray(labels, dtype=float), l2=cfg.l2)
    elif cfg.scorer == "cross_encoder":
        import random

        from .cross_encoder import pairs, train_cross_encoder

        examples = [(pair, bool(c["correct"])) for p in fit for pair, c in zip(pairs(p.question, p.candidates),
                                                                                 p.candidates)]
        if cfg.max_train is not None and len(examples) > cfg.max_train:
            examples = random.Random(cfg.seed).sample(examples, cfg.max_train)
        bar = progress("cross-encoder", cfg.epochs * len(examples)) if progress else None
        info["cross_encoder"] = train_cross_encoder(
            cfg.encoder, [e for e, _ in examples], [y for _, y in examples], out / CROSS_ENCODER_DIR,
            epochs=cfg.epochs, batch_size=cfg.batch_size, lr=cfg.lr, max_len=cfg.max_len, seed=cfg.seed,
            progress=bar.update if bar else None)
        if bar:
            bar.close()
        v.path = out
        v.meta["max_len"] = cfg.max_len
    return v, info


def platt(raw: np.ndarray, right: np.ndarray) -> tuple[Logistic, str]:
    """raw score -> probability of right, fitted on validation items. Where it cannot rank (every
    item right, or every one wrong) or ranks backwards (a higher score less often right, as a small
    validation set can show), a constant: the validation rate with add-one smoothing."""
    n, k = len(right), float(np.sum(right))
    if 0 < k < n:
        fitted = Logistic.fit(raw[:, None], right, l2=1e-2)
        if fitted.weights[0] > 0:
            return fitted, "platt"
        why = "constant: higher scores were not more often right on validation"
    else:
        why = f"constant: {'every' if k == n else 'no'} validation item right"
    rate = (k + 1) / (n + 2)
    return Logistic([0.0], float(np.log(rate / (1 - rate))), [0.0], [1.0], 0.0), why


def calibrate(v: Verifier, pools: list[ProblemPool], target_accuracy: float,
              scores: list[list[float]] | None = None) -> dict:
    """On validation pools: each method's calibration and threshold; returns the validation numbers.
    Problems where no candidate gave a number cannot be answered: they count in the coverage, never
    as answered."""
    if scores is None:
        scores = v.score_pools([(p.question, p.candidates) for p in pools])
    report = {}
    for method in METHODS:
        sels = [select(p.candidates, s, method) for p, s in zip(pools, scores)]
        raw = np.asarray([s.confidence for s in sels])
        right = np.asarray([s.correct for s in sels], dtype=bool)
        answered = np.asarray([s.answer is not None for s in sels])
        v.calibration[method], how = platt(raw[answered], right[answered].astype(float))
        conf = [v.calibrated(method, c) if a else None for c, a in zip(raw, answered)]
        v.thresholds[method] = M.choose_threshold(conf, right, target_accuracy, v.min_answered)
        report[method] = {"accuracy": round(float(right.mean()), 4) if len(right) else 0.0, "calibration": how,
                          "auroc": _round(M.auroc(conf, right)), "ece": round(M.ece(conf, right), 4),
                          "threshold": v.thresholds[method]}
    return report


def _round(x: float | None) -> float | None:
    return None if x is None else round(x, 4)


def run_train(cfg: VerifierTrainConfig, progress: Callable[[str, int], object] | None = None,
              command: str | None = None) -> dict:
    validated(cfg)
    pools, read = load_pools(cfg.candidates, cfg.thoughts, cfg.k)
    pools, guarded, dropped = guard(pools, cfg.eval_splits, cfg.candidates)
    splits = sorted({p.split for p in pools})
    out = Path(cfg.out) if cfg.out else default_out(cfg.candidates)
    fit = [p for p in pools if not is_validation(p.id, cfg.validation, cfg.seed)]
    val = [p for p in pools if is_validation(p.id, cfg.validation, cfg.seed)]
    if not fit or not val:
        raise RecordError(f"{len(pools)} problems are too few to hold out {cfg.validation:.0%} for validation")
    v, info = _fit_scorer(cfg, fit, out, progress)
    val_scores = None
    if cfg.scorer == "cross_encoder":  # the encoder's logits -> probabilities, on validation candidates
        logits = v.cross_encoder_logits([(p.question, p.candidates) for p in val])
        labels = np.asarray([c["correct"] for p in val for c in p.candidates], dtype=float)
        v.score_calibration, info["score_calibration"] = platt(logits, labels)
        probs, val_scores = v.score_calibration.predict(logits).tolist(), []
        for p in val:
            val_scores.append(probs[:len(p.candidates)])
            probs = probs[len(p.candidates):]
    v.meta.update({"trained_on": splits, "guarded": guarded, "contamination": dropped, "read": read,
                   "fit_problems": len(fit), "validation_problems": len(val), "fit": info, "config": asdict(cfg),
                   "command": command})
    v.meta["validation"] = calibrate(v, val, cfg.target_accuracy, val_scores)
    v.save(out)
    return {"out": str(out), **v.meta}


# ---------------------------------------------------------------------------------------------
# evaluation


@dataclass
class VerifierEvalConfig:
    candidates: Annotated[list[str], Field(min_length=1)] = opt(
        factory=list, flags="--candidates", help="sample runs (dirs holding candidates.jsonl) of EVALUATION problems")
    verifiers: Annotated[list[str], Field(min_length=1)] = opt(
        factory=list, flags="--verifier", help="trained verifier dirs (or students holding verifier/); several: "
                                               "the ablation table")
    out: str = opt("runs/verifier/eval", help="directory for metrics.json, report.md, plots, scores")
    thoughts: Annotated[list[THOUGHT], Field(min_length=1)] = opt(factory=lambda: list(THOUGHTS), sep=",")
    k: Annotated[int, Field(ge=1)] | None = opt(None, help="candidates per thought per problem (default: all complete)")
    coverage: Annotated[float, Field(gt=0, le=1)] = opt(0.5, help="report accuracy when answering this share")


def selection_metrics(pools: Sequence[ProblemPool], scores: Sequence[Sequence[float]], v: Verifier,
                      method: str, coverage: float = 0.5) -> tuple[dict, list[dict]]:
    """One method's numbers on pools, and the per-problem selections behind them."""
    sels = [select(p.candidates, s, method) for p, s in zip(pools, scores)]
    conf = [v.calibrated(method, s.confidence) if s.answer is not None else None for s in sels]
    right = [s.correct for s in sels]
    n, correct = len(sels), sum(right)
    acc = correct / n if n else 0.0
    threshold = (v.thresholds.get(method) or {}).get("threshold")
    rows = [{"split": p.split, "id": p.id, "method": method, "answer": s.answer, "support": s.support,
             "raw_confidence": round(s.confidence, 6), "confidence": None if c is None else round(c, 6),
             "correct": s.correct, "abstain": c is None or threshold is None or c < threshold}
            for p, s, c in zip(pools, sels, conf)]
    return {"n": n, "correct": correct, "accuracy": round(acc, 4),
            "stderr": round(math.sqrt(acc * (1 - acc) / n), 4) if n else None,
            "at_coverage": M.accuracy_at_coverage(conf, right, coverage),
            "at_threshold": M.answered_at(conf, right, threshold) if threshold is not None
            else {"threshold": None, "answered": 0, "coverage": 0.0, "accuracy": None},
            "auroc": _round(M.auroc(conf, right)), "ece": round(M.ece(conf, right), 4),
            "reliability": M.reliability(conf, right),
            "curve": [{"coverage": c["coverage"], "accuracy": c["accuracy"]} for c in M.coverage_curve(conf, right)]}, rows


def evaluate_pools(pools: Sequence[ProblemPool], named: Sequence[tuple[str, Verifier]],
                   scores: dict[str, list[list[float]]], coverage: float = 0.5) -> tuple[dict, list[dict]]:
    """Every (verifier, method) on every split of `pools`, from the given scores: the one function
    behind `verifier evaluate` and `regrade`."""
    by_split: dict[str, list[int]] = defaultdict(list)
    for i, p in enumerate(pools):
        by_split[p.split].append(i)
    out: dict = {}
    selections: list[dict] = []
    for spec, idx in by_split.items():
        ps = [pools[i] for i in idx]
        block: dict = {"problems": len(ps), "oracle": None, "rows": {}}
        block["oracle"] = round(sum(any(c["correct"] for c in p.candidates) for p in ps) / len(ps), 4)
        for name, v in named:
            sc = [scores[name][i] for i in idx]
            cands = [c for p in ps for c in p.candidates]
            flat = [x for s in sc for x in s]
            block.setdefault("scorers", {})[name] = {
                "scorer": v.scorer, "candidates": len(flat),
                "auroc": _round(M.auroc(flat, [bool(c["correct"]) for c in cands]))}
            for method in METHODS:
                if method in ("vote", "plausible") and name != named[0][0]:
                    continue  # the same selection for every verifier; reported once, calibrated by the first
                key = method if method in ("vote", "plausible") else f"{method}:{name}"
                m, rows = selection_metrics(ps, sc, v, method, coverage)
                block["rows"][key] = m
                selections += [{**r, "verifier": name} for r in rows]
        out[spec] = block
    return out, selections


def check_fit(v: Verifier, name: str, splits: Iterable[str], read: dict) -> None:
    """A verifier judges pools like those it was calibrated on, of splits its training was kept apart from."""
    pools = v.meta.get("read", {})
    for key in ("k", "thoughts", "temperatures"):
        mine, theirs = pools.get(key), read.get(key)
        if key == "thoughts" and mine is not None and theirs is not None:
            mine, theirs = sorted(mine), sorted(theirs)
        if key in pools and mine != theirs:
            raise RecordError(f"verifier {name} was calibrated on pools of {key}={pools[key]}, these candidates have "
                              f"{key}={read.get(key)}: sample them alike, or train a verifier for these pools")
    trained = {normal_spec(s) for s in v.meta.get("trained_on", [])}
    for spec in sorted(set(splits)):
        if normal_spec(spec) in trained:
            raise RecordError(f"verifier {name} was trained on {spec}: evaluate it on other problems")
        if normal_spec(spec) not in v.meta.get("guarded", []):
            raise RecordError(f"verifier {name}'s training problems were not checked against {spec}: train it with "
                              f"--eval-split {spec} (its duplicates are then kept out)")


def _names(paths: Sequence[str]) -> list[str]:
    names = []
    for p in paths:
        base = Path(p).name if Path(p).name != "verifier" else Path(p).parent.name + "/verifier"
        name, i = base, 2
        while name in names:
            name, i = f"{base}#{i}", i + 1
        names.append(name)
    return names


def run_verifier_eval(cfg: VerifierEvalConfig, progress: Callable[[str, int], object] | None = None,
                      command: str | None = None) -> dict:
    validated(cfg)
    pools, read = load_pools(cfg.candidates, cfg.thoughts, cfg.k)
    verifiers = [Verifier.load(p) for p in cfg.verifiers]
    named = list(zip(_names(cfg.verifiers), verifiers))
    for name, v in named:
        check_fit(v, name, {p.split for p in pools}, read)
    scores = {}
    for name, v in named:
        bar = progress(f"scoring ({name})", sum(len(p.candidates) for p in pools)) if progress else None
        raw = v.score_pools([(p.question, p.candidates) for p in pools], bar.update if bar else None)
        scores[name] = [[round(x, 6) for x in s] for s in raw]  # as scores.jsonl.gz keeps them, so they regrade
        if bar:
            bar.close()
    splits, selections = evaluate_pools(pools, named, scores, cfg.coverage)
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    result = {"command": command, "config": asdict(cfg), "read": read,
              "verifiers": {name: {"path": p, "scorer": v.scorer, "trained_on": v.meta.get("trained_on"),
                                   "validation": v.meta.get("validation"),
                                   "calibration": {m: c.to_json() for m, c in v.calibration.items()},
                                   "thresholds": v.thresholds, "target_accuracy": v.meta.get("config", {}).get(
                                       "target_accuracy")}
                            for (name, v), p in zip(named, cfg.verifiers)},
              "splits": splits}
    _write_gz(out / SCORES, ({"split": p.split, "id": p.id, "thought": c["thought"], "sample": c["sample"],
                              "verifier": name, "score": s}
                             for name in scores for p, sc in zip(pools, scores[name]) for c, s in zip(p.candidates, sc)))
    _write_gz(out / SELECTIONS, selections)
    (out / "metrics.json").write_text(json.dumps(result, indent=2))
    write_report(result, out)
    return result


def _write_gz(path: Path, rows: Iterable[dict]) -> None:
    with gzip.open(path, "wt", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")


def regrade(out: Path | str, candidates: Sequence[str]) -> dict:
    """The split metrics again from committed files only: the candidates (with their labels), the
    scores and each verifier's calibration and thresholds as metrics.json records them."""
    out = Path(out)
    result = json.loads((out / "metrics.json").read_text())
    cfg = result["config"]
    pools, _ = load_pools(candidates, cfg["thoughts"], result["read"]["k"])
    scores: dict[str, dict[tuple[str, str, str, int], float]] = defaultdict(dict)
    for r in iter_jsonl_tolerant(out / SCORES):
        scores[r["verifier"]][(r["split"], r["id"], r["thought"], r["sample"])] = r["score"]
    named = []
    for name, info in result["verifiers"].items():
        v = Verifier(scorer=info["scorer"], calibration={m: Logistic.from_json(c) for m, c in info["calibration"].items()},
                     thresholds=info["thresholds"])
        named.append((name, v))
    lists = {name: [[scores[name][(p.split, p.id, c["thought"], c["sample"])] for c in p.candidates] for p in pools]
             for name, _ in named}
    splits, _ = evaluate_pools(pools, named, lists, cfg["coverage"])
    return splits
