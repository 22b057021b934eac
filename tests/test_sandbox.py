"""Tests for mathdistill.sandbox: answers, a red-team corpus, state leakage, pool mechanics."""

from __future__ import annotations

import ast
import json
import os
import resource
import shutil
import signal
import socket
import sys
import tempfile
import uuid

import pytest

from mathdistill.sandbox import RunResult, Sandbox, SandboxError, confine, execute, pool, run_program

pytestmark = [
    pytest.mark.skipif(sys.platform != "linux", reason="the sandbox is Linux-only"),
    pytest.mark.timeout(180),
]

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NOBODY = 65534
# Benign programs run after every hostile one: the reused runner, numpy and sympy (forked).
BENIGN = ["ans = 6 * 7", "import math\nans = math.factorial(5)", "import numpy as np\nans = np.int64(9)",
          "import sympy\nans = sympy.Rational(1, 2) + 1", "print(len([1, 2, 3]) + abs(-1))"]
BENIGN_ANSWERS = ["42", "120", "9", "3/2", "4"]
# Reaches any module's globals without importing anything (classic sandbox escape).
GADGET = """
def find(name):
    for cls in ().__class__.__bases__[0].__subclasses__():
        namespace = getattr(cls.__init__, "__globals__", None)
        if namespace and name in namespace:
            return namespace[name]
    raise LookupError(name)
"""


@pytest.fixture(scope="module")
def sandbox():
    with Sandbox(workers=2, timeout=1.0, cpu_seconds=1, memory_mb=256) as sb:
        yield sb


@pytest.fixture(scope="module")
def listener():
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    server.settimeout(0.3)
    yield server
    server.close()


def _privileged() -> bool:
    """Root with the capabilities the jail uses: namespaces (SYS_ADMIN), dropping to nobody."""
    with open("/proc/self/status") as status:
        effective = int(status.read().split("CapEff:")[1].split()[0], 16)
    needed = (1 << 21) | (1 << 7) | (1 << 6) | (1 << 0)  # SYS_ADMIN, SETUID, SETGID, CHOWN
    return os.geteuid() == 0 and effective & needed == needed


def _processes() -> dict[int, tuple[int, int, int]]:
    """pid -> (ppid, process group, session) for every process on the machine."""
    table = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except OSError:
            continue  # exited meanwhile
        table[int(name)] = (int(fields[1]), int(fields[2]), int(fields[3]))
    return table


def _workers() -> set[int]:
    """Our sandbox workers: this process's children, each leading its own session and group."""
    return {pid for pid, (ppid, _, _) in _processes().items() if ppid == os.getpid()}


def _stray_processes(workers: set[int]) -> list[int]:
    """Processes in the workers' sessions or groups other than the workers and one runner each.

    Jailed processes cannot leave them (seccomp refuses setsid/setpgid), so this also catches
    any that escaped their parent (double fork, reparenting).  Other sandboxes on the machine,
    e.g. another test run, are not counted.
    """
    stray = []
    runners: dict[int, int] = {}
    for pid, (ppid, group, session) in _processes().items():
        if pid in workers or not {group, session} & workers:
            continue
        runners[ppid] = runners.get(ppid, 0) + 1
        if ppid not in workers or runners[ppid] > 1:
            stray.append(pid)
    return stray


# --------------------------------------------------------------------------- answers


@pytest.mark.parametrize("code, answer", [
    ("ans = 3 * 4", "12"),
    ("def solution():\n    return 7", "7"),
    ("def solver():\n    return 8", "8"),
    ("print('working...')\nprint(41 + 1)\n\n", "42"),
    ("from fractions import Fraction\nans = Fraction(1, 3) + Fraction(1, 6)", "1/2"),
    ("ans = 1 / 4", "0.25"),
    ("from decimal import Decimal\nans = Decimal('1.10') + Decimal('2.20')", "3.30"),
    ("import numpy as np\nans = np.float64(2.5)", "2.5"),
    ("import numpy as np\nans = np.array(7)", "7"),
    ("import sympy as sp\nx = sp.symbols('x')\nans = sp.solve(x**2 - 4, x)", "[-2, 2]"),
    ("ans = 2 > 1", "True"),
    ("ans = 'x' * 500", "x" * 200),
    ("ans = None\ndef solution():\n    print(5)\n", "5"),
    ("print(5)\nraise SystemExit(3)", "5"),
    ("from decimal import getcontext, Decimal\ngetcontext().prec = 50\nans = Decimal(1) / 7",
     "0.14285714285714285714285714285714285714285714285714"),
    ("class Box:\n    def __init__(self, v):\n        self.v = v\nans = Box(3).v", "3"),
    ("if __name__ == '__main__':\n    print('{:.2f}'.format(2 / 3))", "0.67"),
    # Lazily imported modules still load inside the jail.
    ("from sympy.stats import Die, E\nans = E(Die('X', 6))", "7/2"),
    ("from datetime import datetime\nans = datetime.strptime('2024-01-05', '%Y-%m-%d').day", "5"),
])
def test_answers(sandbox, code, answer):
    result = sandbox.run(code)
    assert (result.answer, result.reason) == (answer, None)


@pytest.mark.parametrize("code, reason", [
    ("x = 1", "no answer"),
    ("exit()", "no answer"),
    ("ans = 1 / 0", "error: ZeroDivisionError: division by zero"),
    ("raise KeyboardInterrupt", "error: KeyboardInterrupt"),
    ("ans = (", "error: SyntaxError: '(' was never closed (<program>, line 1)"),
])
def test_reasons(sandbox, code, reason):
    result = sandbox.run(code)
    assert (result.answer, result.reason) == (None, reason)


def test_stdout_is_captured(sandbox):
    assert sandbox.run("print('a')\nprint('b')\nans = 1").stdout == "a\nb\n"


def test_run_many_keeps_input_order_across_paths(sandbox):
    codes = []
    for i in range(60):
        codes.append(f"ans = {i} * 2" if i % 3 else f"import sympy\nans = sympy.Integer({i}) * 2")
    assert [r.answer for r in sandbox.run_many(codes)] == [str(i * 2) for i in range(60)]
    assert sandbox.run_many([]) == []


def test_jail_layers_active_as_root(sandbox):
    if not _privileged():
        pytest.skip("namespaces and privilege drop need root and its capabilities")
    assert {"netns", "landlock", "nobody", "seccomp", "rlimits", "audit"} <= set(sandbox.layers)
    assert sandbox.run(GADGET + "ans = find('getuid')()").answer == str(NOBODY)


# --------------------------------------------------------------------------- red team

MARKER = f"/tmp/mathdistill-pwned-{uuid.uuid4().hex}"
PROJECT_MARKER = os.path.join(REPO, f"pwned-{uuid.uuid4().hex}")
POPEN = "P = [c for c in ().__class__.__bases__[0].__subclasses__() if c.__name__ == 'Popen'][0]\n"

HOSTILE = {
    "fork bomb": "import os\nwhile True:\n    os.fork()",
    "fork bomb via gadget": GADGET + "fork = find('fork')\nwhile True:\n    try:\n        fork()\n"
                                     "    except Exception:\n        pass",
    "os.system": f"import os\nos.system('touch {MARKER}')",
    "__import__('os')": f"__import__('os').system('touch {MARKER}')",
    "_wrap_close escape": "w = [c for c in ().__class__.__bases__[0].__subclasses__()"
                          " if c.__name__ == '_wrap_close'][0]\n"
                          f"w.__init__.__globals__['system']('touch {MARKER}')",
    "subprocess.run": f"import subprocess\nsubprocess.run(['touch', '{MARKER}'])",
    "Popen via subclasses": POPEN + f"P(['touch', '{MARKER}']).wait()",
    # Disables the Popen audit call by swapping subprocess's `sys`: only the kernel layers
    # (seccomp: no clone/exec) stand in the way.
    "audit bypass": POPEN + "g = P.__init__.__globals__\nreal = g['sys']\nclass Fake:\n"
                            "    def __getattr__(self, name):\n        return getattr(real, name)\n"
                            "    def audit(self, *args):\n        pass\ng['sys'] = Fake()\n"
                            f"P(['/bin/sh', '-c', 'touch {MARKER}']).wait()",
    "open /tmp for writing": f"open('{MARKER}', 'w').write('x')",
    "write into the project": f"open('{PROJECT_MARKER}', 'w').write('x')",
    "os.open via gadget": GADGET + f"find('open')('{MARKER}', 0o101)",
    "read /etc/passwd": "ans = open('/etc/passwd').read()",
    "socket import": "import socket\ns = socket.create_connection(('127.0.0.1', PORT))\ns.send(b'x')",
    "socket via gadget": GADGET + "imp = find('__builtins__')['__import__']\ns = imp('socket').socket()\n"
                                  "s.connect(('127.0.0.1', PORT))\ns.send(b'x')",
    "ctypes import": f"import ctypes\nctypes.CDLL(None).system(b'touch {MARKER}')",
    "ctypes via gadget": GADGET + f"find('sys').modules['ctypes'].CDLL(None).system(b'touch {MARKER}')",
    "infinite loop": "while True:\n    pass",
    "deep recursion": "def f(n):\n    return f(n + 1)\nans = f(0)",
    "memory bomb": "x = ' ' * 10**10",
    "list growth": "x = []\nwhile True:\n    x.append(' ' * 10**6)",
    "address space growth": "x = []\nwhile True:\n    x.append(bytearray(10**7))",
    "huge power": "ans = 7**(7**8)",
    "signal tampering": GADGET + "sig = find('sys').modules['signal']\nsig.signal(sig.SIGXCPU, sig.SIG_IGN)\n"
                                 "sig.signal(sig.SIGALRM, sig.SIG_IGN)\nsig.alarm(0)\nwhile True:\n    pass",
    "kill the worker": GADGET + "find('kill')(find('getppid')(), 9)",
    "kill everyone": GADGET + "find('kill')(-1, 9)",
    "new session": GADGET + "find('setsid')()\nwhile True:\n    pass",
    "sys.exit": "import sys\nsys.exit()",
    "os._exit": GADGET + "find('_exit')(0)",
    "KeyboardInterrupt": "raise KeyboardInterrupt",
    "huge output": "print('x' * 10**8)",
    "endless output": "while True:\n    print('y' * 1000)",
    "swallowed huge output": "try:\n    print('x' * 10**6)\nexcept BaseException:\n    pass\nans = 1",
    "antigravity": "import antigravity",
    "webbrowser": "import webbrowser\nwebbrowser.open('http://example.com')",
    "gc.get_objects": GADGET + "ans = len(find('sys').modules['gc'].get_objects())",
    "finalizer that never ends": "class A:\n    def __del__(self):\n        while True:\n            pass\n"
                                 "a = A()\nans = 1",
}
# What each attempt must come to (None: any reason, as long as it yields no answer).
EXPECTED = {
    "fork bomb": "forbidden: import os",
    "os.system": "forbidden: import os",
    "__import__('os')": "forbidden: import os",
    "_wrap_close escape": "forbidden: os.system",
    "subprocess.run": "forbidden: import subprocess",
    "Popen via subclasses": "forbidden: subprocess.Popen",
    "audit bypass": "error: PermissionError: [Errno 1] Operation not permitted",
    "open /tmp for writing": f"forbidden: write {MARKER}",
    "write into the project": f"forbidden: write {PROJECT_MARKER}",
    "read /etc/passwd": "forbidden: read /etc/passwd",
    "socket import": "forbidden: import socket",
    "socket via gadget": "forbidden: import socket",
    "ctypes import": "forbidden: import ctypes",
    "ctypes via gadget": "forbidden: ctypes.dlopen",
    "infinite loop": "timeout",
    "memory bomb": "memory",
    "address space growth": "memory",
    "signal tampering": "timeout",
    "kill the worker": "forbidden: os.kill",
    "kill everyone": "forbidden: os.kill",
    "sys.exit": "forbidden: import sys",
    "os._exit": "worker crashed",
    "KeyboardInterrupt": "error: KeyboardInterrupt",
    "huge output": "output too large",
    "endless output": "output too large",
    "swallowed huge output": "output too large",
    "antigravity": "forbidden: import antigravity",
    "webbrowser": "forbidden: import webbrowser",
    "gc.get_objects": "forbidden: gc.get_objects",
    "finalizer that never ends": "timeout",
}


@pytest.mark.parametrize("name", list(HOSTILE))
def test_hostile_program_is_contained(sandbox, listener, name):
    workers = _workers()
    code = HOSTILE[name].replace("PORT", str(listener.getsockname()[1]))
    result = sandbox.run(code)
    assert result.answer is None, result
    if name in EXPECTED:
        assert result.reason == EXPECTED[name]
    elif name == "fork bomb via gadget":
        assert result.reason in ("timeout", "forbidden: os.fork")
    elif name == "deep recursion":
        assert result.reason.startswith("error: RecursionError")
    elif name == "list growth":  # touching 256 MB of pages can take longer than 1 s on a busy VM
        assert result.reason in ("memory", "timeout")
    elif name == "huge power":
        assert result.reason == "timeout" or result.reason.startswith("error: ValueError")
    else:
        assert result.reason
    assert len(result.stdout) <= 10_000
    # No side effect survived ...
    assert not os.path.exists(MARKER)
    assert not os.path.exists(PROJECT_MARKER)
    with pytest.raises(socket.timeout):
        listener.accept()
    assert _stray_processes(workers | _workers()) == []
    # ... and the sandbox still scores benign programs, on every path.
    assert [r.answer for r in sandbox.run_many(BENIGN)] == BENIGN_ANSWERS


@pytest.mark.parametrize("attack", [
    "__builtins__['len'] = lambda x: 42\n__builtins__['abs'] = lambda x: 42",
    "len = lambda x: 42\nabs = len",
    GADGET + "find('__builtins__')['len'] = lambda x: 42",
    "import builtins\nbuiltins.len = lambda x: 42",
    "import math\nmath.pi = 3\nmath.factorial = lambda n: 0",
    GADGET + "find('sys').modules['math'].pi = 3",
    "import math\nsetattr(math, 'pi', 3)",
    "from fractions import Fraction\nimport numbers\ntype(Fraction(1)).mro()[1].register(float)",
    "import decimal\ndecimal.getcontext().prec = 3",
    # Pure (runs in the reused runner): the context is reset before every program.
    "import decimal\ndecimal.getcontext().traps[decimal.DivisionByZero] = False",
    "import numpy as np\nnp.set_printoptions(precision=1)\nnp.random.seed(0)",
])
def test_no_state_leaks_into_later_programs(sandbox, attack):
    after = ["ans = len([1, 2, 3]) + abs(-1)", "import math\nans = math.pi",
             "import math\nans = math.factorial(5)",
             "import numbers\nans = isinstance(1.5, numbers.Rational)",
             "import decimal\nans = decimal.Decimal(1) / decimal.Decimal(3)",
             "import decimal\nans = decimal.Decimal(1) / decimal.Decimal(0)",
             "import numpy as np\nans = str(np.array([1 / 3]))"]
    expected = ["4", "3.141592653589793", "120", "False", "0.3333333333333333333333333333",
                None, "[0.33333333]"]
    # Several rounds, so later programs land on the workers (and runners) the attack ran in.
    for _ in range(2):
        sandbox.run_many([attack] * 2)
        results = sandbox.run_many(after * 2)
        assert [r.answer for r in results] == expected * 2
        assert results[5].reason.startswith("error: DivisionByZero")


def test_files_do_not_persist_between_programs(sandbox):
    assert sandbox.run("open('notes.txt', 'w').write('hi')\nans = open('notes.txt').read()").answer == "hi"
    assert sandbox.run("ans = open('notes.txt').read()").reason.startswith("error: FileNotFoundError")


# --------------------------------------------------------------------------- kernel layers alone


def _attempt(action) -> str:
    try:
        action()
    except OSError as error:
        return "refused" if error.errno in (1, 13) else f"errno {error.errno}"  # EPERM, EACCES
    return "allowed"


def test_kernel_layers_hold_without_the_audit_hook():
    """Jail a child forked from this process with no audit hook: the kernel alone must refuse."""
    scratch = tempfile.mkdtemp(prefix="mathdistill-jail-test-")
    os.chmod(scratch, 0o711)
    outside = f"/tmp/mathdistill-outside-{uuid.uuid4().hex}"
    host_net = os.readlink("/proc/self/ns/net")
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            layers = confine.isolate_zygote(scratch, 16)
            workdir = os.path.join(scratch, "work")
            os.mkdir(workdir)
            if _privileged():
                os.chown(workdir, NOBODY, NOBODY)
            budget = confine.address_space_bytes() + (256 << 20)
            layers += confine.jail(workdir, (write_end,), (5, 6), budget, 1 << 20)
            report = {
                "layers": layers,
                "uid": os.getuid(),
                "separate netns": os.readlink("/proc/self/ns/net") != host_net,
                "fork": _attempt(os.fork),
                "exec": _attempt(lambda: os.execv("/bin/true", ["true"])),
                "socket": _attempt(socket.socket),
                "signal own group": _attempt(lambda: os.kill(0, 0)),
                "signal parent": _attempt(lambda: os.kill(os.getppid(), 0)),
                "signal self": _attempt(lambda: os.kill(os.getpid(), 0)),
                "new session": _attempt(os.setsid),
                "other's limits": _attempt(lambda: resource.prlimit(os.getppid(), resource.RLIMIT_CPU)),
                "lower own limit": _attempt(lambda: resource.setrlimit(resource.RLIMIT_CPU, (4, 6))),
                "write outside": _attempt(lambda: open(outside, "w").close()),
                "write inside": _attempt(lambda: open(os.path.join(workdir, "f"), "w").close()),
            }
            os.write(write_end, json.dumps(report).encode())
        finally:
            os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end) as pipe:
        report = json.loads(pipe.read())
    os.waitpid(pid, 0)
    shutil.rmtree(scratch)
    assert not os.path.exists(outside)
    assert {"landlock", "rlimits", "seccomp"} <= set(report.pop("layers"))
    privileged = _privileged()
    assert report.pop("uid") == (NOBODY if privileged else os.getuid())
    assert report.pop("separate netns") == privileged
    assert report == {"fork": "refused", "exec": "refused", "socket": "refused",
                      "signal own group": "refused", "signal parent": "refused",
                      "signal self": "allowed", "new session": "refused", "other's limits": "refused",
                      "lower own limit": "allowed", "write outside": "refused", "write inside": "allowed"}


# --------------------------------------------------------------------------- purity check


@pytest.fixture(scope="module")
def api():
    return execute.pure_api()


@pytest.mark.parametrize("code", [
    "a = 3\nb = 4\nans = a * b",
    "import math\nans = math.sqrt(2) + math.pi",
    "from fractions import Fraction\nfrom collections import Counter\nans = Fraction(1, 3)",
    "def solution():\n    total = 0\n    for _ in range(3):\n        total += 1\n    return total",
    "x = 2 / 3\nprint(f'{x:.2f}')\nprint('{} and {:.1f}'.format(1, x))",
    "if __name__ == '__main__':\n    print(sum(i * i for i in range(10)))",
    "from functools import lru_cache\n@lru_cache(None)\ndef fib(n):\n"
    "    return n if n < 2 else fib(n - 1) + fib(n - 2)",
])
def test_pure_programs(api, code):
    assert execute.is_pure(ast.parse(code), api)


@pytest.mark.parametrize("code", [
    "import math\nmath.pi = 3",
    "import math\nm = math",
    "import os",
    "import collections.abc",
    "from math import *",
    "from decimal import DefaultContext",
    "from functools import wraps",
    "x = getattr(1, 'real')",
    "x = (1).__class__",
    "x = '{0.__class__}'.format(1)",
    "fmt = '{}'\nx = fmt.format(1)",
    "def g():\n    yield 1\nx = g().gi_frame",
    "class A:\n    def __init__(self):\n        self.x = 1",
    "type(1).mro()[0].register(float)",
    "x = globals()",
    "import numpy",
])
def test_impure_programs(api, code):
    assert not execute.is_pure(ast.parse(code), api)


# --------------------------------------------------------------------------- pool mechanics


def test_worker_killed_while_idle_is_replaced(sandbox):
    victim = sandbox._workers[0].process
    os.killpg(victim.pid, signal.SIGKILL)
    victim.wait()  # dead before the next run, whatever the machine's load
    assert [r.answer for r in sandbox.run_many(BENIGN)] == BENIGN_ANSWERS
    assert victim.pid not in [worker.process.pid for worker in sandbox._workers]


def test_stuck_worker_is_killed_by_the_parent_backstop(monkeypatch):
    monkeypatch.setattr(pool, "_GRACE_SECONDS", 0.5)
    with Sandbox(workers=1, timeout=0.5) as sb:
        stuck = sb._workers[0].process.pid
        os.kill(stuck, signal.SIGSTOP)  # a worker that no longer answers at all
        assert sb.run("ans = 1") == RunResult(None, "timeout")
        assert sb.run("ans = 2").answer == "2"
        assert sb._workers[0].process.pid != stuck
    with pytest.raises(ProcessLookupError):
        os.kill(stuck, 0)
    with pytest.raises(SandboxError):
        sb.run("ans = 3")


def test_close_leaves_nothing_behind():
    sb = Sandbox(workers=1)
    sb.run("import sympy\nans = sympy.pi")
    base, leader = sb._base, sb._workers[0].process.pid
    group = {pid for pid, (_, pgid, _) in _processes().items() if pgid == leader}
    assert len(group) == 2  # the worker and its runner
    sb.close()
    assert not os.path.exists(base)
    assert not group & set(_processes())


def test_run_program_uses_a_shared_default_sandbox():
    assert run_program("ans = 40 + 2") == RunResult("42", None, "")
    shared = pool._defaults[()]
    assert run_program("ans = 1").answer == "1" and pool._defaults[()] is shared
    assert run_program("print(1)", timeout=1.5).answer == "1"  # other limits: another sandbox
    other = pool._defaults.pop((("timeout", 1.5),))
    assert other is not shared
    other.close()


def test_sympy_answers_become_numbers():
    from mathdistill.sandbox import run_program

    root = run_program("import sympy as sp\nx = sp.Symbol('x')\nans = max(sp.solve(x**2 - 2, x))")
    assert abs(float(root.answer) - 2 ** 0.5) < 1e-12
    assert run_program("import sympy as sp\nans = sp.Rational(3, 4)").answer == "3/4"
