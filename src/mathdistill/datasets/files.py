"""Locating benchmark files: MATHDISTILL_DATA, else a user cache filled from the canonical sources.

Every file has a pinned SHA-256 (the table below, matching ../shared/data/SOURCES.md). Reading a
file checks it, so a truncated or edited copy never loads silently.
"""

from __future__ import annotations

import hashlib
import io
import os
import urllib.request
import zipfile
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Iterator

from platformdirs import user_cache_dir

from .formats import first_error
from .problem import DataError

ENV_ROOT = "MATHDISTILL_DATA"
ENV_OFFLINE = "MATHDISTILL_OFFLINE"  # "1": never try to download
ENV_CACHE = "MATHDISTILL_CACHE"  # what the tool can rebuild: models, split counts, names of user files

_SVAMP = "https://github.com/arkilpatel/SVAMP/raw/689d7cc"
_ASDIV = "https://github.com/chaochun/nlu-asdiv-dataset/raw/883f90a"
_MWPT = "https://github.com/LYH-YF/MWPToolkit/raw/0993beb"
# relative path -> (sha256, canonical URL). A URL ending in "#member" names a file inside a zip.
FILES: dict[str, tuple[str, str]] = {
    "gsm8k/train.jsonl": ("17f347dc51477c50d4efb83959dbb7c56297aba886e5544ee2aaed3024813465",
                          "https://github.com/openai/grade-school-math/raw/3101c7d/grade_school_math/data/train.jsonl"),
    "gsm8k/test.jsonl": ("3730d312f6e3440559ace48831e51066acaca737f6eabec99bccb9e4b3c39d14",
                         "https://github.com/openai/grade-school-math/raw/3101c7d/grade_school_math/data/test.jsonl"),
    "svamp/SVAMP.json": ("5be77703a6d891ae476d7c082787ad361392aa02453b132516cdd5f4e7934e3e", f"{_SVAMP}/SVAMP.json"),
    "svamp/mawps-asdiv-a_svamp/train.csv": (
        "c761cdc6390a67a285c6c346a2931f61bc8f47430eceaeb123cc3d0263efa821", f"{_SVAMP}/data/mawps-asdiv-a_svamp/train.csv"),
    "svamp/mawps-asdiv-a_svamp/dev.csv": (
        "978425fa0820a147a20d3cb305a571d77b8ba0d1ccec4a96dd1470bf0079c338", f"{_SVAMP}/data/mawps-asdiv-a_svamp/dev.csv"),
    "asdiv/ASDiv.xml": ("ef8904068482919ac48c8eeaaf6df344b8a308ba66d048c2d4d87eab82dc4929", f"{_ASDIV}/dataset/ASDiv.xml"),
    "mawps/MAWPS.json": ("00fbff19273045bba127ea4e881e381c813b4c452c139cf2c5c996addf131e9a", f"{_MWPT}/dataset/mawps/MAWPS.json"),
    "mawps/trainset.json": ("a4a41869f6474ef7b69730d73620570a8429a5d91769b3f3907949d15fcfeb1a", f"{_MWPT}/dataset/mawps/trainset.json"),
    "mawps/validset.json": ("1740756acdefae3740a4f4afd8ad14497d41933bcb6d70e720780a41d712b11f", f"{_MWPT}/dataset/mawps/validset.json"),
    "mawps/testset.json": ("f0d767e8f8bb979358f02a38a07b9363879ab458d945de77cfc475d4942baa27", f"{_MWPT}/dataset/mawps/testset.json"),
    "multiarith/multiarith.json": ("dc9db1b6cc68b1ecc2dec830d15aaf8c9a0932aa31d5ffce88ef3628179d36f4",
                                   "https://github.com/wenhuchen/Program-of-Thoughts/raw/850399c/data/multiarith.json"),
    "math23k/Math_23K.json": ("efe5e761b92c3329e3504e1e97e2f84abd9a409330448ad89f404d4b1f39e986",
                              "https://github.com/qinzhuowu/MWPGen/raw/fe46d3c/data/Math_23K.zip#Math_23K.json"),
    "math23k/test23k_processed.json": ("2bbcd8e3c8e63185adf129225c37fff24b48c81cf04117b4a3b4de87ef62d974",
                                       "https://github.com/2003pro/Graph2Tree/raw/05b48a1/math23k/data/test23k_processed.json"),
    "math23k/valid23k_processed.json": ("ac955ad4b84dcbc9670025c5fe1492cb3d38e8ea4b40a976d29802e0e163543e",
                                        "https://github.com/2003pro/Graph2Tree/raw/05b48a1/math23k/data/valid23k_processed.json"),
}
_CV = {
    "mawps/cv_mawps": ("data/cv_mawps", [
        ("0674253e6099813cefbb1d6eae3d2dc784ab6ebfdaf8755f6ebb4b99fc1f6ebe", "bad59cff796b01a87363ea970f1fa80c15f56ff5f4388143aadbdc3feaf5f990"),
        ("ad8846861202060f2dfcb8423d23218cbf6a4a67010d4d4d939b9df61b2d34b0", "31362cb8741f9fc11b470b224478902ae27ab762bdd82bcb08a9c945d5947422"),
        ("b137a07367e1b3cd9556fae7b9e17fb5e23836e1e6dc9357719049ebc8860c62", "fae4f08a24a23123612ca5bb960e4f9aa7202c856344a59ab7adea424dfc670d"),
        ("fb1e286a94feed24a41c5560095e21a33d61888c7c27a355e6ccef725deaf084", "5ac76e5559cdde0aa8bcac77eb9af46b9b0230f00661ad0257dbd58a1567a323"),
        ("9194364265a42e0f146cc73f514c806c5d322827cd025a474ded33af076837bb", "1bb9164e6ba93fdc1bffddd8544c20cddc3c195a299b0b6c6893c2a760c3434b")]),
    "asdiv/cv_asdiv-a": ("data/cv_asdiv-a", [
        ("5c711c9150712141bfde68abf5ee4aecb610563325901320aef41e1e5ecf6c84", "0813a90f336147b1229a6d1d133c29f7e585cb27cafd651976bb94449a4b81c0"),
        ("77046a465a3e693b4b241dcbce2fe2cba7c9d3d253201e5e125273f6f95ade8a", "2432c24452fceb43c76f081342ebcd0e7b0f5776cb2908e621eeb4e2fad3cd17"),
        ("25a7e1b542fb6c39181ab6005ec9e1eb68d049f0ca4367c87837d299feef3cd8", "63da38010296031a123c0bd9cb80701870f1e31fdf06a88442b3ab6500b36b84"),
        ("618e38871a3b82b184f47c301cae011b16ba1d0d2062017e51899490d071d846", "7a45f3d18353e4ea8ffa2d1cb238e80068ad3bb5dbed4303231b3af0836d78e2"),
        ("caf82cc29dafe77dda0aac8bf8af5c363c666e0e1480fbaedc47c504384b76fa", "b9fe1aacddc34ec2caed5e0c35faff2681198431b021d13e16dc2e7c61ec6ecb")]),
}
for _local, (_remote, _folds) in _CV.items():
    for _k, (_train_sha, _dev_sha) in enumerate(_folds):
        for _name, _sha in (("train", _train_sha), ("dev", _dev_sha)):
            FILES[f"{_local}/fold{_k}/{_name}.csv"] = (_sha, f"{_SVAMP}/{_remote}/fold{_k}/{_name}.csv")


def roots() -> list[Path]:
    """Where data is looked for, in order."""
    env = os.environ.get(ENV_ROOT)
    if env:
        return [Path(env).expanduser()]
    return [Path(user_cache_dir("mathdistill")) / "data"]


def cache_dir() -> Path:
    """`$MATHDISTILL_CACHE`, else the platform's user cache directory for mathdistill."""
    return Path(os.environ.get(ENV_CACHE) or user_cache_dir("mathdistill"))


_RECORDERS: list[set[Path]] = []


@contextmanager
def recording() -> Iterator[set[Path]]:
    """The files read while the block runs (benchmark files and user files), e.g. to key a cache."""
    used: set[Path] = set()
    _RECORDERS.append(used)
    try:
        yield used
    finally:
        _RECORDERS.remove(used)


def note_used(path: Path) -> None:
    for used in _RECORDERS:
        used.add(Path(path).resolve())


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


@lru_cache(maxsize=None)
def _verified(path: Path, size: int, mtime: float, expected: str) -> bool:
    # keyed on size and mtime so a file changed on disk is checked again
    return sha256(path) == expected


def data_file(rel: str) -> Path:
    """Absolute path of a benchmark file, downloading it into the cache when allowed."""
    if rel not in FILES:
        raise KeyError(rel)
    expected, url = FILES[rel]
    tried = []
    for root in roots():
        path = root / rel
        tried.append(str(path))
        if path.is_file():
            check(path, expected)
            note_used(path)
            return path
    env = os.environ.get(ENV_ROOT)
    if not env and os.environ.get(ENV_OFFLINE) != "1":
        target = roots()[0] / rel
        try:
            _download(url, target, expected)
            note_used(target)
            return target
        except OSError as e:
            tried.append(f"{url} ({e.__class__.__name__}: {e})")
    fix = (f"set {ENV_ROOT} to a directory laid out like the project's shared data "
           f"(e.g. {ENV_ROOT}=../shared/data), or go online so it can be downloaded into "
           f"{roots()[0] if not env else Path(user_cache_dir('mathdistill')) / 'data'}")
    where = f"{ENV_ROOT}={env}: " if env else ""
    raise DataError(f"missing data file {rel!r}; {where}looked in: {'; '.join(tried)}. Fix: {fix}")


def check(path: Path, expected: str) -> None:
    st = path.stat()
    if not _verified(path, st.st_size, st.st_mtime, expected):
        damage = first_error(path)
        if damage:
            raise DataError(f"{damage}; its SHA-256 does not match the canonical file either. Restore the original file.")
        raise DataError(f"{path}: SHA-256 does not match the canonical file (truncated or edited?); "
                        f"expected {expected[:16]}..., got {sha256(path)[:16]}.... Restore the original file.")


def _download(url: str, target: Path, expected: str) -> None:
    url, _, member = url.partition("#")
    with urllib.request.urlopen(url, timeout=60) as r:  # noqa: S310 (fixed https URLs)
        payload = r.read()
    if member:
        with zipfile.ZipFile(io.BytesIO(payload)) as z:
            payload = z.read(member)
    digest = hashlib.sha256(payload).hexdigest()
    if digest != expected:
        raise OSError(f"downloaded {url} has SHA-256 {digest[:16]}..., expected {expected[:16]}...")
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(target.suffix + ".part")
    tmp.write_bytes(payload)
    tmp.replace(target)
