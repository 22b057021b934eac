"""Compressors from teacher token vectors (768-d) to 256 / 128 / 64 dims, one fit/transform interface.

    linear  a linear layer trained as a linear autoencoder (768 -> d -> 768, MSE)
    pca     principal components (scikit-learn)
    lle     locally linear embedding (scikit-learn), fitted on a sample; out-of-sample points use
            scikit-learn's own barycentric transform (weights of each point's fit-sample neighbours)
    mds     metric multidimensional scaling (scikit-learn), fitted on a sample; MDS has no
            out-of-sample transform, so a ridge regression learnt from the sample's vectors to its
            embedding maps new vectors (documented approximation: a linear map of a non-linear fit)

LLE and MDS cost O(n^2) memory/time in the sample, so they see `sample` vectors (default 2000).

Quality measures (`assess`): reconstruction error as the fraction of variance a ridge map from the
compressed vectors back to 768-d fails to explain on held-out vectors (one decoder for every method,
so methods without an inverse are comparable), and the Spearman correlation between pairwise cosine
similarities of held-out vectors before and after compression.  Cosines are taken on vectors
centred by the fit sample's mean: BERT-type token vectors share a large common direction that
dominates raw cosines (anisotropy) and that every compressor here removes by centring.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np
import torch


class Compressor(Protocol):
    dim: int

    def fit(self, x: np.ndarray) -> Compressor: ...

    def transform(self, x: np.ndarray) -> np.ndarray: ...


def _sample(x: np.ndarray, n: int, seed: int) -> np.ndarray:
    if len(x) <= n:
        return x
    return x[np.random.default_rng(seed).choice(len(x), n, replace=False)]


class LinearCompressor:
    def __init__(self, dim: int, steps: int = 300, lr: float = 1e-2, seed: int = 0) -> None:
        self.dim, self.steps, self.lr, self.seed = dim, steps, lr, seed

    def fit(self, x: np.ndarray) -> LinearCompressor:
        torch.manual_seed(self.seed)
        data = torch.from_numpy(np.asarray(x, dtype=np.float32))
        self.mean_ = data.mean(0)
        centred = data - self.mean_
        encode, decode = torch.nn.Linear(data.size(1), self.dim), torch.nn.Linear(self.dim, data.size(1))
        opt = torch.optim.Adam([*encode.parameters(), *decode.parameters()], lr=self.lr)
        gen = torch.Generator().manual_seed(self.seed)
        for _ in range(self.steps):
            batch = centred[torch.randint(len(centred), (min(1024, len(centred)),), generator=gen)]
            loss = torch.nn.functional.mse_loss(decode(encode(batch)), batch)
            opt.zero_grad()
            loss.backward()
            opt.step()
        # A linear autoencoder's latent scale is arbitrary (the decoder compensates), and a run
        # fitted to fine-tuned vectors came out ~20x smaller than one fitted to pre-trained ones; a
        # student regressing onto such tiny targets collapsed.  Fix the scale: unit mean variance.
        with torch.no_grad():
            scale = encode(centred).var(0).mean().sqrt()
            encode.weight /= scale
            encode.bias /= scale
        self.encode_ = encode.requires_grad_(False)
        return self

    def transform(self, x: np.ndarray) -> np.ndarray:
        data = torch.from_numpy(np.asarray(x, dtype=np.float32))
        return self.encode_(data - self.mean_).numpy()


class PCACompressor:
    def __init__(self, dim: int, seed: int = 0) -> None:
        self.dim, self.seed = dim, seed

    def fit(self, x: np.ndarray) -> PCACompressor:
        from sklearn.decomposition import PCA

        self.pca_ = PCA(self.dim, random_state=self.seed).fit(x)
        return self

    def transform(self, x: np.ndarray) -> np.ndarray:
        return self.pca_.transform(x).astype(np.float32)


class LLECompressor:
    def __init__(self, dim: int, sample: int = 2000, neighbours: int = 30, seed: int = 0) -> None:
        self.dim, self.sample, self.neighbours, self.seed = dim, sample, neighbours, seed

    def fit(self, x: np.ndarray) -> LLECompressor:
        from sklearn.manifold import LocallyLinearEmbedding

        fit_x = _sample(x, self.sample, self.seed)
        # "dense" solver: arpack does not converge for hundreds of components on a few thousand points
        self.lle_ = LocallyLinearEmbedding(n_neighbors=self.neighbours, n_components=self.dim,
                                           eigen_solver="dense", random_state=self.seed).fit(fit_x)
        # LLE returns unit-norm eigenvectors, so a point's coordinates are ~1/sqrt(n); rescale to the
        # teacher's per-dimension spread so an MSE target built from them is not near zero
        self.scale_ = float(np.sqrt(fit_x.var(0).sum() / self.dim) * np.sqrt(len(fit_x)))
        return self

    def transform(self, x: np.ndarray) -> np.ndarray:
        return (self.lle_.transform(x) * self.scale_).astype(np.float32)


class MDSCompressor:
    def __init__(self, dim: int, sample: int = 2000, alpha: float = 1.0, seed: int = 0) -> None:
        self.dim, self.sample, self.alpha, self.seed = dim, sample, alpha, seed

    def fit(self, x: np.ndarray) -> MDSCompressor:
        from sklearn.linear_model import Ridge
        from sklearn.manifold import MDS

        fit_x = _sample(x, self.sample, self.seed)
        embedded = MDS(n_components=self.dim, init="classical_mds", n_init=1, max_iter=100, random_state=self.seed).fit_transform(fit_x)
        self.map_ = Ridge(alpha=self.alpha).fit(fit_x, embedded)
        return self

    def transform(self, x: np.ndarray) -> np.ndarray:
        return self.map_.predict(x).astype(np.float32)


METHODS = {"linear": LinearCompressor, "pca": PCACompressor, "lle": LLECompressor, "mds": MDSCompressor}


def make_compressor(method: str, dim: int, seed: int = 0, sample: int = 2000) -> Compressor:
    """``sample`` is the fit-sample size of the O(n^2) manifold methods (LLE, MDS); others ignore it."""
    if method not in METHODS:
        raise ValueError(f"unknown compressor {method!r}; choose one of {', '.join(METHODS)}")
    if method in ("lle", "mds"):
        return METHODS[method](dim, sample=sample, seed=seed)
    return METHODS[method](dim, seed=seed)


def fit_on_tokens(method: str, dim: int, vectors: list[torch.Tensor], max_tokens: int, seed: int = 0) -> Compressor:
    """A ``method`` compressor to ``dim`` fitted on the token vectors of ``vectors`` (one tensor per
    question), on a seeded random sample of ``max_tokens`` of them when there are more."""
    flat = torch.cat(vectors).float()
    if len(flat) > max_tokens:
        flat = flat[torch.randperm(len(flat), generator=torch.Generator().manual_seed(seed))[:max_tokens]]
    return make_compressor(method, dim, seed).fit(flat.numpy())


def compress_all(compressor: Compressor, vectors: list[torch.Tensor]) -> list[torch.Tensor]:
    """Every question's token vectors through ``compressor`` (one transform call for all of them)."""
    flat = torch.cat(vectors).float().numpy()
    out = torch.from_numpy(compressor.transform(flat))
    return list(out.split([len(v) for v in vectors]))


@dataclass
class Quality:
    method: str
    dim: int
    reconstruction_error: float  # fraction of held-out variance not recovered (0 = perfect)
    cosine_spearman: float  # rank correlation of pairwise cosine similarities (1 = perfect)
    fit_seconds: float


def reconstruction_error(x_fit: np.ndarray, z_fit: np.ndarray, x_test: np.ndarray, z_test: np.ndarray) -> float:
    from sklearn.linear_model import Ridge

    back = Ridge(alpha=1.0).fit(z_fit, x_fit)
    resid = ((x_test - back.predict(z_test)) ** 2).sum()
    return float(resid / ((x_test - x_test.mean(0)) ** 2).sum())


def cosine_spearman(x: np.ndarray, z: np.ndarray, x_mean: np.ndarray | None = None) -> float:
    """Spearman correlation of pairwise cosines of ``x - x_mean`` and of ``z`` (pass the fit mean)."""
    from scipy.stats import spearmanr

    if x_mean is not None:
        x = x - x_mean

    def cos(a: np.ndarray) -> np.ndarray:
        a = a / np.linalg.norm(a, axis=1, keepdims=True).clip(1e-8)
        return (a @ a.T)[np.triu_indices(len(a), 1)]

    return float(spearmanr(cos(x), cos(z)).statistic)
