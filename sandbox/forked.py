"""A worker the zygote says it forked, as far as the supervisor believes it.

A zygote runs connector code (its import), which can rewrite what the zygote tells the
supervisor. The supervisor, which runs as the server's user with every capability, must
then never act on a pid because a zygote named it: a zygote that said "my worker is pid
N" for the server, another connector's process or any process of the host had it killed
at the end of the call. So a pid is taken only for a live child of that zygote (its
children are confined as it is), held as a pidfd, which keeps denoting that one process
whatever its number comes to mean; and the worker is moved into its cgroup by the
supervisor, not by a descriptor of ``cgroup.procs`` handed through the zygote (with
which a zygote moved the server into a worker's cgroup, whose kill then ended it).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import os
import select
import signal
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

#: Where processes are moved between cgroups: never in the event loop's thread. On cgroup
#: v1 every move takes the kernel's global cgroup_threadgroup_rwsem for writing, which
#: waits for an RCU grace period once the server was idle a few ms (measured: median 10.7
#: ms, up to 46 ms, per move after 50 ms of quiet) and for every fork in progress on the
#: host: under a connector's fork swarm, up to a second. One thread: the kernel takes
#: them one at a time anyway.
mover = ThreadPoolExecutor(max_workers=1, thread_name_prefix="connectord-cgroup-mover")


@dataclass(frozen=True)
class Exit:
    exit_code: int | None = None
    signal: int | None = None


@dataclass(frozen=True)
class Forked:
    """A worker the zygote forked: its pid, a pidfd of it (closed once it is reaped), how it
    ended once the zygote reaped it (``exited``), and ``ended`` as soon as the kernel says
    it did (its pidfd) or it counts as ended (``exited``, also when its zygote is lost): a
    zygote that reaps it late, or never, delays only the exit code."""

    pid: int
    exited: asyncio.Future[Exit]
    pidfd: int
    ended: asyncio.Future[None]

    def unwatch(self) -> None:
        """Stop watching for the end of a worker nobody reads from any more: its reaping
        (``exited``) still ends ``ended``, one turn of the loop less per call."""
        if not self.exited.done():  # else its pidfd may be closed already
            asyncio.get_running_loop().remove_reader(self.pidfd)

    def signal(self, sig: int) -> None:
        """Send ``sig`` to the worker and to its process group (it leads one of its own),
        while it is unreaped and alive. The group by number: it exists only while a member
        of it does, and is the worker's as long as the worker lives."""
        if self.exited.done() or not alive(self.pidfd):
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, sig)
        with contextlib.suppress(OSError):
            signal.pidfd_send_signal(self.pidfd, sig)


def watch(pidfd: int, exited: asyncio.Future[Exit]) -> asyncio.Future[None]:
    """A future done once the process of ``pidfd`` has ended (a zombie has) or ``exited`` is
    done; ``pidfd`` is closed once ``exited`` is, and never while the loop watches it."""
    loop = asyncio.get_running_loop()
    ended: asyncio.Future[None] = loop.create_future()

    def end() -> None:
        loop.remove_reader(pidfd)
        if not ended.done():
            ended.set_result(None)

    def close(_: object) -> None:
        end()
        os.close(pidfd)

    loop.add_reader(pidfd, end)
    exited.add_done_callback(close)
    return ended


def ended_now(pidfd: int) -> bool:
    """Whether the process of ``pidfd`` has ended (a zombie has), asked of the kernel now:
    the loop may not have heard yet."""
    return bool(select.select([pidfd], [], [], 0)[0])


def alive(pidfd: int) -> bool:
    """Whether the process of ``pidfd`` is still there (a zombie counts: it is unreaped)."""
    try:
        signal.pidfd_send_signal(pidfd, 0)
    except OSError:
        return False
    return True


def child_pidfd(pid: int, parent: int) -> int | None:
    """A pidfd of ``pid`` if it is a live child of ``parent``, else None. The pidfd is
    opened first and found alive after the parent was read: the process read is then the
    one the pidfd holds, not a later one given the same number."""
    if pid <= 0:
        return None
    try:
        pidfd = os.pidfd_open(pid)
    except OSError:
        return None
    if _parent(pid) == parent and alive(pidfd):
        return pidfd
    os.close(pidfd)
    return None


def _parent(pid: int) -> int | None:
    # os calls, not open(): asked once per worker, where a buffered file costs 3 times more.
    try:
        fd = os.open(f"/proc/{pid}/stat", os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        return int(os.read(fd, 4096).rsplit(b")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return None
    finally:
        os.close(fd)


def place(procs_files: list[str], pid: int, pidfd: int) -> bool:
    """Move the process of ``pidfd`` (whose number is ``pid``) into the cgroups whose
    ``cgroup.procs`` are ``procs_files``: True once it is there, False when it ended on the
    way (then whatever has its number since may have been moved instead: see who holds
    it before emptying those cgroups). Raises OSError when it cannot be moved. Run in the
    mover thread only."""
    number = str(pid).encode()
    for path in procs_files:
        try:
            os.write(_writer(path), number)
        except ProcessLookupError:
            return False
    return alive(pidfd)


#: Each leaf's ``cgroup.procs``, opened for writing once and kept by the mover thread
#: alone: a move is then a write per hierarchy, without a walk of the cgroup tree, and
#: each syscall the thread makes is one more wait for the GIL.
_writers: dict[str, int] = {}


def _writer(path: str) -> int:
    fd = _writers.get(path)
    if fd is None:
        fd = _writers[path] = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
    return fd


#: The files moves were asked for in (by the loop's thread, which alone reads this): what
#: the mover may hold open. A process that never moves one starts no mover thread.
_asked: set[str] = set()


def move(procs_files: list[str], pid: int, pidfd: int) -> concurrent.futures.Future[bool]:
    """``place`` in the mover thread."""
    _asked.update(procs_files)
    return mover.submit(place, procs_files, pid, pidfd)


def forget_writers(procs_files: list[str]) -> None:
    """Have the mover close what it keeps open of ``procs_files`` (their leaf goes), after
    the moves asked for before."""
    held = [path for path in procs_files if path in _asked]
    if not held:
        return
    _asked.difference_update(held)
    with contextlib.suppress(RuntimeError):  # the interpreter is exiting: nothing to keep
        mover.submit(_close_writers, held)


def _close_writers(procs_files: list[str]) -> None:
    for path in procs_files:
        fd = _writers.pop(path, None)
        if fd is not None:
            os.close(fd)
