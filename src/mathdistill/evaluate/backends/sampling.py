"""Temperature sampling for the in-process backends: one token from logits, one generator per prompt.

    rng = generator(seed)                  # one per prompt: its draws depend on nothing else
    token = pick(logits, temperature, rng) # argmax when temperature == 0

Plain temperature sampling (no top-k, no top-p): the token is drawn from softmax(logits / T) by
inverting the cumulative distribution at one uniform draw of the prompt's own generator. A
sequence thus consumes exactly one draw per generated token, so its text depends only on its
prompt, its seed and its logits: not on which other prompts share its batch, the order they were
sorted in, or where a resumed run restarts. Both the transformers and the llama.cpp backend use
this one function, so equal logits give equal tokens in both.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def generator(seed: int) -> np.random.Generator:
    """The random stream of one prompt's sampling."""
    return np.random.default_rng(seed)


def generators(n: int, temperature: float, seeds: Sequence[int] | None) -> list[np.random.Generator] | None:
    """One generator per prompt (None when decoding greedily); `seeds` None: prompt i gets seed i."""
    check_temperature(temperature)
    if temperature == 0:
        return None
    seeds = list(range(n)) if seeds is None else list(seeds)
    if len(seeds) != n:
        raise ValueError(f"seeds: expected one per prompt ({n}), got {len(seeds)}")
    return [generator(s) for s in seeds]


def check_temperature(temperature: float) -> None:
    if not temperature >= 0:  # also refuses NaN
        raise ValueError(f"temperature must be >= 0 (0: greedy); got {temperature}")


def pick(logits: np.ndarray, temperature: float, rng: np.random.Generator | None) -> int:
    """A token id from one row of logits: the argmax at temperature 0 (or without a generator),
    else a draw from softmax(logits / temperature). Tokens masked to -inf are never drawn."""
    if temperature == 0 or rng is None:
        return int(logits.argmax())
    z = np.asarray(logits, dtype=np.float64) / temperature
    z -= z.max()
    cdf = np.cumsum(np.exp(z))
    # side="right": the first token whose cumulative mass exceeds the draw (a zero-mass token never is)
    return int(min(np.searchsorted(cdf, rng.random() * cdf[-1], side="right"), len(cdf) - 1))
