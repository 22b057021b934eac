"""Running one model-written program inside an already jailed process (see ``confine.jail``).

Two kinds of process run programs, and they differ in what they accept:

* a one-shot **child**, forked for one program and discarded, runs anything: its builtins are
  the normal ones with a restricted ``__import__``, and the audit hook installed by
  ``install_guard`` refuses side effects (process creation, exec, sockets, ctypes, writes
  outside the working directory, signal and tracing hooks, bytecode crafting ...);
* a reused **runner** runs only programs that ``is_pure`` accepts.  Purity is a conservative,
  syntactic property meaning "this program cannot reach, let alone change, state shared with
  later programs": it imports only ``PURE_MODULES`` (and only their plain functions, classes
  and constants), assigns no attributes, touches no ``_private``/dunder or frame/code
  attributes, never names a reflective builtin (getattr, vars, globals, eval, open ...) nor an
  ABC's ``register``, and uses ``str.format`` only on literal templates without attribute or
  index lookups.  Module objects may only appear as ``module.name``.  Everything
  else goes to a one-shot child, so purity is only an optimisation: a program that the check
  wrongly rejects still runs, just slower.

Both run the program the same way (``run``) and extract the answer in the order documented in
the package docstring.  Imports only the standard library and no sibling module, because worker
processes load it as a top-level module.
"""

from __future__ import annotations

import ast
import builtins
import decimal
import importlib
import operator
import os
import string
import sys
import types
from fractions import Fraction
from typing import Any, Callable

# C code imports through the running program's __import__, so modules that allowed ones import
# from C (datetime.strptime -> _strptime) must pass it too.
_IMPORTED_FROM_C = frozenset({"_strptime"})
# Importable by programs (top-level names); submodules of these are importable too.
ALLOWED_MODULES = frozenset({
    "math", "cmath", "fractions", "decimal", "datetime", "itertools", "collections", "statistics",
    "functools", "operator", "heapq", "bisect", "numbers", "random", "re", "string", "typing",
    "numpy", "sympy", "mpmath",
}) | _IMPORTED_FROM_C
# Modules whose public API has no shared mutable state a program could change (the decimal
# context is reset before every program instead), and the few names that do and are excluded.
PURE_MODULES = ("math", "cmath", "fractions", "decimal", "datetime", "itertools", "collections",
                "statistics", "functools", "operator", "heapq", "bisect", "string")
_PURE_EXCLUDED = {
    "decimal": {"DefaultContext", "BasicContext", "ExtendedContext"},  # shared context templates
    # update_wrapper/wraps copy arbitrary attributes between objects; total_ordering adds
    # methods to the class it is given, which may be a shared one.
    "functools": {"update_wrapper", "wraps", "total_ordering"},
    "operator": {"attrgetter", "methodcaller"},  # getattr by string
    "string": {"Formatter"},  # Formatter.get_field is getattr by string
}
# Builtins that reach objects by name or run code the check cannot see; never in a runner.
_REFLECTIVE_BUILTINS = frozenset({
    "getattr", "setattr", "delattr", "vars", "globals", "locals", "eval", "exec", "compile",
    "open", "input", "breakpoint", "help", "memoryview", "__import__",
})
# Interactive helpers from ``site``: their ``exit`` closes sys.stdin, the others read files.
_SITE_BUILTINS = ("exit", "quit", "help", "copyright", "credits", "license")
# Attributes leading to frames and code objects (and from there to anyone's globals).
_INTROSPECTION_PREFIXES = ("gi_", "cr_", "ag_", "tb_", "f_", "co_")
# ABCMeta.register changes isinstance() for everyone, and ABCs are reachable via type(x).mro().
_MUTATING_ATTRIBUTES = frozenset({"register"})
_INERT_CONSTANTS = (bool, int, float, complex, str, bytes, type(None))

# Audit events refused in every jailed process, as exact names or "module." prefixes.
_DENIED_EVENTS = (
    "os.system", "os.exec", "os.spawn", "os.posix_spawn", "os.fork", "os.forkpty", "os.kill",
    "os.killpg", "os.putenv", "os.unsetenv", "os.chdir", "os.fchdir", "os.chmod", "os.chown",
    "os.chflags", "os.lchflags", "os.lchmod", "os.link", "os.symlink", "os.rename", "os.remove",
    "os.rmdir", "os.mkdir", "os.truncate", "os.utime", "os.setxattr", "os.removexattr",
    "os.startfile", "os.add_dll_directory", "subprocess.", "pty.", "socket.", "ctypes.",
    "sys.addaudithook", "sys.settrace", "sys.setprofile", "sys._current_frames",
    "sys._current_exceptions", "code.__new__", "marshal.", "pickle.", "gc.get_",
    "_thread.start_new_thread", "builtins.input", "builtins.breakpoint", "webbrowser.",
    "urllib.", "http.", "ftplib.", "smtplib.", "imaplib.", "poplib.", "nntplib.", "telnetlib.",
    "shutil.", "signal.", "mmap.", "fcntl.", "sqlite3.", "syslog.",
    # Audit hooks are per interpreter: a subinterpreter would run without this one.
    "cpython.PyInterpreterState_",
)
# Modules that must not be loaded at all (already loaded ones are covered by the events above).
_DENIED_IMPORTS = frozenset({
    "antigravity", "webbrowser", "subprocess", "_posixsubprocess", "socket", "_socket", "ssl",
    "ctypes", "_ctypes", "multiprocessing", "_multiprocessing", "pty", "asyncio", "http",
    "urllib", "ftplib", "smtplib", "telnetlib", "turtle", "tkinter", "pdb", "pydoc", "mmap",
    "fcntl", "signal", "_signal", "threading", "_thread", "concurrent", "_xxsubinterpreters",
})
# Allowed, but reveal or change interpreter internals: a runner that saw one is retired.
_TAINTING_EVENTS = frozenset({"object.__getattr__", "object.__setattr__", "object.__delattr__",
                              "sys._getframe", "function.__new__"})
_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_TRUNC

MAX_NUMBER_CHARS = 10_000  # a number longer than this is reported as "output too large"
MAX_TEXT_CHARS = 200  # non-numeric answers and error messages are truncated to this
MAX_REASON_CHARS = 200


class Guard:
    """What the audit hook saw during the current program (reset by the runner per program)."""

    def __init__(self) -> None:
        self.violation: str | None = None
        self.tainted = False

    def reset(self) -> None:
        self.violation = None
        self.tainted = False

    def refuse(self, what: str) -> PermissionError:
        if self.violation is None:
            self.violation = what  # the first attempt is reported even if the program catches it
        return PermissionError(f"forbidden: {what}")


def read_roots() -> tuple[str, ...]:
    """Directories programs may read from: the interpreter's, the installed packages' and the
    bytecode cache's (imports look there first)."""
    roots = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix, *sys.path}
    readable = {os.path.realpath(root) + os.sep for root in roots if os.path.isdir(root)}
    if sys.pycache_prefix:
        readable.add(os.path.realpath(sys.pycache_prefix) + os.sep)
    return tuple(sorted(readable))


def install_guard(workdir: str, readable: tuple[str, ...]) -> Guard:
    """Install the (irremovable) audit hook of this process; call after ``confine.jail``."""
    guard = Guard()
    writable = os.path.realpath(workdir) + os.sep
    readable = readable + (writable,)

    def path_problem(path: Any, writing: bool) -> str | None:
        if not isinstance(path, (str, bytes, os.PathLike)):
            return f"open {path!r}"  # raw descriptors: only ours exist, and they are not for programs
        real = os.path.realpath(os.fsdecode(path))
        inside = real + os.sep  # roots end with a separator, so /a/bc is not inside /a/b
        if inside.startswith(writable) or (not writing and (
                inside.startswith(readable) or real == os.devnull)):
            return None
        return f"{'write' if writing else 'read'} {real}"

    def hook(event: str, args: tuple[Any, ...]) -> None:
        if event in _TAINTING_EVENTS:
            guard.tainted = True
            return
        if event == "open":
            path, mode, flags = args
            writing = (any(c in mode for c in "wax+") if isinstance(mode, str)
                       else bool(isinstance(flags, int) and flags & _WRITE_FLAGS))
            problem = path_problem(path, writing)
        elif event in ("os.listdir", "os.scandir"):
            problem = path_problem(args[0] if args[0] is not None else ".", False)
        elif event == "import":
            name = str(args[0])
            problem = f"import {name}" if name.partition(".")[0] in _DENIED_IMPORTS else None
        elif event.startswith(_DENIED_EVENTS):
            problem = event
        else:
            return
        if problem is not None:
            guard.tainted = True
            raise guard.refuse(problem)

    sys.addaudithook(hook)
    return guard


# --------------------------------------------------------------------------- builtins


def _restricted_import(allowed: frozenset[str], guard: Guard) -> Callable[..., Any]:
    real_import = builtins.__import__

    def restricted_import(name: str, globals: Any = None, locals: Any = None,
                          fromlist: Any = (), level: int = 0) -> Any:
        if level or name.partition(".")[0] not in allowed:
            raise ImportError(str(guard.refuse(f"import {'.' * level}{name}")))
        return real_import(name, globals, locals, fromlist, level)

    return restricted_import


def _exit(code: Any = None) -> None:
    raise SystemExit(code)


def child_builtins(guard: Guard) -> dict[str, Any]:
    """Builtins for a one-shot child: everything, imports restricted to ALLOWED_MODULES."""
    table = {k: v for k, v in vars(builtins).items() if k not in _SITE_BUILTINS}
    table.update(__import__=_restricted_import(ALLOWED_MODULES, guard), exit=_exit, quit=_exit)
    return table


def runner_builtins(guard: Guard) -> dict[str, Any]:
    """Builtins for a runner: no reflective ones, imports restricted to PURE_MODULES."""
    table = child_builtins(guard)
    for name in _REFLECTIVE_BUILTINS:
        table.pop(name, None)
    table["__import__"] = _restricted_import(frozenset(PURE_MODULES) | _IMPORTED_FROM_C, guard)
    return table


# --------------------------------------------------------------------------- purity check


def _inert(value: Any) -> bool:
    if isinstance(value, (type, types.FunctionType, types.BuiltinFunctionType)):
        return True
    if isinstance(value, tuple):
        return all(type(item) in _INERT_CONSTANTS for item in value)
    return type(value) in _INERT_CONSTANTS


def pure_api() -> dict[str, frozenset[str]]:
    """For each pure module, the public names a runner program may use."""
    api = {}
    for name in PURE_MODULES:
        module = importlib.import_module(name)
        public = {attr for attr, value in vars(module).items()
                  if not attr.startswith("_") and _inert(value)}
        api[name] = frozenset(public - _PURE_EXCLUDED.get(name, set()))
    return api


def _literal_template_ok(template: str) -> bool:
    """A str.format template whose fields are only positions or plain names (no . or [)."""
    try:
        fields = list(string.Formatter().parse(template))
    except ValueError:
        return False
    for _, field, spec, _ in fields:
        if field is not None and not (field == "" or field.isdigit() or field.isidentifier()):
            return False
        if spec and not _literal_template_ok(spec):  # specs may nest fields: "{:{width}}"
            return False
    return True


def is_pure(tree: ast.AST, api: dict[str, frozenset[str]]) -> bool:
    """Whether a parsed program may run in a reused runner (see the module docstring)."""
    nodes = list(ast.walk(tree))
    modules: dict[str, str] = {}  # local name -> pure module it is bound to
    for node in nodes:
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name not in api:
                    return False
                modules[alias.asname or alias.name] = alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level or node.module not in api:
                return False
            if any(alias.name not in api[node.module] for alias in node.names):
                return False
    # A module may only appear as ``module.name``: never as a value that could escape.
    attribute_bases = {id(node.value) for node in nodes if isinstance(node, ast.Attribute)}
    for node in nodes:
        if isinstance(node, ast.Attribute):
            if not isinstance(node.ctx, ast.Load) or node.attr.startswith("_"):
                return False
            if node.attr.startswith(_INTROSPECTION_PREFIXES) or node.attr in _MUTATING_ATTRIBUTES:
                return False
            base = node.value
            if isinstance(base, ast.Name) and base.id in modules and (
                    node.attr not in api[modules[base.id]]):
                return False
            if node.attr in ("format", "format_map") and not (
                    isinstance(base, ast.Constant) and isinstance(base.value, str)
                    and _literal_template_ok(base.value)):
                return False
        elif isinstance(node, ast.Name):
            if node.id in _REFLECTIVE_BUILTINS or (node.id.startswith("__") and node.id != "__name__"):
                return False
            if node.id in modules and (id(node) not in attribute_bases
                                       or not isinstance(node.ctx, ast.Load)):
                return False
        elif isinstance(node, ast.MatchClass):
            if any(name.startswith("_") or name.startswith(_INTROSPECTION_PREFIXES)
                   for name in node.kwd_attrs):
                return False
    return True


class SharedState:
    """The state a pure program can reach but must not leave changed for the next one."""

    def __init__(self, api: dict[str, frozenset[str]]) -> None:
        namespaces = [vars(builtins)] + [vars(sys.modules[name]) for name in api]
        self._saved = [(namespace, tuple(namespace.values())) for namespace in namespaces]

    def reset(self) -> None:
        # The decimal context is per thread, reachable via getcontext() and meant to be changed.
        decimal.setcontext(decimal.Context())

    def intact(self) -> bool:
        """Cheap after-the-fact check that no module namespace was changed (defence in depth)."""
        return all(len(namespace) == len(values) and all(map(operator.is_, namespace.values(), values))
                   for namespace, values in self._saved)


# --------------------------------------------------------------------------- running a program


class OutputTooLarge(BaseException):
    """Raised on the program's print past the cap; BaseException so `except Exception` misses it."""


class CappedWriter:
    """sys.stdout replacement keeping at most ``limit`` characters."""

    encoding = "utf-8"

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.parts: list[str] = []
        self.size = 0
        self.overflowed = False

    def write(self, text: str) -> int:
        if not isinstance(text, str):
            raise TypeError(f"write() argument must be str, not {type(text).__name__}")
        if self.size + len(text) > self.limit:
            self.parts.append(text[: self.limit - self.size])
            self.size = self.limit
            self.overflowed = True
            raise OutputTooLarge
        self.parts.append(text)
        self.size += len(text)
        return len(text)

    def flush(self) -> None:
        pass

    def getvalue(self) -> str:
        return "".join(self.parts)


def _clean(text: str, limit: int) -> str:
    # Lone surrogates (e.g. print('\ud800')) cannot cross the UTF-8 pipe; replace them.
    return text[:limit].encode("utf-8", "replace").decode("utf-8")


def format_answer(value: Any) -> str:
    """Text of an answer value: numbers exactly, anything else str() truncated."""
    if getattr(type(value), "__module__", None) == "numpy" and getattr(value, "ndim", None) == 0:
        value = value.item()  # numpy scalars and 0-d arrays -> Python numbers
    if str(getattr(type(value), "__module__", "")).startswith("sympy") and getattr(value, "is_number", False):
        # sympy numbers: rationals exactly ("3/4"), irrationals such as sqrt(2) as floats
        value = Fraction(str(value)) if getattr(value, "is_Rational", False) else complex(value.evalf())
        if isinstance(value, complex) and value.imag == 0:
            value = value.real
    if isinstance(value, (int, float, complex, Fraction, decimal.Decimal)):
        text = str(value)  # Fraction -> "p/q", bool -> "True"
        if len(text) > MAX_NUMBER_CHARS:
            raise OutputTooLarge
        return text
    return str(value)[:MAX_TEXT_CHARS]


def _describe(error: BaseException) -> str:
    try:
        message = str(error)
    except Exception:
        message = ""
    name = type(error).__name__
    return f"error: {name}: {message}" if message else f"error: {name}"


def _extract(namespace: dict[str, Any], out: CappedWriter) -> str | None:
    value = namespace.get("ans")
    if value is None:
        for name in ("solution", "solver"):
            function = namespace.get(name)
            if callable(function):
                value = function()
                break
    if value is not None:
        return format_answer(value)
    lines = [line.strip() for line in out.getvalue().splitlines() if line.strip()]
    return lines[-1] if lines else None


def run(source: str, builtins_table: dict[str, Any], stdout_limit: int,
        guard: Guard) -> dict[str, str | None]:
    """Execute ``source`` in a fresh namespace and extract its answer.

    Returns ``{"answer", "reason", "stdout"}`` with exactly one of answer/reason set.
    """
    out = CappedWriter(stdout_limit)
    namespace: dict[str, Any] = {"__builtins__": dict(builtins_table), "__name__": "__main__"}
    answer = reason = None
    saved_stdout = sys.stdout
    sys.stdout = out
    try:
        code = compile(source, "<program>", "exec")
        try:
            exec(code, namespace)
        except SystemExit:
            pass  # sys.exit()/exit() end the program normally; the answer is whatever it left
        answer = _extract(namespace, out)
    except OutputTooLarge:
        reason = "output too large"
    except MemoryError:
        reason = "memory"
    except BaseException as error:  # the program's own exceptions, whatever their type
        reason = _clean(_describe(error), MAX_REASON_CHARS)
    finally:
        sys.stdout = saved_stdout
    if guard.violation is not None:
        answer, reason = None, _clean(f"forbidden: {guard.violation}", MAX_REASON_CHARS)
    elif out.overflowed:
        answer, reason = None, "output too large"
    elif answer is None and reason is None:
        reason = "no answer"
    return {"answer": None if answer is None else _clean(answer, MAX_NUMBER_CHARS),
            "reason": reason, "stdout": _clean(out.getvalue(), stdout_limit)}
