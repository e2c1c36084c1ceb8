"""A cgroup per worker, where the machine lets us create them.

Two things a process group cannot do: catch a grandchild that called ``setsid()`` (it
leaves the group, not the cgroup), and cap the number of processes as root (RLIMIT_NPROC
is ignored for root). cgroup v2 gives ``cgroup.kill``; the v1 or v2 ``pids`` controller
gives ``pids.max``. Without a writable hierarchy the supervisor falls back to process
groups, and says so once in its log.
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

    def remove(self) -> bool:
        """Remove the cgroups; False while a process is still in one (try again later)."""
        removed = True
        for path in self.paths:
            try:
                path.rmdir()
            except FileNotFoundError:
                pass
            except OSError:
                removed = False
        return removed


class Cgroups:
    """Creates per-worker cgroups under one directory per supervisor."""

    def __init__(self, v2_root: Path | None, pids_root: Path | None) -> None:
        self.v2_root = v2_root
        self.pids_root = pids_root

    @property
    def available(self) -> bool:
        return self.v2_root is not None or self.pids_root is not None

    @classmethod
    def detect(cls, name: str = "") -> Cgroups:
        name = name or f"connectord-{os.getpid()}"
        v2_base = next((root for root in V2_CANDIDATES if _has_kill(root)), None)
        v2_root = _make(v2_base / name) if v2_base is not None else None
        pids_root = _make(V1_PIDS / name) if (V1_PIDS / "cgroup.procs").exists() else None
        cgroups = cls(v2_root, pids_root)
        if not cgroups.available:
            log.warning("no writable cgroup hierarchy: workers are contained by process group only")
        return cgroups

    def create(self, processes: int | None) -> WorkerCgroups:
        if not self.available:
            return WorkerCgroups((), None)
        leaf = uuid.uuid4().hex[:12]
        paths: list[Path] = []
        kill_file = None
        for root in (self.v2_root, self.pids_root):
            path = _make(root / leaf) if root is not None else None
            if path is None:
                continue
            paths.append(path)
            if (path / "cgroup.kill").exists():
                kill_file = path / "cgroup.kill"
            if processes is not None and (path / "pids.max").exists():
                with contextlib.suppress(OSError):
                    (path / "pids.max").write_text(str(processes))
        return WorkerCgroups(tuple(paths), kill_file)

    def close(self) -> None:
        for root in (self.v2_root, self.pids_root):
            if root is not None:
                for leaf in (p for p in root.iterdir() if p.is_dir()):
                    kill_file = leaf / "cgroup.kill"
                    leftover = WorkerCgroups((leaf,), kill_file if kill_file.exists() else None)
                    leftover.kill()
                    leftover.remove()
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
    try:
        return [int(line) for line in (path / "cgroup.procs").read_text().split()]
    except (OSError, ValueError):
        return []
