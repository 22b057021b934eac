"""A trained verifier: scores candidates, turns a selection's raw confidence into a probability,
and abstains below the threshold chosen on validation data.

    <dir>/verifier.json     the scorer and its parameters, the calibration and threshold of every
                            selection method, the validation numbers, what it was trained on
    <dir>/cross_encoder/    scorer "cross_encoder" only: the fine-tuned encoder and its tokenizer

Scorers (the ablation of issue 18):
    agreement              (a) the share of the pool giving the same answer; nothing is learned
    features               (c) logistic regression over `features.NAMES`
    features_no_agreement  (c) without the pool features: what the candidate alone shows
    cross_encoder          (b) a small encoder reading (question, rationale), Platt-calibrated
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .features import AGREEMENT, NAMES, Candidate, pool_features
from .logistic import Logistic
from .select import METHODS, Selection, select

SCORERS = ("agreement", "features", "features_no_agreement", "cross_encoder")
FILE = "verifier.json"
CROSS_ENCODER_DIR = "cross_encoder"
Pool = tuple[str, Sequence[dict]]  # (question, candidates)


def feature_columns(scorer: str) -> list[int]:
    if scorer == "features_no_agreement":
        return [i for i, n in enumerate(NAMES) if n not in AGREEMENT]
    return list(range(len(NAMES)))


def pool_matrix(question: str, pool: Sequence[dict], scorer: str) -> np.ndarray:
    rows = pool_features(question, [Candidate.from_row(c) for c in pool])
    return np.asarray(rows, dtype=np.float64)[:, feature_columns(scorer)]


@dataclass(frozen=True)
class Decision:
    """What `serve` and `solve` show: the chosen answer, how sure, and whether to say it at all."""

    answer: str | None
    confidence: float | None  # calibrated probability that the answer is right; None: nothing to answer
    abstain: bool  # no answer, no threshold (the verifier never reached its target), or below it
    method: str
    support: int
    threshold: float | None
    agreeing: tuple[str, ...] = ()  # the thoughts of the candidates that give `answer`


@dataclass
class Verifier:
    scorer: str
    logistic: Logistic | None = None  # the feature scorers
    score_calibration: Logistic | None = None  # cross_encoder: logit -> probability
    calibration: dict[str, Logistic] = field(default_factory=dict)  # per method: raw confidence -> probability
    thresholds: dict[str, dict] = field(default_factory=dict)  # per method: `metrics.choose_threshold` on validation
    method: str = "verifier_vote"  # the selection `decide` uses
    min_answered: int = 20  # a threshold answers at least this many validation problems
    meta: dict = field(default_factory=dict)
    path: Path | None = None
    _encoder: object = None

    # -- scoring -------------------------------------------------------------------------------

    def score_pools(self, pools: Sequence[Pool], progress: Callable[[int], object] | None = None) -> list[list[float]]:
        """A score in [0, 1] for every candidate of every pool (higher: more likely right)."""
        if self.scorer == "agreement":
            col = NAMES.index("agreement")
            return [pool_matrix(q, p, self.scorer)[:, col].tolist() if len(p) else [] for q, p in pools]
        if self.scorer in ("features", "features_no_agreement"):
            assert self.logistic is not None
            return [self.logistic.predict(pool_matrix(q, p, self.scorer)).tolist() if len(p) else [] for q, p in pools]
        if self.scorer == "cross_encoder":
            logits = self.cross_encoder_logits(pools, progress)
            probs = self.score_calibration.predict(logits) if self.score_calibration else 1 / (1 + np.exp(-logits))
            out, i = [], 0
            for _, p in pools:
                out.append(probs[i: i + len(p)].tolist())
                i += len(p)
            return out
        raise ValueError(f"unknown scorer {self.scorer!r}; use one of {', '.join(SCORERS)}")

    def cross_encoder_logits(self, pools: Sequence[Pool], progress: Callable[[int], object] | None = None) -> np.ndarray:
        """The cross-encoder's raw logits for every candidate of every pool, flattened in pool order."""
        from .cross_encoder import pairs

        flat = [pair for q, p in pools for pair in pairs(q, p)]
        return np.asarray(self.encoder().logits(flat, progress), dtype=np.float64)

    def encoder(self):
        if self._encoder is None:
            from .cross_encoder import CrossEncoder

            if self.path is None:
                raise ValueError("a cross-encoder verifier must be saved before it can be loaded")
            self._encoder = CrossEncoder(self.path / CROSS_ENCODER_DIR, max_len=self.meta.get("max_len", 256))
        return self._encoder

    # -- deciding ------------------------------------------------------------------------------

    def calibrated(self, method: str, raw: float) -> float:
        cal = self.calibration.get(method)
        return float(cal.predict(np.asarray([raw]))[0]) if cal is not None else raw

    def decide(self, question: str, pool: Sequence[dict], method: str | None = None,
               scores: Sequence[float] | None = None) -> Decision:
        """Select an answer for one problem, calibrate its confidence, and abstain below the threshold."""
        method = method or self.method
        if scores is None and method in ("verifier", "verifier_vote"):
            scores = self.score_pools([(question, pool)])[0]
        sel: Selection = select(pool, scores, method)
        confidence = round(self.calibrated(method, sel.confidence), 4) if sel.answer is not None else None
        threshold = (self.thresholds.get(method) or {}).get("threshold")
        abstain = confidence is None or threshold is None or confidence < threshold
        agreeing = tuple(dict.fromkeys(pool[i]["thought"] for i in sel.members))
        return Decision(sel.answer, confidence, abstain, method, sel.support, threshold, agreeing)

    # -- files ---------------------------------------------------------------------------------

    def save(self, directory: Path | str) -> Path:
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        data = {"scorer": self.scorer, "method": self.method,
                "logistic": self.logistic.to_json() if self.logistic else None,
                "feature_names": [NAMES[i] for i in feature_columns(self.scorer)],
                "score_calibration": self.score_calibration.to_json() if self.score_calibration else None,
                "calibration": {m: c.to_json() for m, c in self.calibration.items()},
                "thresholds": self.thresholds, "min_answered": self.min_answered, "meta": self.meta}
        (directory / FILE).write_text(json.dumps(data, indent=2))
        self.path = directory
        return directory / FILE

    @classmethod
    def load(cls, path: Path | str) -> Verifier:
        """From a verifier directory, or a student directory holding one in `verifier/`."""
        path = Path(path)
        for directory in (path, path / "verifier"):
            if (directory / FILE).is_file():
                break
        else:
            raise FileNotFoundError(f"{path}: no {FILE} here nor in {path / 'verifier'}; "
                                    "train one with `mathdistill verifier train`")
        try:
            data = json.loads((directory / FILE).read_text())
            expected = [NAMES[i] for i in feature_columns(data["scorer"])]
            if data.get("feature_names") != expected:
                raise ValueError(f"its features {data.get('feature_names')} are not this version's {expected}; "
                                 "train it again")
            if data["method"] not in METHODS:
                raise ValueError(f"unknown selection {data['method']!r}")
            return cls(scorer=data["scorer"],
                       logistic=Logistic.from_json(data["logistic"]) if data.get("logistic") else None,
                       score_calibration=Logistic.from_json(data["score_calibration"])
                       if data.get("score_calibration") else None,
                       calibration={m: Logistic.from_json(c) for m, c in data.get("calibration", {}).items()},
                       thresholds=data.get("thresholds", {}), method=data["method"],
                       min_answered=int(data.get("min_answered", 20)), meta=data.get("meta", {}),
                       path=directory)
        except (KeyError, TypeError, ValueError) as e:
            raise ValueError(f"{directory / FILE}: not a usable verifier: {e}") from None
