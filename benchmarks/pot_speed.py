"""Throughput of the Program-of-Thought sandbox against a fresh ``python -c`` per program.

    python benchmarks/pot_speed.py [n]

``bench_pot`` measures, in one run on the same machine:

* ``sandbox_per_s`` -- ``Sandbox.run_many`` over ``n`` short programs of the kind a model
  writes for arithmetic word problems (a few assignments, ``ans = ...``);
* ``baseline_per_s`` -- the naive alternative, one ``python -c <program>`` subprocess per
  program, run one after another, on a smaller sample; ``baseline_parallel_per_s`` is the same
  with one subprocess per core at a time, for an apples-to-apples comparison;
* ``speedup`` = sandbox / sequential baseline, ``speedup_vs_parallel`` = sandbox / parallel
  baseline, and ``mixed_per_s``: throughput on a mix where every fourth program uses sympy
  or a class (so it runs in a fresh fork instead of the reused runner).
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

from mathdistill.sandbox import Sandbox

_TEMPLATES = (
    "price = {a}\ncount = {b}\ntotal = price * count\nans = total - {c}",
    "apples = {a}\neaten = {c}\nleft = apples - eaten\nans = left * {b}",
    "speed = {a}\nhours = {b}\ndistance = speed * hours\nans = distance / {c}",
    "import math\nn = {a}\nk = {c}\nans = math.comb(n, k) % {b}",
    "def solution():\n    x = {a}\n    y = {b}\n    return (x + y) * {c} // 2\n",
    "from fractions import Fraction\nshare = Fraction({a}, {b})\nans = share * {c}",
    "total = 0\nfor i in range({a}):\n    total += i * {c}\nans = total % {b}",
    "weeks = {b}\nsaved = {a} * weeks\nspent = {c} * 3\nprint(saved - spent)",
)
# Programs a sandbox cannot run in its reused runner: they use sympy or set attributes.
_FORKED_TEMPLATES = (
    "import sympy as sp\nx = sp.symbols('x')\nans = sp.solve(x * {b} - {a}, x)[0]",
    "class Box:\n    def __init__(self, v):\n        self.v = v\nans = Box({a}).v * {c}",
)


def make_programs(n: int, seed: int = 0, forked_every: int = 0) -> list[str]:
    """``n`` short arithmetic programs; every ``forked_every``-th one needs a fresh fork."""
    rng = random.Random(seed)
    programs = []
    for i in range(n):
        forked = forked_every and i % forked_every == forked_every - 1
        template = rng.choice(_FORKED_TEMPLATES if forked else _TEMPLATES)
        programs.append(template.format(a=rng.randint(10, 99), b=rng.randint(2, 30), c=rng.randint(1, 9)))
    return programs


_PRINT_ANS = "\ntry:\n    print(ans)\nexcept NameError:\n    pass\n"


def _run_fresh(code: str) -> str:
    """The naive way: a new interpreter per program (printing ``ans`` as the answer)."""
    done = subprocess.run([sys.executable, "-c", code + _PRINT_ANS], capture_output=True, text=True,
                          timeout=30)
    return done.stdout


def _per_second(count: int, seconds: float) -> float:
    return round(count / seconds, 1)


def bench_pot(n: int = 2000, baseline_n: int = 50) -> dict[str, float | int]:
    programs = make_programs(n)
    workers = os.cpu_count() or 1

    sample = make_programs(baseline_n, seed=1)
    start = time.perf_counter()
    for code in sample:
        _run_fresh(code)
    baseline = _per_second(baseline_n, time.perf_counter() - start)
    start = time.perf_counter()
    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(_run_fresh, sample))
    baseline_parallel = _per_second(baseline_n, time.perf_counter() - start)

    start = time.perf_counter()
    with Sandbox() as sandbox:
        startup = time.perf_counter() - start
        sandbox.run_many(programs[:100])  # the first programs pay for nothing special; warm anyway
        start = time.perf_counter()
        results = sandbox.run_many(programs)
        sandbox_rate = _per_second(n, time.perf_counter() - start)
        mixed = make_programs(max(n // 4, 100), seed=2, forked_every=4)
        start = time.perf_counter()
        mixed_results = sandbox.run_many(mixed)
        mixed_rate = _per_second(len(mixed), time.perf_counter() - start)
    answered = sum(result.ok for result in results) + sum(result.ok for result in mixed_results)
    return {
        "workers": workers,
        "programs": n,
        "answered": answered,
        "answered_of": n + len(mixed),
        "sandbox_startup_s": round(startup, 2),
        "sandbox_per_s": sandbox_rate,
        "mixed_per_s": mixed_rate,
        "baseline_per_s": baseline,
        "baseline_parallel_per_s": baseline_parallel,
        "speedup": round(sandbox_rate / baseline, 1),
        "speedup_vs_parallel": round(sandbox_rate / baseline_parallel, 1),
    }


if __name__ == "__main__":
    print(json.dumps(bench_pot(int(sys.argv[1]) if len(sys.argv) > 1 else 2000), indent=2))
