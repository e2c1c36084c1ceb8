"""What a worker does to itself right after the fork, before it sees any input.

Order matters: leave the zygote's session first (so the supervisor can kill the whole
group), tie our life to the zygote's, join the cgroups, then confine (with descriptors
the zygote prepared: sandbox/confinement.py), giving up the capabilities last, then drop
descriptors and set the limits, so nothing above is refused by them.

The zygote and its short-lived helpers use the functions that make namespaces here too.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import resource
import select
import signal
import sys
from pathlib import Path

from connectord.sandbox import landlock
from connectord.sandbox.protocol import Limits

PR_SET_PDEATHSIG = 1
PR_SET_DUMPABLE = 4
PR_SET_SECCOMP = 22
PR_SET_NO_NEW_PRIVS = 38
SECCOMP_MODE_FILTER = 2
#: The worker's socket is moved here; every other descriptor above 2 is closed.
WORKER_FD = 3

_libc = ctypes.CDLL(None, use_errno=True)


def die_with_parent(expected_parent: int, sig: int = signal.SIGKILL) -> None:
    """Send us ``sig`` when our parent goes; exit now if it already went."""
    if _libc.prctl(PR_SET_PDEATHSIG, sig, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")
    if os.getppid() != expected_parent:
        os._exit(1)


def forbid_inspection() -> None:
    """Make this process non-dumpable: a process of the same user can then neither trace
    it nor read its memory or environment through /proc (a worker holds a tenant's
    credentials; the server holds every tenant's), and it leaves no core dump."""
    if _libc.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_DUMPABLE) failed")


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [(name, ctypes.c_uint32) for name in ("effective", "permitted", "inheritable")]


_CAPABILITY_VERSION_3 = 0x20080522
# Built once, at import in the zygote: what a worker builds after the fork costs it pages.
_NO_CAPABILITIES_HEADER = ctypes.pointer(_CapHeader(_CAPABILITY_VERSION_3, 0))
_NO_CAPABILITIES = (_CapData * 2)()
_capset = _libc.capset


def drop_capabilities() -> None:
    """Give up every capability for good. ``no_new_privs`` keeps an exec from granting any
    back (setuid bits and file capabilities are ignored, and root's exec gains none), and
    emptying the permitted set empties the ambient one. A worker running as root (or as
    root of the user namespace its hidden paths live in) is then root by name only: it
    cannot unmount what hides the data directory, trace or read another process of the
    same user (the zygote included, through /proc/PID/mem or /root), configure a network
    namespace, make device nodes or raise its own rlimits."""
    _no_new_privileges()
    if _capset(_NO_CAPABILITIES_HEADER, _NO_CAPABILITIES) != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"cannot drop capabilities (capset: {os.strerror(errno)})")


def kill_everything_in(pid: int, cgroups: list[str]) -> None:
    """SIGKILL a worker's process group and every process in its cgroups."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)
    for path in cgroups:
        kill_file = Path(path) / "cgroup.kill"
        with contextlib.suppress(OSError):
            if kill_file.exists():
                kill_file.write_text("1")
                continue
            for line in (Path(path) / "cgroup.procs").read_text().split():
                with contextlib.suppress(ProcessLookupError):
                    os.kill(int(line), signal.SIGKILL)


def join_cgroups(paths: list[str]) -> None:
    # Plain os calls: every page a worker touches after the fork is copied for it.
    for path in paths:
        fd = os.open(os.path.join(path, "cgroup.procs"), os.O_WRONLY)
        try:
            os.write(fd, b"0")
        finally:
            os.close(fd)


def keep_only(fd: int) -> int:
    """Point 0, 1 and 2 at /dev/null, move ``fd`` to WORKER_FD and close everything else."""
    devnull = os.open(os.devnull, os.O_RDWR)
    for std in (0, 1, 2):
        os.dup2(devnull, std)
    if fd != WORKER_FD:
        os.dup2(fd, WORKER_FD)
    os.closerange(WORKER_FD + 1, resource.getrlimit(resource.RLIMIT_NOFILE)[0])
    return WORKER_FD


def reset_signals() -> None:
    signal.set_wakeup_fd(-1)
    for sig in (signal.SIGCHLD, signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGPIPE):
        signal.signal(sig, signal.SIG_DFL)


CLONE_NEWNET = 0x40000000


def cut_network() -> None:
    """Move into a new network namespace holding only a loopback device that is down."""
    if _libc.unshare(CLONE_NEWNET) != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"cannot cut the network (unshare: {os.strerror(errno)})")


def enter_network(namespace: int) -> None:
    """Join the network namespace open at descriptor ``namespace``."""
    _setns(namespace, CLONE_NEWNET, "cut the network")


def empty_network_namespace() -> int:
    """A descriptor of a new network namespace holding only a loopback device that is
    down, made without leaving our own: joining it costs a worker ≈ 0.04 ms here, making
    one ≈ 3 ms (and the kernel's clean-up of each namespace besides)."""
    ours = os.open("/proc/self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    try:
        cut_network()
        try:
            return os.open("/proc/self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
        finally:
            _return_to(ours)
    finally:
        os.close(ours)


def _return_to(network: int) -> None:
    try:
        enter_network(network)
    except OSError:
        # Left in the empty namespace, we would fork workers without network that were
        # meant to have it: better to end (the supervisor starts a zygote again).
        os._exit(70)


def apply_limits(limits: Limits, address_space_at_start: int) -> None:
    if limits.memory_bytes is not None:
        # RLIMIT_AS counts address space, and a worker starts with the zygote's mappings
        # (shared libraries, arenas); the limit is what the call may add on top of those.
        # It binds each process alone: the worker's memory cgroup, where the supervisor has
        # one, bounds them all together (runtime/supervisor/cgroups.py). This one still
        # turns a single runaway allocation into a MemoryError, before the cgroup's kill.
        _set(resource.RLIMIT_AS, address_space_at_start + limits.memory_bytes)
    if limits.cpu_seconds is not None:
        # The soft limit sends SIGXCPU, which ends the worker (reported as a timeout). The
        # hard one stays as it was: a worker without capabilities could not raise it again
        # for its next call, and the supervisor's deadline is what bounds a call.
        _, hard = resource.getrlimit(resource.RLIMIT_CPU)
        resource.setrlimit(resource.RLIMIT_CPU, (_capped(limits.cpu_seconds, hard), hard))
    if limits.open_files is not None:
        _set(resource.RLIMIT_NOFILE, limits.open_files)


def _capped(value: int, hard: int) -> int:
    return value if hard == resource.RLIM_INFINITY else min(value, hard)


def _set(limit: int, value: int) -> None:
    _, hard = resource.getrlimit(limit)
    if hard != resource.RLIM_INFINITY:
        value = min(value, hard)
    resource.setrlimit(limit, (value, value))


def address_space() -> int:
    with open("/proc/self/statm") as statm:
        pages = int(statm.read().split()[0])
    return pages * resource.getpagesize()


CLONE_NEWNS = 0x00020000
CLONE_NEWUSER = 0x10000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 0x20, 0x1000, 0x4000, 1 << 18


def hide_paths(paths: list[str], via_user_namespace: bool = False) -> None:
    """Mount an empty read-only tmpfs over each directory of ``paths`` and /dev/null over
    each file, in a new mount namespace (a user namespace too, where we lack the right to
    mount: unprivileged user namespaces allow it). Paths that do not exist are skipped."""
    if via_user_namespace or _libc.unshare(CLONE_NEWNS) != 0:
        _enter_user_namespace()
    _mount(None, "/", None, MS_REC | MS_PRIVATE, None)
    for path in paths:
        if os.path.isdir(path):
            flags = MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC
            _mount("tmpfs", path, "tmpfs", flags, "size=4k,mode=0500")
        elif os.path.exists(path):
            _mount("/dev/null", path, None, MS_BIND, None)


def hiding_view(paths: list[str], via_user_namespace: bool = False) -> tuple[int | None, int]:
    """Descriptors of a mount namespace in which ``paths`` are hidden (``hide_paths``) and,
    where one was needed, of the user namespace that owns it (None where that is ours).
    A short-lived child makes them, so that we stay where we are; each worker then joins
    them (``enter_view``) instead of hiding the paths again: 0.16 ms against 0.36 ms here."""
    ready_r, ready_w = os.pipe2(os.O_CLOEXEC)
    hold_r, hold_w = os.pipe2(os.O_CLOEXEC)
    parent = os.getpid()
    try:
        pid = os.fork()
    except OSError:
        for fd in (ready_r, ready_w, hold_r, hold_w):
            os.close(fd)
        raise
    if pid == 0:
        try:
            reset_signals()
            die_with_parent(parent)
            _keep_only_these(ready_w, hold_r)
            # It now holds nothing, and the zygote (not dumpable) must open its namespaces.
            _libc.prctl(PR_SET_DUMPABLE, 1, 0, 0, 0)
            os.write(ready_w, b"!" + _hidden_or_why(paths, via_user_namespace))
            os.read(hold_r, 1)  # live on until our namespaces are open in the parent
        finally:
            os._exit(0)
    os.close(ready_w)
    os.close(hold_r)
    try:
        return _namespaces_of(pid, ready_r)
    finally:
        os.close(ready_r)
        os.close(hold_w)
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)  # gone already but for a helper that hangs
        os.waitpid(pid, 0)


def _keep_only_these(*fds: int) -> None:
    """Close every descriptor above 2 but ``fds``."""
    start = 3
    for fd in sorted(fds):
        os.closerange(start, fd)
        start = fd + 1
    os.closerange(start, resource.getrlimit(resource.RLIMIT_NOFILE)[0])


def _namespaces_of(helper: int, ready: int, timeout: float = 30.0) -> tuple[int | None, int]:
    poll = select.poll()
    poll.register(ready, select.POLLIN)
    if not poll.poll(timeout * 1000):
        raise OSError(0, f"cannot hide paths: no answer in {timeout:.0f} s")
    answer = os.read(ready, 4096)
    if answer != b"!":
        raise OSError(0, answer[1:].decode(errors="replace") or "the process hiding paths died")
    user = None
    if os.stat(f"/proc/{helper}/ns/user").st_ino != os.stat("/proc/self/ns/user").st_ino:
        user = os.open(f"/proc/{helper}/ns/user", os.O_RDONLY | os.O_CLOEXEC)
    try:
        return user, os.open(f"/proc/{helper}/ns/mnt", os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        if user is not None:
            os.close(user)
        raise


def _hidden_or_why(paths: list[str], via_user_namespace: bool) -> bytes:
    user_namespace = os.stat("/proc/self/ns/user").st_ino
    try:
        hide_paths(paths, via_user_namespace)
        if os.geteuid() == 0 and os.stat("/proc/self/ns/user").st_ino == user_namespace:
            _kernel_files_read_only()
    except OSError as exc:
        return (exc.strerror or str(exc)).encode()
    return b""


#: Files a process whose user is root may write without any capability (their permission
#: is the file mode): kernel settings (core_pattern runs a program as root), the SysRq
#: trigger, and /sys with the cgroup tree (a worker could move out of its cgroup).
KERNEL_FILES = ("/proc/sys", "/proc/sysrq-trigger", "/sys")


def _kernel_files_read_only() -> None:
    """Make KERNEL_FILES read-only in this mount namespace, the mounts beneath them too:
    a worker without capabilities cannot make them writable again."""
    for path in KERNEL_FILES:
        if os.path.exists(path):
            _mount(path, path, None, MS_BIND | MS_REC, None)
    for mount_point in _mount_points_beneath(KERNEL_FILES):
        _mount(None, mount_point, None, MS_BIND | MS_REMOUNT | MS_RDONLY, None)


def _mount_points_beneath(tops: tuple[str, ...]) -> list[str]:
    with open("/proc/self/mountinfo") as mountinfo:
        points = [line.split()[4].replace("\\040", " ") for line in mountinfo]
    return [p for p in dict.fromkeys(points) if any(p == t or p.startswith(t + "/") for t in tops)]


def enter_view(user: int | None, mount: int) -> None:
    """Join a mount namespace made by ``hiding_view``, on a private copy of it (what this
    process mounts reaches no other worker), in the same working directory looked up again
    through it: a working directory inside a hidden path is hidden too, not a way around."""
    try:
        cwd = os.getcwd()
    except OSError:
        cwd = "/"
    if user is not None:
        _setns(user, CLONE_NEWUSER, "hide paths")
    _setns(mount, CLONE_NEWNS, "hide paths")
    if _libc.unshare(CLONE_NEWNS) != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"cannot hide paths (unshare: {os.strerror(errno)})")
    try:
        os.chdir(cwd)
    except OSError:
        os.chdir("/")


def _setns(namespace: int, kind: int, purpose: str) -> None:
    if _libc.setns(namespace, kind) != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"cannot {purpose} (setns: {os.strerror(errno)})")


def _enter_user_namespace() -> None:
    uid, gid = os.getuid(), os.getgid()
    if _libc.unshare(CLONE_NEWUSER | CLONE_NEWNS) != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"cannot hide paths (unshare: {os.strerror(errno)})")
    Path("/proc/self/setgroups").write_text("deny")
    Path("/proc/self/uid_map").write_text(f"{uid} {uid} 1")
    Path("/proc/self/gid_map").write_text(f"{gid} {gid} 1")


def _mount(source: str | None, target: str, kind: str | None, flags: int, data: str | None) -> None:
    if _libc.mount(_c(source), _c(target), _c(kind), flags, _c(data)) != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"cannot hide {target} (mount: {os.strerror(errno)})")


def _c(text: str | None) -> bytes | None:
    return None if text is None else os.fsencode(text)


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


class SyscallFilter:
    """A compiled seccomp BPF program (8 bytes per instruction) in the form the kernel
    takes. The supervisor compiles it (runtime/supervisor/syscall_filter.py); the zygote
    builds this once, so that a worker only makes the two system calls that load it."""

    def __init__(self, program: bytes) -> None:
        if not program or len(program) % 8:
            raise OSError(0, "cannot filter system calls: the compiled filter is malformed")
        self._code = ctypes.create_string_buffer(program, len(program))  # kept alive with us
        self.fprog = _SockFprog(len(program) // 8, ctypes.cast(self._code, ctypes.c_void_p))


def filter_syscalls(syscall_filter: SyscallFilter) -> None:
    """Install the filter on this process and everything it starts."""
    _no_new_privileges()
    if _libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.byref(syscall_filter.fprog), 0, 0) != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"cannot filter system calls (seccomp: {os.strerror(errno)})")


def _no_new_privileges() -> None:
    # Required to install a filter or a Landlock ruleset without CAP_SYS_ADMIN, and it
    # keeps a setuid program run by the connector from shedding them.
    if _libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"prctl(PR_SET_NO_NEW_PRIVS) failed: {os.strerror(errno)}")


#: Besides the Python installation, what connectors commonly read: shared libraries, CA
#: certificates, name resolution and time zones.
SYSTEM_READABLE = (
    "/lib",
    "/lib64",
    "/usr/lib",
    "/usr/lib64",
    "/usr/local/lib",
    "/usr/share/ca-certificates",
    "/usr/share/zoneinfo",
    "/etc/ssl",
    "/etc/pki",
    "/etc/ca-certificates",
    "/etc/ld.so.cache",
    "/etc/passwd",  # user names and home directories (os.path.expanduser); no password
    "/etc/group",
    "/etc/localtime",
    "/etc/resolv.conf",
    "/etc/hosts",
    "/etc/host.conf",
    "/etc/nsswitch.conf",
    "/etc/gai.conf",
    "/etc/services",
    "/etc/protocols",
)
DEVICES = ("/dev/null", "/dev/zero", "/dev/random", "/dev/urandom")


def system_paths() -> list[str]:
    """What a worker confined with Landlock may read without being told: the interpreter's
    prefixes, ``sys.path``, the directory of every module loaded so far (where a lazy
    import of a sibling looks, symbolic links resolved) and SYSTEM_READABLE; a path beneath
    another one listed is left out (it adds nothing)."""
    paths = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix, *SYSTEM_READABLE}
    paths.update(os.path.abspath(p) for p in sys.path if p)
    for module in list(sys.modules.values()):
        file = getattr(module, "__file__", None)
        if isinstance(file, str):
            paths.add(os.path.dirname(os.path.realpath(file)))
    kept: list[str] = []
    for path in sorted(paths):
        if not any(path.startswith(parent.rstrip("/") + "/") for parent in kept):
            kept.append(path)
    return kept


def restrict_files(ruleset: int) -> None:
    """Confine this process with Landlock to ``ruleset`` (a ruleset of its own, which the
    zygote filled before the fork) plus reading its own /proc entry, which only it can name."""
    try:
        landlock.grant(ruleset, "/proc/self", landlock.READ)
        _no_new_privileges()
    except OSError:
        os.close(ruleset)
        raise
    landlock.restrict_self(ruleset)
