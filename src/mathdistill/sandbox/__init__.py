"""Process-isolated execution of model-written Python ("Program-of-Thought").

Model-written code is treated as hostile: it never runs in the caller's process.

Usage::

    from mathdistill.sandbox import Sandbox, RunResult, run_program

    with Sandbox(workers=None, timeout=2.0, cpu_seconds=2, memory_mb=512) as sb:
        r = sb.run("ans = 3 * 4")              # RunResult(answer="12", reason=None, stdout="")
        rs = sb.run_many(codes)                # parallel over the workers, input order
    run_program("print(2 + 2)")                # process-wide default sandbox, closed at exit

Answer extraction, in this order:

1. the variable ``ans`` in the program's globals after it ran, if present and not None;
2. else the return value of ``solution()`` or, failing that name, ``solver()`` -- called with
   no arguments in the same process, under the same limits -- if defined and not None;
3. else the last non-empty line the program printed.

``sys.exit()``/``exit()``/``raise SystemExit`` end the program normally (extraction proceeds).
Answer text: ints, floats, complex, ``Fraction`` ("p/q") and ``Decimal`` via ``str()`` (bool too:
"True"); numpy scalars and 0-d arrays are converted to Python numbers first; anything else
(sympy objects, lists, strings ...) is ``str()`` truncated to 200 characters.

``RunResult.reason`` is None exactly when there is an answer, else one of:

* ``"timeout"`` -- wall clock (``timeout``) or CPU time (``cpu_seconds``) exceeded;
* ``"memory"`` -- the address-space budget (``memory_mb`` on top of the worker's) ran out;
* ``"forbidden: <what>"`` -- the program tried something not allowed, e.g.
  ``"forbidden: import os"``, ``"forbidden: os.system"``, ``"forbidden: write /tmp/x"``,
  ``"forbidden: read /etc/passwd"``; reported even if the program caught the resulting
  exception, and it voids any answer;
* ``"error: <ExceptionType>: <message>"`` -- the program raised or did not compile (and
  ``"error: program too large"`` for a source over 200 000 characters);
* ``"no answer"`` -- it ran fine but left no ``ans``, ``solution()`` or output;
* ``"output too large"`` -- it printed more than ``stdout_limit`` (10 000) characters, or its
  answer is a number of more than 10 000 characters;
* ``"worker crashed"`` -- the process running it died without answering (``os._exit``, a
  segfault, ...).

``stdout`` holds the first ``stdout_limit`` characters the program printed.

Design
------
* **Pool.**  ``Sandbox`` starts ``workers`` (default ``os.cpu_count()``) worker processes from a
  clean interpreter (``python -I``; see ``worker.py``), each the leader of its own session and
  process group, talking length-prefixed JSON over pipes.  ``run_many`` keeps every worker busy.
  ``Sandbox.layers`` lists the confinement layers active on this machine.
* **Zygote.**  A worker never runs model code.  It imports every allowed module (numpy and
  sympy included, plus a warm-up so their lazy imports are done), freezes its heap for the
  garbage collector, backs it with huge pages (cheaper forks), confines itself
  (``confine.isolate_zygote``: private network namespace, size-capped tmpfs scratch directory,
  Landlock) and then forks the processes that do.
* **State leakage: a fast runner plus fresh forks.**  The brief's suggestion was a fork per
  program from the warmed zygote.  Measured on the target machine (a nested VM where a page
  fault costs ~4 us), forking a numpy+sympy interpreter and running one tiny program costs
  6-20 ms of CPU, which caps throughput near 100-300 programs/s on 2 cores and cannot reach the
  required 20x over ``python -c``.  So each zygote keeps one long-lived jailed **runner** that
  executes, in a fresh namespace each, the programs a conservative syntactic check
  (``execute.is_pure``) proves unable to reach state shared between programs: only the stdlib
  math modules' plain functions/classes/constants, no attribute assignment, no
  private/dunder/frame attributes, no reflective builtins (getattr, vars, globals, eval, open,
  ...), no ABC ``register``.  Typical short arithmetic programs qualify.  Every other program
  (numpy, sympy, classes that set attributes, gadgets, anything hostile ...) runs in a
  **one-shot child** forked from the pristine zygote and discarded afterwards, so whatever it
  monkeypatches (``math.pi = 3``, builtins, sympy caches, numpy print options) dies with it.
  The runner additionally resets the decimal context per program, collects the program's
  garbage (so its finalizers run in its own time budget), verifies that no module namespace
  changed, and is retired (re-forked from the zygote) after any program that tripped an audit
  event, ran out of memory or timed out, and after 1000 programs.  The check only decides
  *where* a program runs, never whether: a wrongly rejected program is just slower.
* **Jail** (runner and one-shot children, ``confine.jail`` then ``execute.install_guard``):
  rlimits (CPU, address space, file size, open files, no core dumps, RLIMIT_NPROC=0), switch
  to ``nobody`` when root (RLIMIT_NPROC is not enforced for root), non-dumpable, parent-death
  signal, a seccomp filter (no fork/clone/exec, sockets, ptrace, signals to other processes,
  setsid/setpgid, namespaces/mounts, io_uring, bpf), and finally an audit hook
  (``sys.addaudithook``, irremovable from Python) refusing process creation, exec, sockets,
  ctypes, writes outside the working directory, reads outside the Python installation,
  signal/trace hooks, ``marshal``/``code.__new__`` (bytecode crafting; imports after start-up
  compile from source instead), ``gc.get_referrers``, subinterpreters and loading dangerous
  modules (webbrowser, antigravity, ...).  Programs get a restricted ``__import__`` allowing
  only ``execute.ALLOWED_MODULES``: math, cmath, fractions, decimal, datetime, itertools,
  collections, statistics, functools, operator, heapq, bisect, numbers, random, re, string,
  typing, numpy, sympy, mpmath (and their submodules).
* **Timeouts.**  The zygote enforces the wall-clock ``timeout`` by SIGKILL of the runner or
  child and replaces it (CPU time is also capped by RLIMIT_CPU); the parent has a backstop
  (``timeout`` + 5 s) that kills a stuck worker's whole process group and starts a new one.
* **Degraded environments.**  Without root (or without CAP_SYS_ADMIN / CAP_SETUID) the network
  namespace, tmpfs and privilege drop are skipped; Landlock, seccomp (x86-64 only), rlimits and
  the audit hook still apply.  Linux only.
"""

from .pool import RunResult, Sandbox, SandboxError, run_program

__all__ = ["RunResult", "Sandbox", "SandboxError", "run_program"]
