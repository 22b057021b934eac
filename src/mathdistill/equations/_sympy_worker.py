"""Sympy solver process for the non-linear fallback (started by ``fallback.py``; not imported).

Runs as a plain script so that it imports nothing but sympy: the mathdistill package (and whatever
heavy libraries it pulls in) never loads here. Protocol: one JSON request per stdin line,
``{"id", "equations": [expr, ...] (each = 0), "known": {name: "p/q"}, "target": name}``, answered by
one JSON line ``{"id", "values": [["exact", "p/q"] | ["float", x], ...]}`` or ``{"id", "reason": str}``.
Expressions are the nested lists written by ``fallback.encode``; every name becomes an explicit
``sympy.Symbol``, so sympy never gives ``E``, ``I``, ``S`` or ``lambda`` a meaning of its own.
"""

import json
import os
import sys
import threading
import time

# A script's own directory goes first on sys.path; drop it so sibling modules can never shadow
# anything sympy imports.
if sys.path and os.path.abspath(sys.path[0] or ".") == os.path.dirname(os.path.abspath(__file__)):
    del sys.path[0]

MEMORY_LIMIT_BYTES = 2 << 30
# x^2 / 2 - 1 = 0: exercises polynomial solving, rationals and numeric evaluation of sqrt(2).
WARM_UP_EQUATION = [
    "add", [["mul", [["pow", ["var", "x"], ["num", "2/1"]]], [["num", "2/1"]]], ["num", "-1/1"]]
]


def _exit_when_orphaned(parent_pid: int) -> None:
    # The parent kills us on timeout, but if it dies first nobody would; a stuck solve must not linger.
    while os.getppid() == parent_pid:
        time.sleep(1.0)
    os._exit(0)


def _limit_memory() -> None:
    try:
        import resource

        resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT_BYTES, MEMORY_LIMIT_BYTES))
    except (ImportError, ValueError, OSError):
        pass  # not available on this platform; the parent's timeout still applies


def _build(node, sympy, symbols, known):
    kind = node[0]
    if kind == "num":
        p, q = node[1].split("/")
        return sympy.Rational(int(p), int(q))
    if kind == "var":
        name = node[1]
        if name in known:
            return known[name]
        return symbols.setdefault(name, sympy.Symbol(name))
    if kind == "neg":
        return -_build(node[1], sympy, symbols, known)
    if kind == "add":
        return sympy.Add(*(_build(n, sympy, symbols, known) for n in node[1]))
    if kind == "mul":
        numerator = sympy.Mul(*(_build(n, sympy, symbols, known) for n in node[1]))
        denominator = sympy.Mul(*(_build(n, sympy, symbols, known) for n in node[2]))
        return numerator / denominator
    if kind == "pow":
        return sympy.Pow(_build(node[1], sympy, symbols, known), _build(node[2], sympy, symbols, known))
    raise ValueError(f"unknown node {kind!r}")


def _real_value(value, sympy):
    """["exact", "p/q"], ["float", x], or None when ``value`` is not a finite real number."""
    if value.is_Rational:
        return ["exact", f"{value.p}/{value.q}"]
    try:
        number = complex(sympy.N(value, 30))
    except (TypeError, ValueError):
        return None
    if number != number or abs(number) == float("inf"):
        return None
    if abs(number.imag) > 1e-12 * max(1.0, abs(number.real)):
        return None
    return ["float", number.real]


def solve(request, sympy):
    symbols = {}
    known = {}
    for name, text in request["known"].items():
        p, q = text.split("/")
        known[name] = sympy.Rational(int(p), int(q))
    expressions = [_build(node, sympy, symbols, known) for node in request["equations"]]
    target = _build(["var", request["target"]], sympy, symbols, known)
    if any(e.has(sympy.zoo, sympy.nan) for e in expressions + [target]):
        return {"reason": "division by zero"}
    constants = [e for e in expressions if e.is_number]
    # Numerically, because sympy does not always reduce an irrational zero such as
    # (1 + sqrt(2))**2 - 3 - 2*sqrt(2) to 0 by itself.
    if any(abs(complex(sympy.N(e, 30))) > 1e-20 for e in constants):
        return {"reason": "inconsistent"}
    expressions = [e for e in expressions if not e.is_number]
    unknowns = sorted(set().union(*(e.free_symbols for e in expressions)), key=str)
    solutions = sympy.solve(expressions, unknowns, dict=True) if expressions else [{}]
    if not solutions:
        # Not "inconsistent": sympy also returns [] for polynomial systems it cannot solve.
        return {"reason": "no solution"}
    values = []
    for solution in solutions:
        value = target.xreplace(solution)
        if value.free_symbols:
            return {"reason": "underdetermined"}
        real = _real_value(value, sympy)
        if real is not None:
            values.append(real)
    return {"values": values} if values else {"reason": "no real solution"}


def main() -> None:
    protocol = sys.stdout
    sys.stdout = sys.stderr  # stray prints must not corrupt the protocol stream
    threading.Thread(target=_exit_when_orphaned, args=(int(sys.argv[1]),), daemon=True).start()
    _limit_memory()
    import sympy

    # The first solve in a process pays for sympy's lazy imports and caches (~0.3 s); pay it before
    # reporting ready so that it does not count against the first request's timeout.
    solve({"equations": [WARM_UP_EQUATION], "known": {}, "target": "x"}, sympy)
    protocol.write('{"ready": true}\n')
    protocol.flush()
    for line in sys.stdin:
        request = json.loads(line)
        try:
            response = solve(request, sympy)
        except Exception as exc:  # sympy raises many kinds (NotImplementedError, MemoryError, ...)
            response = {"reason": "non-linear unsupported", "detail": f"{type(exc).__name__}: {exc}"[:200]}
        response["id"] = request["id"]
        protocol.write(json.dumps(response) + "\n")
        protocol.flush()


if __name__ == "__main__":
    main()
