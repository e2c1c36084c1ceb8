"""A cgroup per worker, where the machine lets us create them.

What a process group and rlimits cannot do, a worker's leaf cgroup does:

- catch a grandchild that called ``setsid()`` (it leaves the group, not the cgroup):
  cgroup v2 gives ``cgroup.kill``, and any hierarchy lists its processes (``cgroup.procs``),
  which is also how the supervisor, not the worker, tells whether a pooled worker left
  anything running (``WorkerCgroups.holds_only``);
- cap the number of processes as root (RLIMIT_NPROC is ignored for root): the v1 or v2
  ``pids`` controller gives ``pids.max``;
- cap the memory of a call's whole process tree, not of each process (RLIMIT_AS): the v2
  ``memory.max`` (and ``memory.swap.max`` 0) or the v1 ``memory.limit_in_bytes`` (and
  ``memory.memsw.limit_in_bytes``, the same: no swap). It counts what the leaf is charged:
  the pages its processes touch, what they write to tmpfs (/dev/shm) included. A leaf
  whose limit is reached has its largest process killed by the kernel (v2: all of them,
  ``memory.oom.group``), which the leaf's ``oom_kill`` count tells the supervisor. The
  limit is the call's ``memory_bytes`` plus ``zygote_allowance``.

- weigh all connector code together as one against the server for the CPU: the v1 ``cpu``
  controller's per-supervisor directory holds a group per connector (``cpu_group``), which
  its zygote joins before the connector's first line runs, so its workers and what they
  start are there too. Within the server's own cgroup, the whole of it weighs as much as
  one busy thread of the server (``cpu.shares`` 1024), and connectors share it equally:
  import code spinning on every core cannot starve the server's event loop, and one
  connector's calls cannot starve another's. (Under v2 every leaf is beneath the
  supervisor's directory, which weighs as one against its siblings where the cpu
  controller is enabled above it.)

Each v1 controller's per-supervisor directory is made beneath the cgroup the server runs
in (so the server's own limits cover its workers), else at the top of the hierarchy,
wherever it is writable. Without a writable hierarchy the supervisor falls back to
process groups; without a writable memory controller, to RLIMIT_AS per process. It says
so once in its log.

Creating and removing a cgroup costs more than a fork here, so emptied leaves are kept and
handed to the next worker instead of being removed; a leaf still charged for more than a
little memory once empty (a file left in /dev/shm) is removed instead (RESIDUE).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import signal
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from connectord.sandbox import forked

log = logging.getLogger(__name__)

#: What a leaf is set for: the process limit, then the memory a call may use and the
#: allowance on top of it (see ``Cgroups.acquire``).
Settings = tuple[int | None, int | None, int]

V2_CANDIDATES = (Path("/sys/fs/cgroup/unified"), Path("/sys/fs/cgroup"))
V1_MOUNTS = Path("/sys/fs/cgroup")
#: The v2 controllers a leaf uses, enabled for the leaves where the parent offers them.
V2_CONTROLLERS = ("memory", "pids")
#: An emptied leaf still charged for more than this is removed rather than reused, so that
#: the next worker does not pay for what is left: a file written to tmpfs (/dev/shm) stays
#: charged to it for as long as the file exists. Leaves keep ≈ 0.3 to 0.5 MiB once their
#: processes ended here (page cache and kernel objects they brought in), reclaimable
#: when the next worker needs the room. Reclaiming first (v1 ``memory.force_empty``) took
#: 71 ms for 100 MiB of page cache, 86 ms for nothing with 200 MiB in /dev/shm; removing a
#: leaf and making another takes 0.3 + 1.4 ms.
RESIDUE = 8 * 1024 * 1024


class MemoryCgroup:
    """The memory controller's files of one leaf, in either hierarchy."""

    def __init__(self, path: Path, v1: bool) -> None:
        self.path = path
        self.v1 = v1
        names = ("memory.limit_in_bytes", "memory.memsw.limit_in_bytes", "memory.oom_control")
        if not v1:
            names = ("memory.max", "memory.swap.max", "memory.events")
        self._limit, self._swap, self._events = (os.path.join(path, name) for name in names)
        self._usage = os.path.join(path, "memory.usage_in_bytes" if v1 else "memory.current")
        self._usage_fd: int | None = None

    @classmethod
    def of(cls, paths: tuple[Path, ...]) -> MemoryCgroup | None:
        """The leaf directory of ``paths`` that has the memory controller, if any."""
        for path in paths:
            if (path / "memory.max").exists():
                with contextlib.suppress(OSError):  # one OOM ends the whole call, not a part
                    (path / "memory.oom.group").write_text("1")
                return cls(path, v1=False)
            if (path / "memory.limit_in_bytes").exists():
                return cls(path, v1=True)
        return None

    def set_limit(self, limit: int | None) -> None:
        """Charge at most ``limit`` bytes (None: no limit), and no swap."""
        value = ("-1" if self.v1 else "max") if limit is None else str(limit)
        if not self.v1:
            _write(self._limit, value)
            _write(self._swap, "0", missing_ok=True)
            return
        # v1 refuses a memory limit above the memory+swap one: raise that first.
        order = [self._limit, self._swap]
        if limit is None or limit > _read_int(self._limit):
            order.reverse()
        for path in order:
            _write(path, value, missing_ok=path == self._swap)

    def oom_kills(self) -> int:
        """Processes of the leaf the kernel killed for memory, ever (``oom_kill``; an old v1
        kernel without it: how often the limit was hit, ``memory.failcnt``)."""
        try:
            with open(self._events) as events:
                for line in events:
                    key, _, value = line.partition(" ")
                    if key == "oom_kill":
                        return int(value)
        except (OSError, ValueError):
            return 0
        return _read_int(os.path.join(self.path, "memory.failcnt")) if self.v1 else 0

    def usage(self) -> int:
        # Read after every per-call worker (``clean``): kept open, read again from its start.
        if self._usage_fd is None:
            try:
                self._usage_fd = os.open(self._usage, os.O_RDONLY | os.O_CLOEXEC)
            except OSError:
                return 0
        try:
            return int(os.pread(self._usage_fd, 64, 0))
        except (OSError, ValueError):
            return 0

    def close(self) -> None:
        if self._usage_fd is not None:
            os.close(self._usage_fd)
            self._usage_fd = None


class OomEvents:
    """One eventfd the kernel signals whenever a v1 leaf it is registered with (through
    ``cgroup.event_control``) runs out of memory, so that the supervisor reads a leaf's
    ``oom_kill`` count only after some leaf did: asking costs ≈ 2 µs here, reading ≈ 20 to 40."""

    def __init__(self) -> None:
        self.fd = os.eventfd(0, os.EFD_NONBLOCK | os.EFD_CLOEXEC)
        self._seen = 0
        self._loop: asyncio.AbstractEventLoop | None = None

    def follow(self, loop: asyncio.AbstractEventLoop) -> None:
        """Count the signals as ``loop`` sees them, not by a read per question. As sure: the
        kernel signals before it kills, so before the worker can learn of the kill and reply,
        and the loop runs a batch's reader callbacks before the task its reply wakes."""
        if self._loop is None and self.fd >= 0:
            loop.add_reader(self.fd, self._drain)
            self._loop = loop

    def watch(self, memory: MemoryCgroup) -> bool:
        """Be signalled when ``memory`` (v1) runs out; False where the kernel refuses."""
        try:
            control = os.open(os.path.join(memory.path, "memory.oom_control"), os.O_RDONLY | os.O_CLOEXEC)
        except OSError:
            return False
        try:
            _write(os.path.join(memory.path, "cgroup.event_control"), f"{self.fd} {control}")
            return True
        except OSError:
            return False
        finally:
            os.close(control)

    def seen(self) -> int:
        """How many times a watched leaf ran out of memory so far (-1 once closed: ask the
        leaf)."""
        if self.fd < 0:
            return -1
        if self._loop is None:
            self._drain()
        return self._seen

    def _drain(self) -> None:
        with contextlib.suppress(BlockingIOError):
            self._seen += os.eventfd_read(self.fd)

    def close(self) -> None:
        if self._loop is not None and not self._loop.is_closed():
            self._loop.remove_reader(self.fd)
        self._loop = None
        fd, self.fd = self.fd, -1  # never read a descriptor number handed out again since
        os.close(fd)


@dataclass(eq=False)
class WorkerCgroups:
    """The cgroups one worker runs in (none where cgroups are unavailable)."""

    paths: tuple[Path, ...]
    kill_file: Path | None
    memory: MemoryCgroup | None = None
    #: What the leaf is set for (``Cgroups.acquire``); None until set.
    settings: Settings | None = None
    #: Signals the leaf's memory running out where it can (v1), else None: then ask the leaf.
    oom_events: OomEvents | None = None
    #: The leaf's OOM kills when it was handed out: more now means the call exceeded its memory.
    ooms_before: int = 0
    #: ``oom_events.seen()`` when it was handed out: no more now means no leaf ran out since.
    oom_events_before: int = 0
    #: Where to look for processes: one leaf, v2's where there is one (``holds_only``).
    watched: tuple[Path, ...] = ()
    #: The ``cgroup.procs`` of each of ``paths``, opened once and kept open while the leaf
    #: is in use: reading one again costs ≈ 2 µs here, opening and reading it ≈ 12 µs.
    _procs: dict[Path, int] = field(default_factory=dict)
    #: It may hold a process that is none of ours (see ``forsake_if_holding``): never
    #: emptied by a kill, never reused.
    forsaken: bool = False

    def forsake_if_holding(self, pid: int) -> None:
        """A worker that ended while the supervisor moved it into this leaf: if ``pid`` is
        here, it is another process given the same number since (the number was written
        after the worker was gone), and killing what the leaf holds would kill it."""
        if any(pid in _pids(path) for path in self.paths):
            log.warning(
                "cgroup %s holds a process moved there by mistake (pid %d): left alone", self.paths[0], pid
            )
            self.forsaken = True

    def kill(self) -> None:
        """Kill every process in the worker's cgroups, wherever it went in the tree."""
        if self.forsaken:
            return
        if self.kill_file is not None:
            with contextlib.suppress(OSError):
                self.kill_file.write_text("1")
        for path in self.paths:
            for pid in self._pids(path):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)

    def empty(self) -> bool:
        return not any(self._pids(path) for path in self.paths)

    def _pids(self, path: Path) -> list[int]:
        try:
            return _pids_at(self._opened(path))
        except OSError:
            return []

    def _opened(self, path: Path) -> int:
        fd = self._procs.get(path)
        if fd is None:
            fd = self._procs[path] = _open_procs(path)
        return fd

    def holds_only(self, pid: int) -> bool:
        """True if ``pid`` is the only process in the worker's leaf (True without cgroups:
        nothing can be seen). Threads are not processes: the worker reports those. One
        hierarchy tells as much as all: a process leaves one only by writing to the cgroup
        tree, and then it could leave them all."""
        try:
            files = [self._opened(path) for path in self.watched]
        except OSError:
            return False  # a leaf that cannot be read is no place to stay
        return all(_pids_at(fd) == [pid] for fd in files)

    def forget(self) -> None:
        """Close what the leaf keeps open (it is no longer used)."""
        while self._procs:
            os.close(self._procs.popitem()[1])
        forked.forget_writers([os.path.join(path, "cgroup.procs") for path in self.paths])
        if self.memory is not None:
            self.memory.close()

    @property
    def memory_bytes(self) -> int | None:
        """The memory a call may use, as the leaf was set for it."""
        return self.settings[1] if self.settings is not None else None

    def memory_exceeded(self, ask: bool = False) -> bool:
        """The kernel killed a process of this leaf for memory since it was handed out;
        ``ask``: read the leaf's count even where no leaf was signalled to run out."""
        if self.memory is None:
            return False
        if not ask and self.oom_events is not None and self.oom_events.seen() == self.oom_events_before:
            return False
        return self.memory.oom_kills() > self.ooms_before

    def clean(self) -> bool:
        """Once empty: charged for so little memory that the next worker can start here."""
        if self.memory is None:
            return True
        if self.oom_events is None or self.oom_events.seen() != self.oom_events_before:
            self.ooms_before = self.memory.oom_kills()
            self.oom_events_before = self.oom_events.seen() if self.oom_events is not None else 0
        return self.memory.usage() <= RESIDUE

    def remove(self) -> None:
        for path in self.paths:
            with contextlib.suppress(OSError):
                path.rmdir()


NO_CGROUPS = WorkerCgroups((), None)


class Cgroups:
    """Hands out per-worker cgroups under one directory per supervisor and hierarchy."""

    def __init__(
        self,
        v2_root: Path | None,
        pids_root: Path | None,
        memory_root: Path | None = None,
        cpu_root: Path | None = None,
    ) -> None:
        self.v2_root = v2_root
        self.pids_root = pids_root
        self.memory_root = memory_root
        #: The v1 cpu controller's directory: a group per connector beneath it (no leaves).
        self.cpu_root = cpu_root
        self._cpu_groups: dict[str, Path | None] = {}
        self._free: list[WorkerCgroups] = []
        self._all: list[WorkerCgroups] = []
        self._allowances: dict[int, int] = {}
        self._oom_events = OomEvents() if memory_root is not None else None
        #: Whether leaves bound the memory of a worker's whole process tree.
        self.limits_memory = memory_root is not None or _enabled(v2_root, "memory")

    @property
    def roots(self) -> tuple[Path, ...]:
        return tuple(root for root in (self.v2_root, self.pids_root, self.memory_root) if root is not None)

    @property
    def all_roots(self) -> list[Path]:
        """Every directory of this supervisor's, the connectors' cpu groups' included."""
        return [root for root in (*self.roots, self.cpu_root) if root is not None]

    @property
    def in_use(self) -> int:
        """Leaves handed out and not yet released."""
        return len(self._all) - len(self._free)

    def follow_oom_events(self, loop: asyncio.AbstractEventLoop) -> None:
        """Have ``loop`` count the leaves' running out of memory (``OomEvents.follow``)."""
        if self._oom_events is not None:
            self._oom_events.follow(loop)

    def describe(self) -> str:
        """Which hierarchies workers get a cgroup in, for the start-up log."""
        found = [name for name, root in (("v2", self.v2_root), ("pids", self.pids_root)) if root is not None]
        if self.cpu_root is not None:
            found.append("cpu (a group per connector)")
        return " + ".join(found) if found else "none (process groups only)"

    def cpu_group(self, connector: str) -> Path | None:
        """The cpu cgroup of ``connector``'s processes (made on first use), if there is a
        writable cpu hierarchy."""
        if self.cpu_root is None:
            return None
        if connector not in self._cpu_groups:
            # A name of the cgroup file system's liking, and one connector's alone.
            name = "c-" + hashlib.sha256(connector.encode()).hexdigest()[:16]
            self._cpu_groups[connector] = _make(self.cpu_root / name)
        return self._cpu_groups[connector]

    @property
    def available(self) -> bool:
        return bool(self.roots)

    @classmethod
    def detect(cls, name: str = "") -> Cgroups:
        name = name or f"connectord-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        v2_base = next((root for root in V2_CANDIDATES if _has_kill(root)), None)
        pids_base, memory_base, cpu_base = _v1_base("pids"), _v1_base("memory"), _v1_base("cpu")
        for base in (v2_base, pids_base, memory_base, cpu_base):
            if base is not None:
                _remove_stale(base)
        v2_root = _make(v2_base / name) if v2_base is not None else None
        if v2_root is not None:
            _enable_controllers(v2_root)
        pids_root = _make(pids_base / name) if pids_base is not None else None
        memory_root = _make(memory_base / name) if memory_base is not None else None
        cpu_root = _make(cpu_base / name) if cpu_base is not None else None
        cgroups = cls(v2_root, pids_root, memory_root, cpu_root)
        if not cgroups.available:
            log.warning("no writable cgroup hierarchy: workers are contained by process group only")
        elif not cgroups.limits_memory:
            log.warning("no writable memory cgroup: a worker's memory is limited per process (RLIMIT_AS)")
        return cgroups

    def acquire(
        self, processes: int | None, memory_bytes: int | None = None, allowance: int = 0
    ) -> WorkerCgroups:
        """An empty cgroup (per hierarchy) with the given process limit, and the memory
        limit ``memory_bytes`` + ``allowance`` for all its processes together (the
        allowance: what the worker is charged for without the call asking, see
        ``zygote_allowance``)."""
        if not self.available:
            return NO_CGROUPS
        settings: Settings = (processes, memory_bytes, allowance)
        leaf = self._free.pop() if self._free else self._create()
        if leaf.settings != settings and not _apply(leaf, settings):
            # A reused leaf may refuse a limit below what it still holds: take a new one.
            self._discard(leaf)
            leaf = self._create()
            if not _apply(leaf, settings):
                log.warning("cannot set the limits of cgroup %s as asked", leaf.paths[0])
        return leaf

    def allowance(self, zygote_pid: int | None) -> int:
        """``zygote_allowance`` of a zygote, read at its first worker only."""
        if zygote_pid is None or not self.limits_memory:
            return 0
        known = self._allowances.get(zygote_pid)
        if known is None:
            if len(self._allowances) >= 256:  # zygotes come and go: keep no history
                self._allowances.clear()
            known = self._allowances[zygote_pid] = zygote_allowance(zygote_pid)
        return known

    def release(self, leaf: WorkerCgroups) -> bool:
        """Kill what is left in ``leaf`` and keep it for reuse once empty (unless it holds
        memory the next worker would be charged for); False while processes are still
        leaving it (call again a little later)."""
        if leaf is NO_CGROUPS:
            return True
        if leaf.forsaken:
            leaf.forget()
            if leaf in self._all:
                self._all.remove(leaf)
            return True
        if not leaf.empty():
            leaf.kill()
            if not leaf.empty():
                return False
        if leaf.clean():
            self._free.append(leaf)
        else:
            self._discard(leaf)
        return True

    def close(self) -> None:
        for leaf in self._all:
            leaf.forget()
            leaf.kill()
            leaf.remove()
        self._free.clear()
        self._all.clear()
        for group in self._cpu_groups.values():
            if group is not None:  # its processes are gone with the zygotes
                with contextlib.suppress(OSError):
                    group.rmdir()
        self._cpu_groups.clear()
        for root in (*self.roots, self.cpu_root):
            if root is None:
                continue
            with contextlib.suppress(OSError):
                root.rmdir()
        if self._oom_events is not None:
            self._oom_events.close()
            self._oom_events = None

    def _create(self) -> WorkerCgroups:
        name = uuid.uuid4().hex[:12]
        paths = tuple(p for root in self.roots if (p := _make(root / name)))
        kill_file = next((p / "cgroup.kill" for p in paths if (p / "cgroup.kill").exists()), None)
        memory = MemoryCgroup.of(paths)
        v2 = [p for p in paths if self.v2_root in p.parents]
        v1 = [p for p in paths if self.v2_root not in p.parents]
        if memory is not None and memory.v1:
            v1.sort(key=lambda path: path != memory.path)  # the leaf that counts memory, first
        leaf = WorkerCgroups(paths, kill_file, memory, watched=(*v2, *v1)[:1])
        events = self._oom_events
        if memory is not None and memory.v1 and events is not None and events.watch(memory):
            leaf.oom_events, leaf.oom_events_before = events, events.seen()
        self._all.append(leaf)
        return leaf

    def _discard(self, leaf: WorkerCgroups) -> None:
        """Remove an empty leaf (its charge goes to the supervisor's directory)."""
        leaf.forget()
        leaf.remove()
        if leaf in self._all and not any(path.exists() for path in leaf.paths):
            self._all.remove(leaf)


def zygote_allowance(zygote_pid: int | None) -> int:
    """What a worker forked from this zygote may be charged for without asking: a copy of
    each private page of the zygote it writes to (the pages stay the zygote's until then;
    a pooled worker's reference counting comes to touch most of them). The zygote's
    private resident memory (RssAnon) bounds it; RLIMIT_AS counts the zygote's whole
    address space in the same way."""
    if zygote_pid is None:
        return 0
    try:
        with open(f"/proc/{zygote_pid}/status") as status:
            for line in status:
                if line.startswith("RssAnon:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return 0


def _apply(leaf: WorkerCgroups, settings: Settings) -> bool:
    """Set the leaf's limits; False if one could not be set."""
    processes, memory_bytes, allowance = settings
    leaf.settings = None
    try:
        for path in leaf.paths:
            if (path / "pids.max").exists():
                _write(path / "pids.max", "max" if processes is None else str(processes))
        if leaf.memory is not None:
            leaf.memory.set_limit(None if memory_bytes is None else memory_bytes + allowance)
    except OSError:
        return False
    leaf.settings = settings
    return True


def _v1_base(controller: str) -> Path | None:
    """Where this process may make cgroups in the v1 hierarchy of ``controller``: beneath
    its own cgroup there, else at the top."""
    mount = V1_MOUNTS / controller
    if not (mount / "cgroup.procs").exists() or (mount / "cgroup.controllers").exists():
        return None
    own = _own_v1_cgroup(controller)
    candidates = [mount / own.lstrip("/")] if own not in (None, "/") else []
    return next((base for base in [*candidates, mount] if _writable(base)), None)


def _own_v1_cgroup(controller: str) -> str | None:
    try:
        with open("/proc/self/cgroup") as cgroup:
            for line in cgroup:
                _, controllers, path = line.rstrip("\n").split(":", 2)
                if controller in controllers.split(","):
                    return path
    except (OSError, ValueError):
        pass
    return None


def _enable_controllers(root: Path) -> None:
    """Let the leaves under ``root`` (v2) use the controllers its parent gives it."""
    for controller in V2_CONTROLLERS:
        if _offers(root, controller):
            with contextlib.suppress(OSError):
                (root / "cgroup.subtree_control").write_text(f"+{controller}")


def _offers(root: Path | None, controller: str, listed_in: str = "cgroup.controllers") -> bool:
    if root is None:
        return False
    try:
        return controller in (root / listed_in).read_text().split()
    except OSError:
        return False


def _enabled(root: Path | None, controller: str) -> bool:
    """Whether the leaves under ``root`` (v2) have ``controller``."""
    return _offers(root, controller, "cgroup.subtree_control")


def _remove_stale(base: Path) -> None:
    """Remove what a supervisor killed without its clean-up (kill -9) left behind (its
    watchdog, sandbox/watchdog.py, does so as it ends, where it could run)."""
    for root in base.glob("connectord-*"):
        owner = root.name.split("-")[1]
        if owner.isdigit() and not Path(f"/proc/{owner}").exists():
            sweep(root)


def sweep(root: Path, deadline: float | None = None) -> None:
    """Kill every process in the cgroups beneath ``root`` (again, until each is empty or
    ``deadline`` (monotonic) passed: one may fork meanwhile), and remove them and it."""
    try:
        leaves = [path for path in root.iterdir() if path.is_dir()]
    except OSError:
        return
    for leaf in leaves:
        kill_file = leaf / "cgroup.kill"
        stale = WorkerCgroups((leaf,), kill_file if kill_file.exists() else None)
        stale.kill()
        while deadline is not None and not stale.empty() and time.monotonic() < deadline:
            time.sleep(0.01)
            stale.kill()
        stale.forget()
        stale.remove()
    with contextlib.suppress(OSError):
        root.rmdir()


def _has_kill(root: Path) -> bool:
    probe = _make(root / f"connectord-probe-{uuid.uuid4().hex[:8]}")
    if probe is None:
        return False
    try:
        return (probe / "cgroup.kill").exists()
    finally:
        with contextlib.suppress(OSError):
            probe.rmdir()


def _writable(base: Path) -> bool:
    probe = _make(base / f"connectord-probe-{uuid.uuid4().hex[:8]}")
    if probe is None:
        return False
    with contextlib.suppress(OSError):
        probe.rmdir()
    return True


def _make(path: Path) -> Path | None:
    try:
        path.mkdir(exist_ok=True)
        return path
    except OSError:
        return None


def _write(path: str | Path, value: str, missing_ok: bool = False) -> None:
    # Plain os calls: this runs for most workers, and pathlib's text I/O costs several times more.
    try:
        fd = os.open(path, os.O_WRONLY | os.O_TRUNC)  # as a shell writes; cgroupfs ignores it
    except FileNotFoundError:
        if missing_ok:
            return
        raise
    try:
        os.write(fd, value.encode())
    finally:
        os.close(fd)


def _read_int(path: str) -> int:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return 0
    try:
        return int(os.read(fd, 64))
    except (OSError, ValueError):
        return 0
    finally:
        os.close(fd)


def _pids(path: Path) -> list[int]:
    # os calls, not pathlib's text I/O, which costs several times more.
    try:
        fd = _open_procs(path)
    except OSError:
        return []
    try:
        return _pids_at(fd)
    finally:
        os.close(fd)


def _open_procs(path: Path) -> int:
    return os.open(os.path.join(path, "cgroup.procs"), os.O_RDONLY | os.O_CLOEXEC)


def _pids_at(fd: int) -> list[int]:
    """The pids listed in the open ``cgroup.procs`` ``fd``, read from its start again (the
    kernel lists them anew)."""
    try:
        chunks: list[bytes] = []
        while chunk := os.pread(fd, 65536, sum(map(len, chunks))):
            chunks.append(chunk)
            if len(chunk) < 2048:  # the kernel hands out a page at a time: less is the end
                break
        return [int(line) for line in b"".join(chunks).split()]
    except (OSError, ValueError):
        return []
