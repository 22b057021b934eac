"""Non-linear fallback: sympy in a separate, killable process.

Sympy can run for minutes (or forever) on small polynomial systems and cannot be interrupted from a
thread, so it runs in a long-lived worker subprocess (``_sympy_worker.py``, started with
``sys.executable``) that is killed when a request exceeds its timeout and restarted on the next
request. A plain subprocess rather than multiprocessing: it works from any thread, never forks a
threaded parent, does not re-import the caller's ``__main__``, and loads only sympy.

Requests are serialised by a lock (one worker per process). The worker's start-up (about a second,
mostly ``import sympy``) is not counted against a request's timeout.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import queue
import subprocess
import sys
import threading
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

from .nodes import Add, Expr, Mul, Neg, Num, Pow, Var

STARTUP_TIMEOUT = 60.0
_WORKER_SCRIPT = Path(__file__).with_name("_sympy_worker.py")
# Two float roots closer than this (relative) are the same answer.
_SAME_FLOAT = 1e-9


@dataclass(frozen=True)
class SympyOutcome:
    """Real values sympy found for the target (one per solution), or the reason there are none."""

    values: tuple[Fraction | float, ...] = ()
    reason: str | None = None


def encode(expr: Expr) -> list:
    """JSON-able nested lists for the worker; numbers travel as exact "p/q" strings."""
    match expr:
        case Num(value):
            return ["num", f"{value.numerator}/{value.denominator}"]
        case Var(name):
            return ["var", name]
        case Neg(operand):
            return ["neg", encode(operand)]
        case Add(terms):
            return ["add", [encode(t) for t in terms]]
        case Mul(factors, divisors):
            return ["mul", [encode(f) for f in factors], [encode(d) for d in divisors]]
        case Pow(base, exponent):
            return ["pow", encode(base), encode(exponent)]
    raise TypeError(f"not an expression: {expr!r}")


def pick_value(values: tuple[Fraction | float, ...]) -> tuple[Fraction | float | None, str | None]:
    """The target's value among the real solutions: the only distinct one, else the only positive one.

    Returns (value, None) or (None, "ambiguous").
    """
    distinct: list[Fraction | float] = []
    for value in values:
        if not any(_same(value, seen) for seen in distinct):
            distinct.append(value)
    if len(distinct) == 1:
        return distinct[0], None
    positive = [v for v in distinct if v > 0]
    if len(positive) == 1:
        return positive[0], None
    return None, "ambiguous"


def _same(a: Fraction | float, b: Fraction | float) -> bool:
    if isinstance(a, Fraction) and isinstance(b, Fraction):
        return a == b
    return abs(a - b) <= _SAME_FLOAT * max(1.0, abs(a), abs(b))


def solve_with_sympy(
    equations: list[Expr], known: dict[str, Fraction], target: str, timeout: float
) -> SympyOutcome:
    """Solve ``equations`` (each = 0) for ``target`` with ``known`` values substituted.

    Never raises: timeouts and worker failures come back as reasons ("timeout", "sympy failed").
    """
    request = {
        "equations": [encode(e) for e in equations],
        "known": {name: f"{v.numerator}/{v.denominator}" for name, v in known.items()},
        "target": target,
    }
    with _lock:
        reply = _ask_worker(request, max(timeout, 0.0))
    if "reason" in reply:
        return SympyOutcome(reason=reply["reason"])
    values = tuple(Fraction(x) if kind == "exact" else float(x) for kind, x in reply["values"])
    return SympyOutcome(values=values)


class _WorkerError(Exception):
    pass


class _Worker:
    """One sympy worker subprocess plus a thread that queues its output lines."""

    def __init__(self) -> None:
        try:
            self.process = subprocess.Popen(
                [sys.executable, str(_WORKER_SCRIPT), str(os.getpid())],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                text=True,
                encoding="utf-8",
            )
        except OSError as exc:
            raise _WorkerError("cannot start the sympy worker") from exc
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.next_id = 0
        threading.Thread(target=self._pump, daemon=True).start()
        try:
            ready = self._read(STARTUP_TIMEOUT)
        except _WorkerError:
            ready = None
        if ready != {"ready": True}:
            self.kill()
            raise _WorkerError("sympy worker did not start")

    def _pump(self) -> None:
        # This thread owns stdout and closes it at EOF, which a killed worker always reaches.
        with self.process.stdout as lines:
            for line in lines:
                self.lines.put(line)
        self.lines.put(None)

    def _read(self, timeout: float) -> dict | None:
        try:
            line = self.lines.get(timeout=timeout)
        except queue.Empty:
            return None
        if line is None:
            raise _WorkerError("sympy worker exited")
        try:
            return json.loads(line)
        except ValueError as exc:
            raise _WorkerError("garbled reply from sympy worker") from exc

    def ask(self, request: dict, timeout: float) -> dict | None:
        """The reply to ``request``, or None on timeout."""
        self.next_id += 1
        try:
            self.process.stdin.write(json.dumps({**request, "id": self.next_id}) + "\n")
            self.process.stdin.flush()
        except OSError as exc:
            raise _WorkerError("sympy worker is gone") from exc
        reply = self._read(timeout)
        if reply is not None and reply.get("id") != self.next_id:
            raise _WorkerError("sympy worker out of step")
        return reply

    def alive(self) -> bool:
        return self.process.poll() is None

    def kill(self) -> None:
        self.process.kill()
        self.process.wait()
        with contextlib.suppress(OSError):
            self.process.stdin.close()


_lock = threading.Lock()
_worker: _Worker | None = None


def _ask_worker(request: dict, timeout: float) -> dict:
    global _worker
    try:
        if _worker is None or not _worker.alive():
            _worker = _Worker()
        reply = _worker.ask(request, timeout)
    except _WorkerError:
        _stop_worker()
        return {"reason": "sympy failed"}
    if reply is None:
        _stop_worker()  # the only way to interrupt a running sympy solve
        return {"reason": "timeout"}
    return reply


def _stop_worker() -> None:
    global _worker
    if _worker is not None:
        _worker.kill()
    _worker = None


def _forget_worker_in_child() -> None:
    # A forked child must neither share the parent's worker pipes nor inherit a lock held by
    # another thread at fork time.
    global _worker, _lock
    _worker = None
    _lock = threading.Lock()


atexit.register(_stop_worker)
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_worker_in_child)
