"""A sandbox worker: a pre-warmed zygote that never runs model code itself.

Started by ``pool.Sandbox`` from a clean interpreter as
``python -I -c BOOTSTRAP <this directory> <config json>``; it imports its siblings as top-level
modules so that the ``mathdistill`` package (and whatever it may import one day) never enters
the process that every jailed program is forked from.

Per program, the zygote first offers the code to its **runner**, a long-lived jailed child that
runs programs ``execute.is_pure`` accepts, in a fresh namespace each.  Anything else (and the
runner says so without running it) runs in a **one-shot child** forked from the zygote, jailed,
and discarded.  The zygote enforces the wall-clock timeout on both by SIGKILL, retires the
runner after any program that tripped the audit hook, ran out of memory, changed shared state
or timed out, and forks a fresh one from its own pristine state when next needed.

Protocol with the parent (``protocol`` frames on the inherited stdin/stdout pipes): one
``{"error": ...}`` or ``{"ready": true, "layers": [...]}`` frame at start-up, then for every
``{"code": ...}`` request one ``{"answer", "reason", "stdout"}`` reply.  EOF means shut down.
"""

from __future__ import annotations

import ast
import ctypes
import gc
import importlib
import json
import math
import os
import resource
import shutil
import signal
import sys
import time
import traceback
from dataclasses import dataclass
from typing import Any

import confine
import execute
import protocol

# Runs once in the zygote so lazily imported parts of numpy/sympy are already loaded when the
# forked programs need them (after start-up, imports compile from source, see _freeze; and the
# jailed `nobody` may not even be able to read an installation under a private 0700 directory).
_WARMUP = """
import numpy as np, sympy as sp, sympy.stats
x = sp.symbols("x")
sp.solve(x**2 - 4, x); sp.simplify(sp.sin(x)**2 + sp.cos(x)**2); sp.factorint(360)
sp.Rational(1, 3) + sp.sqrt(2); sp.N(sp.pi, 20); sp.Matrix([[1, 2], [3, 4]]).det()
sp.isprime(97); sp.binomial(10, 3); sp.nsimplify(0.5); sp.expand((x + 1)**3); sp.factor(x**2 - 1)
sp.diff(sp.exp(x), x); sp.integrate(x**2, x); sp.limit(sp.sin(x) / x, x, 0)
sp.series(sp.exp(x), x, 0, 3); np.linalg.solve(np.eye(2), np.ones(2)); np.float64(1.5).item()
"""
_FILE_SIZE = 16 << 20  # per-file cap for the one-shot children's working directories
_TMPFS_MB = 64  # whole scratch directory, when it can be a tmpfs
_RUNNER_PROGRAMS = 1000  # bound on how long any undetected drift in a runner can last
_RUNNER_HELLO_SECONDS = 30.0
_HUGE_PAGE = 2 << 20
_MADV_HUGEPAGE, _MADV_COLLAPSE = 14, 25


def _result(answer: str | None = None, reason: str | None = None, stdout: str = "") -> dict[str, Any]:
    return {"answer": answer, "reason": reason, "stdout": stdout}


@dataclass
class _Runner:
    pid: int
    to_runner: int
    from_runner: int
    programs: int = 0


class Zygote:
    def __init__(self, config: dict[str, Any]) -> None:
        self.timeout = float(config["timeout"])
        self.cpu_seconds = int(config["cpu_seconds"])
        self.memory = int(config["memory_mb"]) << 20
        self.stdout_limit = int(config["stdout_limit"])
        self.scratch = config["scratch"]
        os.makedirs(self.scratch, exist_ok=True)
        self.layers = confine.isolate_zygote(self.scratch, _TMPFS_MB)
        self._preload()
        self.api = execute.pure_api()
        self._freeze()
        self.readable = execute.read_roots()
        self.runner: _Runner | None = None  # (set before spawning: a failed spawn reaps it)
        self.jail_layers: list[str] = []
        self.runner = self._spawn_runner()  # pre-fork it, and learn which jail layers work

    def _preload(self) -> None:
        """Import everything programs may import, while imports may still use bytecode caches."""
        for name in sorted(execute.ALLOWED_MODULES):
            try:
                importlib.import_module(name)
            except ImportError:
                continue  # numpy/sympy are optional
        if "numpy" in sys.modules and "sympy" in sys.modules:
            exec(_WARMUP, {})

    def _freeze(self) -> None:
        # Forked children then never scan (and so never copy-on-write) the zygote's objects.
        gc.collect()
        gc.freeze()
        _collapse_to_huge_pages()
        # Later imports (rare, lazy ones) must not need marshal, which the audit hook refuses as
        # a way to craft bytecode: point the bytecode cache at a path that cannot exist.
        sys.dont_write_bytecode = True
        sys.pycache_prefix = os.path.join(os.devnull, "pycache")

    # ------------------------------------------------------------------ processes

    def _fresh_dir(self, name: str) -> str:
        path = os.path.join(self.scratch, name)
        shutil.rmtree(path, ignore_errors=True)
        os.mkdir(path, 0o700)
        if os.geteuid() == 0:
            try:
                os.chown(path, confine.NOBODY, confine.NOBODY)  # jailed code runs as nobody
            except PermissionError:
                pass  # no CAP_CHOWN, hence no CAP_SETUID either: jailed code stays root
        return path

    def _jail(self, workdir: str, keep_fds: tuple[int, ...],
              cpu: tuple[int, int]) -> tuple[list[str], execute.Guard]:
        """In a just-forked child: confine it, then install the audit hook (ctypes is off after)."""
        address_space = confine.address_space_bytes() + self.memory
        layers = confine.jail(workdir, keep_fds, cpu, address_space, _FILE_SIZE)
        guard = execute.install_guard(workdir, self.readable)
        return layers + ["audit"], guard

    def _spawn_runner(self) -> _Runner:
        workdir = self._fresh_dir("runner")
        to_read, to_write = os.pipe()
        from_read, from_write = os.pipe()
        pid = os.fork()
        if pid == 0:
            try:
                os.close(to_write)
                os.close(from_read)
                layers, guard = self._jail(workdir, (to_read, from_write),
                                           (self.cpu_seconds, resource.RLIM_INFINITY))
                protocol.write_frame(from_write, {"layers": layers})
                _runner_loop(to_read, from_write, guard, self.api, self.stdout_limit, self.cpu_seconds)
            finally:
                os._exit(0)  # never return into the zygote's code
        os.close(to_read)
        os.close(from_write)
        runner = _Runner(pid, to_write, from_read)
        try:
            hello = protocol.read_frame(from_read, time.monotonic() + _RUNNER_HELLO_SECONDS)
        except (EOFError, TimeoutError, protocol.ProtocolError):
            self._reap_runner(runner)
            raise RuntimeError("sandbox runner failed to start") from None
        self.jail_layers = [str(layer) for layer in hello.get("layers", [])]
        return runner

    def _reap_runner(self, runner: _Runner) -> int:
        """Kill and reap a runner; returns its wait status."""
        if self.runner is runner:
            self.runner = None
        _kill(runner.pid)
        os.close(runner.to_runner)
        os.close(runner.from_runner)
        return os.waitpid(runner.pid, 0)[1]

    # ------------------------------------------------------------------ running programs

    def run(self, code: str) -> dict[str, Any]:
        reply = self._run_in_runner(code)
        return self._run_forked(code) if reply is None else reply

    def _run_in_runner(self, code: str) -> dict[str, Any] | None:
        """The result from the runner, or None if the program is not pure."""
        runner = self.runner or self._spawn_runner()
        self.runner = runner
        try:
            protocol.write_frame(runner.to_runner, {"code": code})
            reply = _as_dict(protocol.read_frame(runner.from_runner, time.monotonic() + self.timeout))
            if reply.get("impure"):
                return None
            result = self._checked(reply)
        except TimeoutError:
            self._reap_runner(runner)
            return _result(reason="timeout")
        except (OSError, EOFError, protocol.ProtocolError, ValueError):
            status = self._reap_runner(runner)
            return _result(reason=_death_reason(status, cpu_used=0.0, cpu_limit=math.inf))
        runner.programs += 1
        if not reply.get("keep") or runner.programs >= _RUNNER_PROGRAMS:
            self._reap_runner(runner)
        return result

    def _run_forked(self, code: str) -> dict[str, Any]:
        workdir = self._fresh_dir("job")
        read_end, write_end = os.pipe()
        pid = os.fork()
        if pid == 0:
            try:
                os.close(read_end)
                _, guard = self._jail(workdir, (write_end,), (self.cpu_seconds, self.cpu_seconds + 1))
                builtins_table = execute.child_builtins(guard)
                protocol.write_frame(write_end, execute.run(code, builtins_table, self.stdout_limit, guard))
            finally:
                os._exit(0)
        os.close(write_end)
        try:
            result = self._checked(protocol.read_frame(read_end, time.monotonic() + self.timeout))
        except TimeoutError:
            result = _result(reason="timeout")
        except (EOFError, protocol.ProtocolError, ValueError):
            result = None
        finally:
            os.close(read_end)
            # Also when it answered: the program itself may have written that frame and kept going.
            _kill(pid)
            _, status, usage = os.wait4(pid, 0)
            shutil.rmtree(workdir, ignore_errors=True)
        if result is None:
            cpu_used = usage.ru_utime + usage.ru_stime
            result = _result(reason=_death_reason(status, cpu_used, self.cpu_seconds))
        return result

    def _checked(self, reply: Any) -> dict[str, Any]:
        """The result fields of a reply from a jailed process, which is not trusted."""
        fields = {key: _as_dict(reply).get(key) for key in ("answer", "reason", "stdout")}
        if not all(value is None or isinstance(value, str) for value in fields.values()):
            raise ValueError("malformed result")
        if (fields["answer"] is None) == (fields["reason"] is None):
            raise ValueError("malformed result")
        return _result(fields["answer"] and fields["answer"][: execute.MAX_NUMBER_CHARS],
                       fields["reason"] and fields["reason"][: execute.MAX_REASON_CHARS],
                       (fields["stdout"] or "")[: self.stdout_limit])

    def serve(self, requests: int, replies: int) -> None:
        while True:
            try:
                request = protocol.read_frame(requests)
            except EOFError:
                break
            protocol.write_frame(replies, self.run(str(request["code"])))
        if self.runner is not None:
            self._reap_runner(self.runner)


def _collapse_to_huge_pages() -> None:
    """Back the warmed heap with 2 MiB pages where the kernel allows it (Linux >= 6.1).

    Fork and exit cost grows with the number of page-table entries, and on a nested VM each
    is expensive: a fork plus one tiny program took 13 ms from a numpy+sympy zygote, 6 ms
    after this.  Best effort: regions the kernel refuses keep their 4 KiB pages.
    """
    madvise = ctypes.CDLL(None).madvise
    madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    with open("/proc/self/maps") as maps:
        regions = [line.split() for line in maps]
    for fields in regions:
        # Private writable memory that is anonymous (no path) or the brk heap.
        if fields[1] != "rw-p" or fields[5:] not in ([], ["[heap]"]):
            continue
        start, end = (int(bound, 16) for bound in fields[0].split("-"))
        start, end = -(-start // _HUGE_PAGE) * _HUGE_PAGE, end // _HUGE_PAGE * _HUGE_PAGE
        if end > start:
            madvise(start, end - start, _MADV_HUGEPAGE)
            madvise(start, end - start, _MADV_COLLAPSE)


def _as_dict(reply: Any) -> dict[str, Any]:
    if not isinstance(reply, dict):
        raise ValueError("malformed reply")
    return reply


def _kill(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def _death_reason(status: int, cpu_used: float, cpu_limit: float) -> str:
    """Why a jailed process died without a well-formed answer."""
    if (os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGXCPU) or cpu_used >= cpu_limit:
        return "timeout"
    return "worker crashed"


def _runner_loop(requests: int, replies: int, guard: execute.Guard,
                 api: dict[str, frozenset[str]], stdout_limit: int, cpu_seconds: int) -> None:
    """Body of a runner process: run pure programs until EOF, refuse the others."""
    builtins_table = execute.runner_builtins(guard)
    shared = execute.SharedState(api)
    while True:
        try:
            code = str(protocol.read_frame(requests)["code"])
        except EOFError:
            return
        guard.reset()
        reply: dict[str, Any]
        try:
            pure = execute.is_pure(ast.parse(code), api)
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            pure = True  # running it just reports the same error, without executing anything
        if pure:
            shared.reset()
            # RLIMIT_CPU counts the runner's whole life: give this program cpu_seconds more.
            limit = math.ceil(time.process_time()) + cpu_seconds
            resource.setrlimit(resource.RLIMIT_CPU, (limit, resource.RLIM_INFINITY))
            reply = execute.run(code, builtins_table, stdout_limit, guard)
            # The program's namespace is garbage now; collect it here so that finalizers it
            # defined run inside its own time budget (and taint this runner), not the next one's.
            gc.collect()
            reply["keep"] = (not guard.tainted and reply["reason"] != "memory" and shared.intact())
        else:
            reply = {"impure": True}
        protocol.write_frame(replies, reply)


def main() -> None:
    here, config = sys.argv[1], json.loads(sys.argv[2])
    sys.path.remove(here)  # programs must not import the sandbox's own modules
    # The protocol pipes move off fds 0/1 so that nothing printing to stdout can corrupt them.
    requests, replies = os.dup(0), os.dup(1)
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    os.close(devnull)
    try:
        zygote = Zygote(config)
    except BaseException:
        protocol.write_frame(replies, {"error": traceback.format_exc(limit=8)})
        return
    protocol.write_frame(replies, {"ready": True, "layers": zygote.layers + zygote.jail_layers})
    zygote.serve(requests, replies)
