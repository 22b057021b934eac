"""L2-regularised logistic regression in numpy, fitted by Newton's method: deterministic, no solver
options to tune, a few milliseconds on tens of thousands of candidates. Used for the feature
scorer and for Platt calibration (one input: a raw score -> the probability that it is right)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


def sigmoid(z: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * z))  # the logistic function without overflow warnings


@dataclass
class Logistic:
    """p(right | x) = sigmoid(((x - mean) / scale) . weights + bias)."""

    weights: list[float] = field(default_factory=list)
    bias: float = 0.0
    mean: list[float] = field(default_factory=list)
    scale: list[float] = field(default_factory=list)
    l2: float = 1.0

    @classmethod
    def fit(cls, x: np.ndarray, y: np.ndarray, l2: float = 1.0, iterations: int = 50) -> Logistic:
        """Minimise the mean log loss + l2/(2n) |w|^2 (the bias is not penalised)."""
        x = np.asarray(x, dtype=np.float64)
        y = np.asarray(y, dtype=np.float64)
        if x.ndim != 2 or len(x) != len(y) or len(y) == 0:
            raise ValueError(f"logistic fit: expected x of shape (n, d) and n labels, got {x.shape} and {y.shape}")
        mean = x.mean(axis=0)
        scale = x.std(axis=0)
        scale[scale < 1e-12] = 1.0  # a constant feature stays at 0 after centring
        z = np.hstack([(x - mean) / scale, np.ones((len(x), 1))])
        n, d = z.shape
        penalty = np.full(d, l2 / n)
        penalty[-1] = 0.0
        w = np.zeros(d)
        if 0 < y.mean() < 1:
            w[-1] = np.log(y.mean() / (1 - y.mean()))
        for _ in range(iterations):
            p = sigmoid(z @ w)
            grad = z.T @ (p - y) / n + penalty * w
            hess = (z * (p * (1 - p))[:, None]).T @ z / n + np.diag(penalty) + 1e-9 * np.eye(d)
            step = np.linalg.solve(hess, grad)
            w -= step
            if np.max(np.abs(step)) < 1e-10:
                break
        return cls(w[:-1].tolist(), float(w[-1]), mean.tolist(), scale.tolist(), l2)

    def logit(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64)
        if x.ndim == 1:
            x = x[:, None]
        return ((x - np.asarray(self.mean)) / np.asarray(self.scale)) @ np.asarray(self.weights) + self.bias

    def predict(self, x: np.ndarray) -> np.ndarray:
        return sigmoid(self.logit(x))

    def to_json(self) -> dict:
        return {"weights": self.weights, "bias": self.bias, "mean": self.mean, "scale": self.scale, "l2": self.l2}

    @classmethod
    def from_json(cls, d: dict) -> Logistic:
        return cls(list(d["weights"]), float(d["bias"]), list(d["mean"]), list(d["scale"]), float(d.get("l2", 1.0)))
