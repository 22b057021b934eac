"""Generation backends, interchangeable behind one interface (as compressors are in encoder-kd).

    backend = open_backend("transformers", "runs/train/x/model", batch_size=16)
    texts = backend.generate(prompts, max_new_tokens=160, progress=bar.update)
    backend.close()

Every backend gets the same plain-text prompts (`thoughts.student_prompt`), decodes greedily and
stops each sequence at its own end of sequence or at `max_new_tokens`, so the graders see the
same kind of text whichever backend wrote it.

    texts = backend.generate(prompts, 160, temperature=0.7, seeds=[...])   # one seed per prompt

samples instead (plain temperature sampling, no top-k/top-p; `mathdistill sample`): a prompt's
text then depends on its own seed only, not on the other prompts of the call (`sampling`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol

BACKENDS = ("transformers", "llamacpp", "openai")


class Backend(Protocol):
    name: str
    model: str

    def generate(self, prompts: Sequence[str], max_new_tokens: int, progress: Callable[[int], None] | None = None,
                 *, temperature: float = 0.0, seeds: Sequence[int] | None = None) -> list[str]:
        """Completions of `prompts`, in input order: greedy at temperature 0, else sampled with
        prompt i's generator seeded by seeds[i] (default i)."""

    def close(self) -> None:
        """Free what the backend holds (a server process, a model)."""


def open_backend(kind: str, model: str, **options) -> Backend:
    if kind == "transformers":
        from .hf import TransformersBackend

        return TransformersBackend(model, **options)
    if kind == "llamacpp":  # a GGUF in this process, many sequences per batch
        from .llamacpp import LlamaCppBackend

        return LlamaCppBackend(model, **options)
    if kind == "openai":  # any OpenAI-compatible /v1/completions server
        from .openai_compat import OpenAICompatBackend

        return OpenAICompatBackend(model, **options)
    raise ValueError(f"unknown backend {kind!r}; use one of {', '.join(BACKENDS)}")
