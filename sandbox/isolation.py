"""What a worker does to itself right after the fork, before it sees any input.

Order matters: leave the zygote's session first (so the supervisor can kill the whole
group), tie our life to the zygote's, join the cgroups, then drop descriptors and set the
limits last so nothing above is refused by them.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import resource
import signal
from pathlib import Path

from connectord.sandbox.protocol import Limits

PR_SET_PDEATHSIG = 1
#: The worker's socket is moved here; every other descriptor above 2 is closed.
WORKER_FD = 3

_libc = ctypes.CDLL(None, use_errno=True)


def die_with_parent(expected_parent: int, sig: int = signal.SIGKILL) -> None:
    """Send us ``sig`` when our parent goes; exit now if it already went."""
    if _libc.prctl(PR_SET_PDEATHSIG, sig, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")
    if os.getppid() != expected_parent:
        os._exit(1)


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


def apply_limits(limits: Limits, address_space_at_start: int) -> None:
    if limits.memory_bytes is not None:
        # RLIMIT_AS counts address space, and a worker starts with the zygote's mappings
        # (shared libraries, arenas); the limit is what the call may add on top of those.
        _set(resource.RLIMIT_AS, address_space_at_start + limits.memory_bytes)
    if limits.cpu_seconds is not None:
        # Soft limit sends SIGXCPU (reported as a timeout); the hard one a second later kills.
        soft = limits.cpu_seconds
        resource.setrlimit(resource.RLIMIT_CPU, (soft, soft + 1))
    if limits.open_files is not None:
        _set(resource.RLIMIT_NOFILE, limits.open_files)


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
MS_BIND, MS_REC, MS_PRIVATE = 0x1000, 0x4000, 1 << 18


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
