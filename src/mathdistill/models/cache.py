"""Where models are cached, and how a file there is known to be complete and intact.

Everything is written under a temporary ".tmp-" name in the same directory and renamed into place
only when finished, so a killed pull never leaves a half file at a final name (its leftovers are
swept by a later pull). A verified file gets
a small "<file>.sha256.json" stamp (digest, size, mtime): later calls compare size and mtime and
re-hash only when those changed, so a 1 GB file is not re-read on every call.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

from platformdirs import user_cache_dir

ENV_CACHE = "MATHDISTILL_CACHE"
TMP_PREFIX = ".tmp-"
_BLOCK = 1 << 20
# mkstemp/mkdtemp (and safetensors) create private 0600/0700 entries; the cache is meant to be
# shared like any file the user writes, so published entries get the usual umask-based modes.
_UMASK = os.umask(0o022)
os.umask(_UMASK)


def models_dir() -> Path:
    """`$MATHDISTILL_CACHE/models`, else the platform's user cache dir for mathdistill + /models."""
    root = os.environ.get(ENV_CACHE) or user_cache_dir("mathdistill")
    return Path(root).expanduser() / "models"


def model_dir(name: str) -> Path:
    return models_dir() / name


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(_BLOCK):
            digest.update(block)
    return digest.hexdigest()


def _stamp_path(path: Path) -> Path:
    return path.with_name(path.name + ".sha256.json")


def write_stamp(path: Path, sha256: str) -> None:
    """Record that `path`, as it is now (size, mtime), has digest `sha256`."""
    st = path.stat()
    stamp = {"sha256": sha256, "size": st.st_size, "mtime_ns": st.st_mtime_ns}
    write_text_atomic(_stamp_path(path), json.dumps(stamp) + "\n")


def verified_digest(path: Path) -> str | None:
    """The digest of `path` from its stamp if size and mtime still match, else None."""
    try:
        stamp = json.loads(_stamp_path(path).read_text())
        st = path.stat()
    except (OSError, ValueError):
        return None
    if stamp.get("size") == st.st_size and stamp.get("mtime_ns") == st.st_mtime_ns:
        return stamp.get("sha256")
    return None


def is_intact(path: Path, expected: str | None) -> bool:
    """Whether a cached file exists and matches `expected` (or, with no published digest, its stamp).

    A file with no stamp or a stale one is hashed once and stamped, so the next call is cheap.
    """
    if not path.is_file():
        return False
    digest = verified_digest(path)
    if digest is not None:
        return expected is None or digest == expected
    try:
        previous = json.loads(_stamp_path(path).read_text()).get("sha256")
    except (OSError, ValueError):
        previous = None
    digest = sha256_file(path)
    want = expected or previous
    if want is not None and digest != want:
        return False
    write_stamp(path, digest)
    return True


def temp_path(directory: Path, suffix: str = "") -> Path:
    """A fresh, closed temporary file name in `directory` (same filesystem, so rename is atomic)."""
    fd, name = tempfile.mkstemp(prefix=TMP_PREFIX, suffix=suffix, dir=directory)
    os.close(fd)
    os.chmod(name, 0o666 & ~_UMASK)
    return Path(name)


def temp_dir(directory: Path) -> Path:
    return Path(tempfile.mkdtemp(prefix=TMP_PREFIX, dir=directory))


def _share(tree: Path) -> None:
    tree.chmod(0o777 & ~_UMASK)
    for path in tree.rglob("*"):
        path.chmod((0o777 if path.is_dir() else 0o666) & ~_UMASK)


def write_text_atomic(path: Path, text: str) -> None:
    tmp = temp_path(path.parent)
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def sweep_stale(directory: Path, older_than_s: float = 86400) -> None:
    """Remove temp entries left by killed pulls; a day old is far past any live pull or conversion."""
    cutoff = time.time() - older_than_s
    for path in directory.glob(TMP_PREFIX + "*"):
        try:
            if path.lstat().st_mtime < cutoff:
                shutil.rmtree(path) if path.is_dir() else path.unlink()
        except OSError:
            pass  # another process swept it first


def publish_dir(tmp: Path, final: Path) -> None:
    """Rename a finished temp directory into place; if another process got there first, keep theirs."""
    _share(tmp)
    try:
        os.rename(tmp, final)
    except OSError:
        if not final.is_dir():
            raise
        shutil.rmtree(tmp, ignore_errors=True)
