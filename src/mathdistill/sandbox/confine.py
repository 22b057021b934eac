"""Kernel-level confinement of sandbox processes (Linux only), via ctypes.

These layers hold even if model code gets past the in-interpreter guards of ``execute.py``
(e.g. by corrupting the interpreter): the kernel, not Python, enforces them.

* ``isolate_zygote`` (once per worker, as root): a private network namespace with no interfaces
  but a downed loopback, a private mount namespace with a size-capped tmpfs as the scratch
  directory, and a Landlock domain that forbids writing anywhere but the scratch directory,
  TCP bind/connect, and signalling processes outside the worker.
* ``jail`` (in every process that runs model code, right after fork): rlimits, drop to
  ``nobody``, non-dumpable (no ptrace / core dumps), parent-death signal, and a seccomp filter
  that refuses process creation, exec, sockets, ptrace, signals to (and rlimit changes of)
  other processes, new sessions/process groups, namespace and mount changes, io_uring and bpf.

Every layer degrades gracefully (it is reported missing) where the kernel or privileges do not
allow it; the caller records which layers are active.  Imports only the standard library and no
sibling module, because worker processes load it as a top-level module.
"""

from __future__ import annotations

import ctypes
import os
import platform
import resource
import signal
import struct

NOBODY = 65534

_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long
_libc.prctl.restype = ctypes.c_int
_libc.unshare.argtypes = [ctypes.c_int]
_libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p]

PR_SET_PDEATHSIG = 1
PR_SET_DUMPABLE = 4
PR_SET_SECCOMP = 22
PR_SET_NO_NEW_PRIVS = 38
SECCOMP_MODE_FILTER = 2

CLONE_NEWNS = 0x00020000
CLONE_NEWNET = 0x40000000
MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_REC, MS_PRIVATE = 2, 4, 8, 0x4000, 1 << 18


def _check(result: int, what: str) -> int:
    if result < 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")
    return result


def _prctl(option: int, arg: int = 0) -> None:
    _check(_libc.prctl(option, ctypes.c_ulong(arg), ctypes.c_ulong(0), ctypes.c_ulong(0),
                       ctypes.c_ulong(0)), f"prctl({option})")


# --------------------------------------------------------------------------- namespaces + tmpfs


def isolate_zygote(scratch: str, tmpfs_mb: int) -> list[str]:
    """Confine the calling (single-threaded, not yet forked) worker; returns the active layers."""
    layers = []
    if os.geteuid() == 0:
        try:
            _check(_libc.unshare(CLONE_NEWNET | CLONE_NEWNS), "unshare")
            layers.append("netns")
            # Without MS_PRIVATE our mounts would propagate back into the host namespace.
            _check(_libc.mount(None, b"/", None, MS_REC | MS_PRIVATE, None), "mount private")
            options = f"size={tmpfs_mb}m,mode=0711".encode()
            _check(_libc.mount(b"tmpfs", os.fsencode(scratch), b"tmpfs",
                               MS_NOSUID | MS_NODEV | MS_NOEXEC, options), "mount tmpfs")
            layers.append("tmpfs")
        except OSError:
            pass
    if _landlock(scratch):
        layers.append("landlock")
    return layers


# --------------------------------------------------------------------------- Landlock

_SYS_LANDLOCK = {"x86_64": (444, 445, 446), "aarch64": (444, 445, 446)}
_FS_EXECUTE, _FS_WRITE_FILE = 1 << 0, 1 << 1
_FS_REMOVE_DIR, _FS_REMOVE_FILE, _FS_MAKE_CHAR, _FS_MAKE_DIR = 1 << 4, 1 << 5, 1 << 6, 1 << 7
_FS_MAKE_REG, _FS_MAKE_SOCK, _FS_MAKE_FIFO, _FS_MAKE_BLOCK = 1 << 8, 1 << 9, 1 << 10, 1 << 11
_FS_MAKE_SYM, _FS_REFER, _FS_TRUNCATE = 1 << 12, 1 << 13, 1 << 14
_NET_BIND_TCP, _NET_CONNECT_TCP = 1 << 0, 1 << 1
_SCOPE_ABSTRACT_UNIX, _SCOPE_SIGNAL = 1 << 0, 1 << 1


def _landlock(writable_dir: str) -> bool:
    """Forbid writes outside ``writable_dir``, exec, TCP, and signals leaving the domain."""
    numbers = _SYS_LANDLOCK.get(platform.machine())
    if numbers is None:
        return False
    create, add_rule, restrict = numbers
    abi = _libc.syscall(create, None, 0, 1)  # LANDLOCK_CREATE_RULESET_VERSION
    if abi < 1:
        return False
    # Reads stay allowed (imports need them; the audit hook narrows them); everything that
    # creates, changes or removes files is handled, i.e. denied unless a rule grants it.
    handled = (_FS_EXECUTE | _FS_WRITE_FILE | _FS_REMOVE_DIR | _FS_REMOVE_FILE | _FS_MAKE_CHAR
               | _FS_MAKE_DIR | _FS_MAKE_REG | _FS_MAKE_SOCK | _FS_MAKE_FIFO | _FS_MAKE_BLOCK
               | _FS_MAKE_SYM)
    granted = _FS_WRITE_FILE | _FS_REMOVE_DIR | _FS_REMOVE_FILE | _FS_MAKE_DIR | _FS_MAKE_REG
    if abi >= 2:
        handled |= _FS_REFER
    if abi >= 3:
        handled |= _FS_TRUNCATE
        granted |= _FS_TRUNCATE
    net = _NET_BIND_TCP | _NET_CONNECT_TCP if abi >= 4 else 0
    scoped = _SCOPE_ABSTRACT_UNIX | _SCOPE_SIGNAL if abi >= 6 else 0
    attr = struct.pack("=QQQ", handled, net, scoped)[: 8 if abi < 4 else 16 if abi < 6 else 24]
    ruleset = _libc.syscall(create, attr, len(attr), 0)
    if ruleset < 0:
        return False
    try:
        # /dev/null: jailed processes point their stdio at it.
        for path, access in ((writable_dir, granted), (os.devnull, _FS_WRITE_FILE)):
            path_fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
            try:
                rule = struct.pack("=Qi", access, path_fd)  # landlock_path_beneath_attr, packed
                _check(_libc.syscall(add_rule, ruleset, 1, rule, 0), "landlock_add_rule")
            finally:
                os.close(path_fd)
        _prctl(PR_SET_NO_NEW_PRIVS, 1)
        _check(_libc.syscall(restrict, ruleset, 0), "landlock_restrict_self")
    except OSError:
        return False
    finally:
        os.close(ruleset)
    return True


# --------------------------------------------------------------------------- seccomp

_AUDIT_ARCH_X86_64 = 0xC000003E
_X32_SYSCALL_BIT = 0x40000000
_RET_KILL_PROCESS, _RET_ERRNO, _RET_ALLOW = 0x80000000, 0x00050000, 0x7FFF0000
_LD_ABS, _JEQ, _JGE, _RET = 0x20, 0x15, 0x35, 0x06

# x86_64 numbers.  Refused with EPERM: process creation and exec; sockets; tracing and reading
# other processes; leaving the worker's process group (the parent kills by group); namespace,
# mount and root changes; kernel attack surface model code never needs.  (Changing one's own
# rlimits stays allowed: the kernel refuses to raise hard limits without privileges.)
_DENIED_X86_64 = {
    "clone": 56, "fork": 57, "vfork": 58, "execve": 59, "clone3": 435, "execveat": 322,
    "socket": 41, "connect": 42, "bind": 49, "socketpair": 53,
    "ptrace": 101, "process_vm_readv": 310, "process_vm_writev": 311,
    "pidfd_open": 434, "pidfd_getfd": 438, "pidfd_send_signal": 424,
    "setpgid": 109, "setsid": 112,
    "unshare": 272, "setns": 308, "mount": 165, "umount2": 166, "pivot_root": 155, "chroot": 161,
    "open_tree": 428, "move_mount": 429, "fsopen": 430, "fsconfig": 431, "fsmount": 432,
    "fspick": 433, "mount_setattr": 442, "mknod": 133, "mknodat": 259,
    "io_uring_setup": 425, "io_uring_enter": 426, "io_uring_register": 427, "bpf": 321,
    "perf_event_open": 298, "userfaultfd": 323, "keyctl": 250, "add_key": 248,
    "request_key": 249, "personality": 135,
}
# Signal syscalls whose first argument is the target: allowed only when aimed at ourselves
# (``raise``/``abort`` signal themselves) -- not 0, the whole process group, which includes
# the worker's other jailed process -- so model code cannot signal any other process.
_SIGNAL_SELF_X86_64 = {"kill": 62, "tkill": 200, "tgkill": 234, "rt_sigqueueinfo": 129,
                       "rt_tgsigqueueinfo": 297}
# prlimit64(0 or own pid, ...) only: not the limits of another process running as `nobody`.
_PRLIMIT64_X86_64 = 302


def _seccomp_program(pid: int) -> bytes:
    code: list[tuple[int, object, object, int]] = []  # (op, jump-true label, jump-false label, k)

    def op(opcode: int, k: int, true: object = 0, false: object = 0) -> None:
        code.append((opcode, true, false, k))

    op(_LD_ABS, 4)  # seccomp_data.arch
    op(_JEQ, _AUDIT_ARCH_X86_64, 0, "kill")
    op(_LD_ABS, 0)  # seccomp_data.nr
    op(_JGE, _X32_SYSCALL_BIT, "kill", 0)
    for number in _DENIED_X86_64.values():
        op(_JEQ, number, "deny", 0)
    for number in _SIGNAL_SELF_X86_64.values():
        op(_JEQ, number, "self", 0)
    op(_JEQ, _PRLIMIT64_X86_64, "self or 0", 0)
    op(_RET, _RET_ALLOW)
    labels = {"self or 0": len(code)}
    op(_LD_ABS, 16)  # low half of args[0]; the kernel truncates pid_t to these 32 bits
    op(_JEQ, 0, "allow", 0)
    labels["self"] = len(code)
    op(_LD_ABS, 16)
    op(_JEQ, pid, "allow", "deny")
    for name, ret in (("allow", _RET_ALLOW), ("deny", _RET_ERRNO | 1), ("kill", _RET_KILL_PROCESS)):
        labels[name] = len(code)
        op(_RET, ret)

    def offset(target: object, index: int) -> int:
        return target if isinstance(target, int) else labels[target] - index - 1

    return b"".join(struct.pack("=HBBI", opcode, offset(t, i), offset(f, i), k)
                    for i, (opcode, t, f, k) in enumerate(code))


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


def _seccomp() -> bool:
    if platform.machine() != "x86_64":
        return False
    program = _seccomp_program(os.getpid())
    buffer = ctypes.create_string_buffer(program, len(program))
    fprog = _SockFprog(len(program) // 8, ctypes.addressof(buffer))
    _prctl(PR_SET_NO_NEW_PRIVS, 1)
    _check(_libc.prctl(PR_SET_SECCOMP, ctypes.c_ulong(SECCOMP_MODE_FILTER),
                       ctypes.c_void_p(ctypes.addressof(fprog)), ctypes.c_ulong(0),
                       ctypes.c_ulong(0)), "seccomp")
    return True


# --------------------------------------------------------------------------- per-process jail


def address_space_bytes() -> int:
    """Current virtual size of this process (the baseline the memory budget is added to)."""
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")


def jail(workdir: str, keep_fds: tuple[int, ...], cpu: tuple[int, int], address_space: int,
         file_size: int) -> list[str]:
    """Confine a freshly forked child for running model code; returns the active layers.

    Must run before any model code and before the audit hook (this uses ctypes, which the hook
    refuses).  Raises if a layer that is available fails to install, so the caller never runs
    model code in a half-built jail.
    """
    _prctl(PR_SET_PDEATHSIG, signal.SIGKILL)  # never outlive the worker that owns us
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)  # stray writes must not reach the worker's protocol pipes
    low = 3
    for fd in sorted(keep_fds):
        os.closerange(low, fd)
        low = fd + 1
    os.closerange(low, os.sysconf("SC_OPEN_MAX"))
    os.chdir(workdir)
    limits = {resource.RLIMIT_CPU: cpu, resource.RLIMIT_AS: (address_space, address_space),
              resource.RLIMIT_FSIZE: (file_size, file_size), resource.RLIMIT_NOFILE: (64, 64),
              resource.RLIMIT_CORE: (0, 0), resource.RLIMIT_NPROC: (0, 0)}
    for kind, value in limits.items():
        resource.setrlimit(kind, value)
    layers = ["rlimits"]
    if os.geteuid() == 0:
        # RLIMIT_NPROC is not enforced for root, and root could undo everything else.
        try:
            os.setgroups([])
            os.setgid(NOBODY)
            os.setuid(NOBODY)
            layers.append("nobody")
        except PermissionError:
            pass  # root without CAP_SETUID (some containers): seccomp still refuses fork
    _prctl(PR_SET_DUMPABLE, 0)
    if _seccomp():
        layers.append("seccomp")
    return layers
