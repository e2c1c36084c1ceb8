"""A cgroup per worker, where the machine lets us create them.

Two things a process group cannot do: catch a grandchild that called ``setsid()`` (it
leaves the group, not the cgroup), and cap the number of processes as root (RLIMIT_NPROC
is ignored for root). cgroup v2 gives ``cgroup.kill``; the v1 or v2 ``pids`` controller
gives ``pids.max``. Without a writable hierarchy the supervisor falls back to process
groups, and says so once in its log.

Creating and removing a cgroup costs more than a fork here, so emptied leaves are kept and
handed to the next worker instead of being removed.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import uuid
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

V2_CANDIDATES = (Path("/sys/fs/cgroup/unified"), Path("/sys/fs/cgroup"))
V1_PIDS = Path("/sys/fs/cgroup/pids")


@dataclass(frozen=True)
class WorkerCgroups:
    """The cgroups one worker runs in (none where cgroups are unavailable)."""

    paths: tuple[Path, ...]
    kill_file: Path | None

    def kill(self) -> None:
        """Kill every process in the worker's cgroups, wherever it went in the tree."""
        if self.kill_file is not None:
            with contextlib.suppress(OSError):
                self.kill_file.write_text("1")
        for path in self.paths:
            for pid in _pids(path):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)

    def empty(self) -> bool:
        return not any(_pids(path) for path in self.paths)

    def remove(self) -> None:
        for path in self.paths:
            with contextlib.suppress(OSError):
                path.rmdir()


NO_CGROUPS = WorkerCgroups((), None)


class Cgroups:
    """Hands out per-worker cgroups under one directory per supervisor."""

    def __init__(self, v2_root: Path | None, pids_root: Path | None) -> None:
        self.v2_root = v2_root
        self.pids_root = pids_root
        self._free: list[tuple[WorkerCgroups, int | None]] = []
        self._all: list[WorkerCgroups] = []

    @property
    def in_use(self) -> int:
        """Leaves handed out and not yet released."""
        return len(self._all) - len(self._free)

    def describe(self) -> str:
        """Which hierarchies workers get a cgroup in, for the start-up log."""
        found = [name for name, root in (("v2", self.v2_root), ("pids", self.pids_root)) if root is not None]
        return " + ".join(found) if found else "none (process groups only)"

    @property
    def available(self) -> bool:
        return self.v2_root is not None or self.pids_root is not None

    @classmethod
    def detect(cls, name: str = "") -> Cgroups:
        name = name or f"connectord-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        v2_base = next((root for root in V2_CANDIDATES if _has_kill(root)), None)
        for base in (v2_base, V1_PIDS):
            if base is not None:
                _remove_stale(base)
        v2_root = _make(v2_base / name) if v2_base is not None else None
        pids_root = _make(V1_PIDS / name) if (V1_PIDS / "cgroup.procs").exists() else None
        cgroups = cls(v2_root, pids_root)
        if not cgroups.available:
            log.warning("no writable cgroup hierarchy: workers are contained by process group only")
        return cgroups

    def acquire(self, processes: int | None) -> WorkerCgroups:
        """An empty cgroup (per hierarchy) with the given process limit."""
        if not self.available:
            return NO_CGROUPS
        if self._free:
            leaf, limit = self._free.pop()
            if limit != processes:
                _set_pids_max(leaf, processes)
            return leaf
        leaf = self._create()
        _set_pids_max(leaf, processes)
        return leaf

    def release(self, leaf: WorkerCgroups, processes: int | None) -> bool:
        """Kill what is left in ``leaf`` and keep it for reuse once empty; False while
        processes are still leaving it (call again a little later)."""
        if leaf is NO_CGROUPS:
            return True
        if not leaf.empty():
            leaf.kill()
            if not leaf.empty():
                return False
        self._free.append((leaf, processes))
        return True

    def close(self) -> None:
        for leaf in self._all:
            leaf.kill()
            leaf.remove()
        self._free.clear()
        self._all.clear()
        for root in (self.v2_root, self.pids_root):
            if root is not None:
                with contextlib.suppress(OSError):
                    root.rmdir()

    def _create(self) -> WorkerCgroups:
        name = uuid.uuid4().hex[:12]
        paths = [p for root in (self.v2_root, self.pids_root) if root and (p := _make(root / name))]
        kill_file = next((p / "cgroup.kill" for p in paths if (p / "cgroup.kill").exists()), None)
        leaf = WorkerCgroups(tuple(paths), kill_file)
        self._all.append(leaf)
        return leaf


def _set_pids_max(leaf: WorkerCgroups, processes: int | None) -> None:
    for path in leaf.paths:
        if (path / "pids.max").exists():
            with contextlib.suppress(OSError):
                (path / "pids.max").write_text("max" if processes is None else str(processes))


def _remove_stale(base: Path) -> None:
    """Remove what a supervisor killed without its clean-up (kill -9) left behind."""
    for root in base.glob("connectord-*"):
        owner = root.name.split("-")[1]
        if not owner.isdigit() or Path(f"/proc/{owner}").exists():
            continue
        for leaf in (p for p in root.iterdir() if p.is_dir()):
            kill_file = leaf / "cgroup.kill"
            stale = WorkerCgroups((leaf,), kill_file if kill_file.exists() else None)
            stale.kill()
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


def _make(path: Path) -> Path | None:
    try:
        path.mkdir(exist_ok=True)
        return path
    except OSError:
        return None


def _pids(path: Path) -> list[int]:
    # Read once per worker: os calls, not pathlib's text I/O, which costs several times more.
    try:
        fd = os.open(os.path.join(path, "cgroup.procs"), os.O_RDONLY)
    except OSError:
        return []
    try:
        chunks = []
        while chunk := os.read(fd, 65536):
            chunks.append(chunk)
        return [int(line) for line in b"".join(chunks).split()]
    except (OSError, ValueError):
        return []
    finally:
        os.close(fd)
