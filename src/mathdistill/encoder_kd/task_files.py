"""Task files: one JSON file per task under ``out_dir/tasks``, and the digest that guards them.

    <task>.partial.json   rows so far, rewritten after every row (``complete: false``)
    <task>.json           the finished task (``complete: true``); the partial file is then removed

Every file carries ``rows_digest``, a digest of the config fields its rows depend on.  A rerun
reuses rows only from a file with the same digest and refuses any other file, so rows measured
under two configs are never mixed in one table.  A task being trained by one process is locked
(a ``filelock.FileLock`` in the cache directory) so that other processes skip it.
"""

from __future__ import annotations

import hashlib
import json
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING

from filelock import FileLock, Timeout

from mathdistill.config import ConfigError

from .tasks import task_slug

if TYPE_CHECKING:
    from .experiment_config import ExperimentConfig

# fields that change no row's numbers: which tasks and variants run where, paths, threads
_NOT_IN_ROWS = {"tasks", "variants", "ablation_tasks", "ablation_variants", "shard", "only", "threads",
                "speed_sentences", "cache_dir", "out_dir",
                # The stage-1 corpus rule changes only the stage-1 student, which is cached under its own
                # digest (stage1_student.stage1_spec, rule included); it is left out here so that the
                # committed task files, measured under the rule "exact", stay resumable under their
                # configs now that the default is "near" (see ExperimentConfig.stage1_guard).
                "stage1_guard"}

# fields added after results were committed: at these defaults they leave the digest as it was
_ADDED_LATER = {"distilled_student_lr": None}


def rows_digest(cfg: ExperimentConfig) -> str:
    """What a task file's rows depend on; a rerun reuses rows only from a file with the same digest."""
    spec = {k: v for k, v in asdict(cfg).items()
            if k not in _NOT_IN_ROWS and not (k in _ADDED_LATER and v == _ADDED_LATER[k])}
    return hashlib.sha1(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:12]


def partial_path(out: Path, task: str) -> Path:
    return out / f"{task_slug(task)}.partial.json"


def final_path(out: Path, task: str) -> Path:
    return out / f"{task_slug(task)}.json"


def task_file(out: Path, task: str) -> Path | None:
    """The task's newest file: the unfinished one if there is one (a resumed task's rows are a
    superset of its finished file's), else the finished one; None when there is neither."""
    return next((p for p in (partial_path(out, task), final_path(out, task)) if p.exists()), None)


def load_task_file(out: Path, task: str, digest: str) -> dict:
    """The task's rows so far ({} when none); a file written under a different config is an error
    (``ConfigError``, a ``ValueError``) rather than silently mixed in."""
    path = task_file(out, task)
    if path is None:
        return {}
    data = json.loads(path.read_text())
    if data.get("rows_digest") != digest:
        raise ConfigError(f"{path} was written under another config (rows digest "
                         f"{data.get('rows_digest')}, this config {digest}): move it away or use another out_dir")
    return data


def write_partial(out: Path, task: str, result: dict) -> None:
    partial_path(out, task).write_text(json.dumps(result, indent=1, default=float))


def write_final(out: Path, task: str, result: dict) -> None:
    final_path(out, task).write_text(json.dumps(result, indent=1, default=float))
    partial_path(out, task).unlink(missing_ok=True)


@contextmanager
def task_lock(cfg: ExperimentConfig, task: str):
    """The lock of (out_dir, task), taken without waiting: yields True when this process holds it,
    False when another one does.  Lock files live in the cache, not among the results."""
    key = hashlib.sha1(str(Path(cfg.out_dir).resolve()).encode()).hexdigest()[:8]
    path = Path(cfg.cache_dir) / "locks" / f"{key}-{task_slug(task)}.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    lock = FileLock(path)
    try:
        lock.acquire(timeout=0)
    except Timeout:
        yield False
        return
    try:
        yield True
    finally:
        lock.release()
