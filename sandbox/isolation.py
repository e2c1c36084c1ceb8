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
    for path in paths:
        (Path(path) / "cgroup.procs").write_text("0")


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
