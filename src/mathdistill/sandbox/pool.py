"""The caller's side of the sandbox: a pool of worker processes and the public API."""

from __future__ import annotations

import atexit
import json
import os
import selectors
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Sequence, cast

from . import protocol

_HERE = os.path.dirname(os.path.abspath(__file__))
# Workers import the sandbox modules as top-level modules from _HERE (see worker.py).
_BOOTSTRAP = "import sys; sys.path.insert(0, sys.argv[1]); import worker; worker.main()"
_STARTUP_SECONDS = 180.0  # importing numpy + sympy on a loaded machine can take a while
_GRACE_SECONDS = 5.0  # the worker kills programs itself; this backstop only catches a stuck worker
_MAX_CODE_CHARS = 200_000


@dataclass(frozen=True)
class RunResult:
    """Outcome of one program: exactly one of ``answer`` and ``reason`` is not None."""

    answer: str | None
    reason: str | None
    stdout: str = ""

    @property
    def ok(self) -> bool:
        return self.answer is not None


@dataclass
class _Worker:
    process: subprocess.Popen[bytes]
    scratch: str
    buffer: protocol.FrameBuffer = field(default_factory=protocol.FrameBuffer)
    ready: bool = False
    job: int | None = None  # index (into the current batch) of the program it is running
    deadline: float = float("inf")

    @property
    def requests(self) -> int:
        assert self.process.stdin is not None
        return self.process.stdin.fileno()

    @property
    def replies(self) -> int:
        assert self.process.stdout is not None
        return self.process.stdout.fileno()


class SandboxError(RuntimeError):
    """The sandbox itself failed (a worker would not start); not a verdict about a program."""


class Sandbox:
    """A pool of jailed worker processes running model-written Python programs.

    Safe to use from one thread at a time (calls from several threads are serialised); not
    usable in a child process forked after it was created.
    """

    def __init__(self, workers: int | None = None, timeout: float = 2.0, cpu_seconds: int = 2,
                 memory_mb: int = 512, stdout_limit: int = 10_000) -> None:
        self.timeout = timeout
        self._config = {"timeout": timeout, "cpu_seconds": cpu_seconds, "memory_mb": memory_mb,
                        "stdout_limit": stdout_limit}
        self._owner = os.getpid()
        self._lock = threading.Lock()
        self._selector = selectors.DefaultSelector()
        self._spawned = 0
        self._closed = False
        # Jailed programs run as `nobody` and must be able to traverse into their directories.
        self._base = tempfile.mkdtemp(prefix="mathdistill-sandbox-")
        os.chmod(self._base, 0o711)
        self._workers: list[_Worker] = []
        self.layers: tuple[str, ...] = ()
        try:
            for _ in range(workers or os.cpu_count() or 1):
                self._workers.append(self._spawn())  # one by one: close() must see each
            self._wait_ready()
        except BaseException:
            self.close()
            raise

    # ------------------------------------------------------------------ public API

    def run(self, code: str) -> RunResult:
        return self.run_many([code])[0]

    def run_many(self, codes: Sequence[str]) -> list[RunResult]:
        """Run programs in parallel over the workers; results are in input order."""
        with self._lock:
            if self._closed or os.getpid() != self._owner:
                raise SandboxError("sandbox is closed or was inherited through fork")
            results: list[RunResult | None] = [None] * len(codes)
            pending = deque(range(len(codes)))
            try:
                self._loop(codes, pending, results)
            finally:
                # Interrupted mid-batch: a busy worker would hand its stale answer to the next
                # batch, so replace it.
                for worker in list(self._workers):
                    if worker.job is not None:
                        self._replace(worker)
            return cast("list[RunResult]", results)  # the loop filled every slot

    def close(self) -> None:
        """Stop the workers (and everything they started) and remove the scratch directory."""
        with self._lock:
            self._closed = True
            for worker in self._workers:
                self._stop(worker, gently=True)
            self._workers = []
            self._selector.close()
            shutil.rmtree(self._base, ignore_errors=True)

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # ------------------------------------------------------------------ event loop

    def _loop(self, codes: Sequence[str], pending: deque[int], results: list[RunResult | None]) -> None:
        remaining = len(codes)
        while remaining:
            for worker in list(self._workers):
                while worker.ready and worker.job is None and pending:
                    index = pending.popleft()
                    if len(codes[index]) > _MAX_CODE_CHARS:
                        results[index] = RunResult(None, "error: program too large")
                        remaining -= 1
                        continue
                    try:
                        protocol.write_frame(worker.requests, {"code": codes[index]})
                    except OSError:  # it died while idle; not this program's doing
                        pending.appendleft(index)
                        self._replace(worker)
                        break
                    worker.job, worker.deadline = index, time.monotonic() + self.timeout + _GRACE_SECONDS
            if not remaining:
                break
            for key, _ in self._selector.select(self._until_next_deadline()):
                worker = key.data
                chunk = os.read(worker.replies, 1 << 16)
                messages = worker.buffer.feed(chunk) if chunk else []
                for message in messages:
                    remaining -= self._receive(worker, message, results)
                if not chunk:
                    remaining -= self._fail(worker, results, "worker crashed")
            now = time.monotonic()
            for worker in list(self._workers):
                if worker.deadline <= now:
                    remaining -= self._fail(worker, results, "timeout")

    def _receive(self, worker: _Worker, message: dict[str, Any], results: list[RunResult | None]) -> int:
        """Handle one frame from a worker; returns how many programs it completed."""
        if not worker.ready:
            if "error" in message:
                raise SandboxError(f"sandbox worker failed to start:\n{message['error']}")
            worker.ready, worker.deadline = True, float("inf")
            self.layers = tuple(message.get("layers", ()))
            return 0
        if worker.job is None:
            raise SandboxError("sandbox worker sent an unexpected message")
        results[worker.job] = RunResult(message["answer"], message["reason"], message["stdout"])
        worker.job, worker.deadline = None, float("inf")
        return 1

    def _fail(self, worker: _Worker, results: list[RunResult | None], reason: str) -> int:
        """A worker died or hung: record its program's fate and replace it."""
        if not worker.ready:
            raise SandboxError("sandbox worker failed to start (died or timed out)")
        job = worker.job
        worker.job = None
        self._replace(worker)
        if job is None:
            return 0
        results[job] = RunResult(None, reason)
        return 1

    # ------------------------------------------------------------------ processes

    def _spawn(self) -> _Worker:
        self._spawned += 1
        scratch = os.path.join(self._base, f"worker{self._spawned}")
        config = dict(self._config, scratch=scratch)
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8",
               "HOME": scratch, "TMPDIR": scratch,
               # One thread per worker: the pool already uses every core, and jailed
               # processes may not create threads at all.
               "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
        process = subprocess.Popen(
            [sys.executable, "-I", "-c", _BOOTSTRAP, _HERE, json.dumps(config)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env,
            cwd=self._base, start_new_session=True)  # own process group: killed as a whole
        worker = _Worker(process, scratch, deadline=time.monotonic() + _STARTUP_SECONDS)
        self._selector.register(worker.replies, selectors.EVENT_READ, worker)
        return worker

    def _until_next_deadline(self) -> float | None:
        wait = min(worker.deadline for worker in self._workers) - time.monotonic()
        return None if wait == float("inf") else max(wait, 0.0)

    def _wait_ready(self) -> None:
        while not all(worker.ready for worker in self._workers):
            if min(worker.deadline for worker in self._workers) <= time.monotonic():
                raise SandboxError("sandbox worker did not start in time")
            for key, _ in self._selector.select(self._until_next_deadline()):
                worker = key.data
                chunk = os.read(worker.replies, 1 << 16)
                if not chunk:
                    raise SandboxError("sandbox worker failed to start (died during start-up)")
                for message in worker.buffer.feed(chunk):
                    self._receive(worker, message, [])

    def _replace(self, worker: _Worker) -> None:
        self._stop(worker, gently=False)
        self._workers[self._workers.index(worker)] = self._spawn()

    def _stop(self, worker: _Worker, gently: bool) -> None:
        self._selector.unregister(worker.replies)
        process = worker.process
        assert process.stdin is not None and process.stdout is not None
        try:
            process.stdin.close()  # EOF: an idle worker exits, reaping its runner first
        except OSError:
            pass
        if gently:
            try:
                process.wait(timeout=2.0)
            except subprocess.TimeoutExpired:
                pass
        if process.poll() is None:
            # The worker leads its own process group and jailed processes cannot leave it, so
            # this takes the runner and any one-shot child too.  (Had the worker died on its
            # own, its children die with it through their parent-death signal.)
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        process.stdout.close()
        shutil.rmtree(worker.scratch, ignore_errors=True)


_defaults: dict[tuple[tuple[str, Any], ...], Sandbox] = {}
_defaults_lock = threading.Lock()


def _close_defaults() -> None:
    for sandbox in _defaults.values():
        sandbox.close()
    _defaults.clear()


def run_program(code: str, **limits: Any) -> RunResult:
    """Run one program in a process-wide sandbox (one per distinct ``limits``), closed at exit."""
    key = tuple(sorted(limits.items()))
    with _defaults_lock:
        sandbox = _defaults.get(key)
        if sandbox is None:
            if not _defaults:
                atexit.register(_close_defaults)
            sandbox = _defaults[key] = Sandbox(**limits)
    return sandbox.run(code)
