"""What a worker does to itself right after the fork, before it sees any input.

Order matters: leave the zygote's session first (so the supervisor can kill the whole
group), tie our life to the zygote's, join the cgroups, then confine (with descriptors
the zygote prepared: sandbox/confinement.py), giving up the capabilities last, then drop
descriptors and set the limits, so nothing above is refused by them.

The zygote and its short-lived helpers use the functions that make namespaces here too.
"""

from __future__ import annotations

import _signal  # type: ignore[import-not-found,unused-ignore]
import contextlib
import ctypes
import os
import resource
import signal
import stat
import sys
from collections.abc import Sequence
from pathlib import Path

from connectord.sandbox import landlock
from connectord.sandbox.protocol import Limits

PR_SET_PDEATHSIG = 1
PR_GET_PDEATHSIG = 2
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
    no_new_privileges()
    if _capset(_NO_CAPABILITIES_HEADER, _NO_CAPABILITIES) != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"cannot drop capabilities (capset: {os.strerror(errno)})")


def switch_user(uid: int) -> None:
    """Become user ``uid`` and group ``uid``, with no supplementary group, for good (real,
    effective and saved ids alike): every capability goes with root. The kernel forgets
    the parent-death signal and non-dumpability on a change of user; both are set again
    (and if the parent went meanwhile, we go too)."""
    parent = os.getppid()
    death_signal = ctypes.c_int(0)
    if _libc.prctl(PR_GET_PDEATHSIG, ctypes.byref(death_signal), 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_GET_PDEATHSIG) failed")
    try:
        os.setgroups([])
        os.setresgid(uid, uid, uid)
        os.setresuid(uid, uid, uid)
    except OSError as exc:
        raise OSError(exc.errno, f"cannot become user {uid} ({exc.strerror})") from None
    forbid_inspection()
    if death_signal.value:
        die_with_parent(parent, death_signal.value)


def join_cgroups(procs_files: list[int]) -> None:
    """Join the cgroups whose ``cgroup.procs`` the supervisor opened for us, then close them."""
    for fd in procs_files:
        try:
            os.write(fd, b"0")
        finally:
            os.close(fd)


def null_standard_streams() -> None:
    """Point 0, 1 and 2 at /dev/null."""
    devnull = os.open(os.devnull, os.O_RDWR)
    for std in (0, 1, 2):
        os.dup2(devnull, std)
    if devnull > 2:
        os.close(devnull)


def keep_only(fd: int) -> int:
    """Point 0, 1 and 2 at /dev/null, move ``fd`` to WORKER_FD and close everything else."""
    null_standard_streams()
    if fd != WORKER_FD:
        os.dup2(fd, WORKER_FD)
    close_from(WORKER_FD + 1)
    return WORKER_FD


_SYS_CLOSE_RANGE = 436  # the same on every architecture (the generic system call table)
_libc.syscall.restype = ctypes.c_long


def close_from(first: int) -> None:
    """Close every descriptor from ``first`` up, however high: import code may park one
    above a soft RLIMIT_NOFILE it lowered, where a loop up to that limit never looks."""
    last = ctypes.c_uint(0xFFFFFFFF)
    if _libc.syscall(ctypes.c_long(_SYS_CLOSE_RANGE), ctypes.c_uint(first), last, ctypes.c_uint(0)) != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"cannot close inherited descriptors (close_range: {os.strerror(errno)})")


def keep_descriptors(*fds: int) -> None:
    """Close every descriptor above 2 but ``fds``."""
    start = 3
    for fd in sorted(fds):
        if fd > start:
            os.closerange(start, fd)
        start = fd + 1
    close_from(start)


PR_SET_CHILD_SUBREAPER = 36


def adopt_orphans() -> None:
    """Become the parent of whatever our descendants leave behind (a daemon that forked
    twice), so that nothing they start escapes ``kill_descendants``."""
    if _libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_CHILD_SUBREAPER) failed")


def kill_descendants(rounds: int = 100) -> None:
    """SIGKILL every child (orphans we adopted included), reap them, and again for what
    they left behind, until none is left or ``rounds`` have passed."""
    for _ in range(rounds):
        children = _children()
        if not children:
            return
        for pid in children:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(ChildProcessError):
            while os.waitpid(-1, os.WNOHANG)[0] > 0:
                pass


def _children() -> list[int]:
    found: list[int] = []
    with contextlib.suppress(OSError):
        for task in os.listdir("/proc/self/task"):
            with open(f"/proc/self/task/{task}/children") as children:
                found += [int(pid) for pid in children.read().split()]
    return found


#: What a worker gives back its default action. As plain numbers, for the C functions of
#: ``_signal``: ``signal.signal`` converts the handler it replaces to an enum member, which
#: for a function of the zygote's (not a member) raises and catches a ValueError in Python
#: code run afresh by each worker (≈ 50 pages copied on write, 0.1 ms).
_DEFAULTED = tuple(
    int(sig) for sig in (signal.SIGCHLD, signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGPIPE)
)


def reset_signals() -> None:
    _signal.set_wakeup_fd(-1)
    for sig in _DEFAULTED:
        _signal.signal(sig, _signal.SIG_DFL)


CLONE_NEWNET = 0x40000000
CLONE_NEWIPC = 0x08000000


def own_ipc_namespace() -> None:
    """Move into a new IPC namespace: System V shared memory, message queues and semaphores
    (and POSIX message queues) made here are the connector's alone and end with its last
    process. In the host's, a connector's shared memory outlived every process of it, its
    cgroup and the server: 200 MB per call, until the host ran out of memory."""
    if _libc.unshare(CLONE_NEWIPC) != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"cannot have an IPC namespace of its own (unshare: {os.strerror(errno)})")


def cut_network() -> None:
    """Move into a new network namespace holding only a loopback device that is down."""
    if _libc.unshare(CLONE_NEWNET) != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"cannot cut the network (unshare: {os.strerror(errno)})")


def apply_limits(limits: Limits, address_space_at_start: int) -> None:
    if limits.memory_bytes is not None:
        # RLIMIT_AS counts address space, and a worker starts with the zygote's mappings
        # (shared libraries, arenas); the limit is what the call may add on top of those.
        # It binds each process alone: the worker's memory cgroup, where the supervisor has
        # one, bounds them all together (sandbox/cgroups.py). This one still
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
    _cover(paths)


def _cover(paths: list[str]) -> None:
    for path in paths:
        if os.path.isdir(path):
            flags = MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC
            # Listable (and empty) by any user: what was there is simply not found.
            _mount("tmpfs", path, "tmpfs", flags, "size=4k,mode=0555")
        elif os.path.exists(path):
            _mount("/dev/null", path, None, MS_BIND, None)


#: Emptied for every connector: its processes get a fresh tmpfs on each, and each worker a
#: directory of its own in them (see sandbox/confinement.py).
PRIVATE_DIRS = ("/tmp", "/dev/shm")
#: Where the host's services listen on named unix sockets (PostgreSQL, MySQL, D-Bus,
#: Docker): connecting to one is no file access Landlock governs (up to ABI 7) and no
#: network a network namespace cuts, so a worker without network reached the host's
#: PostgreSQL as its superuser through /run/postgresql. Covered for every connector by an
#: empty read-only tmpfs; what the system's files lead to beneath it (a resolv.conf kept
#: in /run) and the configured paths are bound back. (/var/run is a link to /run.)
SERVICE_DIRS = ("/run", "/var/run")


def enter_own_view(
    hidden: list[str],
    visible: list[str],
    user: int | None = None,
    private_bytes: int | None = None,
    writable: Sequence[str] = (),
) -> None:
    """Move into a mount namespace of our own (inside a user namespace of our own where we
    may not mount otherwise) in which ``hidden`` are hidden (``hide_paths``), what root may
    write by file mode alone is read-only, PRIVATE_DIRS are fresh, empty tmpfs and
    SERVICE_DIRS empty read-only ones, but for the ``visible`` paths beneath them (the
    connector's packages, its readable and writable paths) and what SYSTEM_READABLE leads
    to, bound back read-only but for the ``writable`` ones (Landlock grants its processes
    write access to all of PRIVATE_DIRS, and its rules see through binds: a connector's
    import code rewrote another connector's module in an import directory beneath /tmp,
    and that connector's next zygote ran it). For a ``user`` to become, every directory it could not
    pass on the way to a visible path (/root, mode 0700, above the interpreter) is covered
    as well, by a tmpfs it may pass into holding only the visible paths beneath it. The
    working directory is looked up again: one inside a hidden or covered path is hidden
    too, not a way around.

    Each of PRIVATE_DIRS holds at most ``private_bytes``: what the connector's processes
    leave there lives as long as its zygote, charged to no worker's cgroup once that is
    gone (the zygote removes its workers' own directories, but import code can keep them,
    and without Landlock a worker writes anywhere in /tmp), so that calls piled it up
    until the host ran out of memory (tmpfs takes up to half of it by default)."""
    try:
        cwd = os.getcwd()
    except OSError:
        cwd = "/"
    user_namespace = os.stat("/proc/self/ns/user").st_ino
    hide_paths([*hidden, *device_sockets(visible)])
    if os.geteuid() == 0 and os.stat("/proc/self/ns/user").st_ino == user_namespace:
        if user is not None:
            _other_users_processes_hidden()
            _cover([path for path in hidden if path == "/proc" or path.startswith("/proc/")])
        _kernel_files_read_only()
    covered: list[str] = []
    if user is not None:
        visible = sorted({os.path.abspath(p) for p in visible} | {os.path.realpath(p) for p in visible})
        covered = _impassable(visible, user)
    services = [
        path
        for path in SERVICE_DIRS
        if os.path.isdir(path) and not os.path.islink(path) and path not in visible  # asked for whole
    ]
    system = [os.path.realpath(path) for path in SYSTEM_READABLE]
    # Opened in this namespace: a bind needs that.
    kept = _opened_beneath((*PRIVATE_DIRS, *services, *covered), [*visible, *system])
    # Opened apart: a writable path inside a visible one is bound again, writable, from here.
    writable = sorted({os.path.abspath(p) for p in writable} | {os.path.realpath(p) for p in writable})
    kept_writable = _opened_beneath(PRIVATE_DIRS, writable)
    umask = os.umask(0o022)  # what is made on the way to a visible path: passable by all
    try:
        for path in PRIVATE_DIRS:
            if os.path.isdir(path):
                _mount("tmpfs", path, "tmpfs", MS_NOSUID | MS_NODEV, _private_options(private_bytes))
        for path in services:
            _mount("tmpfs", path, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=0755")
        for path in covered:
            _mount("tmpfs", path, "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755")
        for path, fd in kept:
            _bind_back(fd, path)
            if _beneath(path, PRIVATE_DIRS) and not _beneath(path, writable):
                _remount_read_only(path)
        for path, fd in kept_writable:
            if not any(path == kept_path for kept_path, _ in kept):
                _bind_back(fd, path)
        for path in services:
            _mount(
                None, path, None, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, None
            )
    finally:
        os.umask(umask)
        for _, fd in (*kept, *kept_writable):
            os.close(fd)
    try:
        os.chdir(cwd)
    except OSError:
        os.chdir("/")


def device_sockets(visible: list[str]) -> list[str]:
    """The named unix sockets in /dev (a syslog daemon's /dev/log) but those ``visible``:
    /dev stays in sight (a worker needs its devices), and a socket, like those in
    SERVICE_DIRS, is no file Landlock governs nor network a network namespace cuts. Each
    is covered by /dev/null (``hide_paths``): a connect() is refused."""
    shown = {os.path.abspath(path) for path in visible}
    found = []
    with contextlib.suppress(OSError), os.scandir("/dev") as entries:
        for entry in entries:
            with contextlib.suppress(OSError):
                if stat.S_ISSOCK(entry.stat(follow_symlinks=False).st_mode) and entry.path not in shown:
                    found.append(entry.path)
    return found


def _impassable(visible: list[str], user: int) -> list[str]:
    """The outermost directories on the way to each of ``visible`` (absolute, each also
    listed with its symbolic links resolved) that ``user`` (as its own group, with no
    other) may not pass into; none at or beneath PRIVATE_DIRS (made afresh), a symbolic
    link (its target is listed) or a visible path (which keeps its own mode)."""
    paths = set(visible)
    found: set[str] = set()
    for path in paths:
        parts = path.strip("/").split("/")[:-1]
        for depth in range(1, len(parts) + 1):
            ancestor = "/" + "/".join(parts[:depth])
            if ancestor in PRIVATE_DIRS or ancestor in paths or os.path.islink(ancestor):
                break
            if not _passable(ancestor, user):
                found.add(ancestor)
                break
    return [p for p in sorted(found) if not any(p.startswith(q + "/") for q in found)]


def _passable(directory: str, user: int) -> bool:
    try:
        st = os.stat(directory)
    except OSError:
        return True  # nothing there to cover
    if st.st_uid == user:
        bit = stat.S_IXUSR
    elif st.st_gid == user:
        bit = stat.S_IXGRP
    else:
        bit = stat.S_IXOTH
    return bool(st.st_mode & bit)


def _private_options(size: int | None) -> str:
    if size is None:
        return "mode=1777"
    # Empty files cost no size but an inode each (≈ 1 KB of the kernel's memory).
    return f"mode=1777,size={size},nr_inodes={size // 4096}"


def _opened_beneath(tops: tuple[str, ...], paths: list[str]) -> list[tuple[str, int]]:
    """``paths`` beneath ``tops`` that exist, opened (O_PATH), outermost only."""
    chosen: list[str] = []
    for path in sorted({os.path.abspath(p) for p in paths}):
        beneath = any(path.startswith(top + "/") for top in tops)
        if beneath and os.path.exists(path) and not any(path.startswith(c + "/") for c in chosen):
            chosen.append(path)
    opened: list[tuple[str, int]] = []
    try:
        for path in chosen:
            opened.append((path, os.open(path, os.O_PATH | os.O_CLOEXEC)))
    except OSError:
        for _, fd in opened:
            os.close(fd)
        raise
    return opened


def _beneath(path: str, tops: Sequence[str]) -> bool:
    """Whether ``path`` is one of ``tops`` or inside one."""
    return any(path == top or path.startswith(top.rstrip("/") + "/") for top in tops)


#: statvfs flags a remount must keep (the kernel refuses to clear those locked when the
#: mount came into a user namespace), and the mount flag of each.
_KEPT_FLAGS = (
    (os.ST_NOSUID, MS_NOSUID),
    (os.ST_NODEV, MS_NODEV),
    (os.ST_NOEXEC, MS_NOEXEC),
    (os.ST_NOATIME, 1024),
    (os.ST_NODIRATIME, 2048),
    (os.ST_RELATIME, 1 << 21),
)


#: What a mount without noatime or relatime has (a remount without it would get relatime).
MS_STRICTATIME = 1 << 24


def _remount_read_only(path: str) -> None:
    found = os.statvfs(path).f_flag
    kept = sum(flag for st_flag, flag in _KEPT_FLAGS if found & st_flag)
    if not found & (os.ST_NOATIME | os.ST_RELATIME):
        kept |= MS_STRICTATIME
    _mount(None, path, None, MS_BIND | MS_REMOUNT | MS_RDONLY | kept, None)


def _bind_back(fd: int, path: str) -> None:
    if stat.S_ISDIR(os.fstat(fd).st_mode):
        os.makedirs(path, exist_ok=True)
    else:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        os.close(os.open(path, os.O_CREAT | os.O_WRONLY | os.O_CLOEXEC, 0o600))
    _mount(f"/proc/self/fd/{fd}", path, None, MS_BIND | MS_REC, None)


#: Files a process whose user is root may write without any capability (their permission
#: is the file mode): kernel settings (core_pattern runs a program as root), the SysRq
#: trigger, and /sys with the cgroup tree (a worker could move out of its cgroup).
KERNEL_FILES = ("/proc/sys", "/proc/sysrq-trigger", "/sys")


def _other_users_processes_hidden() -> None:
    """Mount a procfs of our own over /proc that lists only the processes we may trace
    (hidepid=2): once this process is the connector's user, those of its connector. Else
    the command lines of every host process (a password passed as an argument, say) were
    there to read, to import code above all (its Landlock domain reads /proc: the workers'
    own entries are beneath it)."""
    _mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, "hidepid=2")


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
    takes. The supervisor compiles it (sandbox/syscall_filter.py); the zygote
    builds this once, so that a worker only makes the two system calls that load it."""

    def __init__(self, program: bytes) -> None:
        if not program or len(program) % 8:
            raise OSError(0, "cannot filter system calls: the compiled filter is malformed")
        self._code = ctypes.create_string_buffer(program, len(program))  # kept alive with us
        self.fprog = _SockFprog(len(program) // 8, ctypes.cast(self._code, ctypes.c_void_p))


def filter_syscalls(syscall_filter: SyscallFilter) -> None:
    """Install the filter on this process and everything it starts."""
    no_new_privileges()
    if _libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.byref(syscall_filter.fprog), 0, 0) != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"cannot filter system calls (seccomp: {os.strerror(errno)})")


def no_new_privileges() -> None:
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


def restrict_files(ruleset: int, files: bool = True) -> None:
    """Confine this process with Landlock to ``ruleset`` (a ruleset of its own, which the
    zygote filled before the fork) plus, where it confines ``files``, reading its own /proc
    entry, which only it can name. Needs ``no_new_privs``, which a worker inherits from its
    zygote (``drop_capabilities``): asking again costs a fresh worker ≈ 0.1 ms of pages
    copied on write."""
    if files:
        try:
            landlock.grant_directory(ruleset, "/proc/self", landlock.READ)
        except OSError:
            os.close(ruleset)
            raise
    landlock.restrict_self(ruleset)
