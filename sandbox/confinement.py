"""What the zygote makes before it forks a worker, so that the worker's own confinement
costs it little: work done in the zygote is done warm, and copies no page.

The zygote itself is already confined (sandbox/enclosure.py): hidden paths, network,
seccomp, no capabilities. A worker narrows that further, for itself alone:

- a directory of its own in the zygote's /tmp and /dev/shm (its ``TMPDIR``), removed
  once it has ended;
- a Landlock domain of its own, nested in the zygote's: with ``landlock``, write access
  to its own directories only (not another worker's, of another tenant); and where the
  kernel can (ABI 6), no signal to and no abstract socket of any process outside it —
  sibling workers and the zygote included. The zygote fills the ruleset from
  descriptors of the system paths it opened once; the worker only adds its own /proc
  entry and enforces it.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass, field

from connectord.sandbox import isolation, landlock
from connectord.sandbox.protocol import Limits, Spawn


@dataclass(frozen=True)
class Prepared:
    """What one worker confines itself with, before dropping every inherited descriptor."""

    #: Its own temporary directories (``TMPDIR`` is the first).
    temporary: tuple[str, ...] = ()
    #: A Landlock ruleset of the worker's own (the zygote closes its copy after the fork).
    ruleset: int | None = None
    #: Whether the ruleset confines files (else it only scopes signals and sockets).
    files: bool = False
    #: Why the confinement asked for cannot be had: the worker refuses every call.
    problem: str | None = None
    cgroups: list[int] = field(default_factory=list)


class Preparations:
    def __init__(self, system_paths: list[str]) -> None:
        self.system_paths = system_paths
        #: The system paths and devices, opened once for the rules of every worker.
        self._system_rules: list[landlock.Rule] | None = None
        #: The private directories this host has (a container may have no /dev/shm).
        self._tops = [top for top in isolation.PRIVATE_DIRS if os.path.isdir(top)]
        self._prefixes = [os.path.join(top, "worker-") for top in self._tops]

    def prepare(self, spawn: Spawn, cgroups: list[int]) -> Prepared:
        token = str(spawn.token)
        temporary = tuple([prefix + token for prefix in self._prefixes])
        try:
            for path in temporary:
                os.mkdir(path, 0o700)
            ruleset = self._ruleset(spawn.limits, temporary)
        except (OSError, ValueError) as exc:
            remove_trees(temporary)
            return Prepared(problem=_why(exc), cgroups=cgroups)
        return Prepared(temporary, ruleset, bool(spawn.limits.landlock), cgroups=cgroups)

    def forked(self, prepared: Prepared) -> None:
        """The worker has its copies: close what was made for it alone."""
        for fd in (prepared.ruleset, *prepared.cgroups):
            if fd is not None:
                os.close(fd)

    def _ruleset(self, limits: Limits, temporary: tuple[str, ...]) -> int | None:
        if not limits.landlock:
            return landlock.new_ruleset(files=False) if landlock.scopes() else None
        if self._system_rules is None:
            self._system_rules = _opened_for_rules(
                [(path, landlock.READ) for path in self.system_paths]
                + [(path, landlock.DEVICE) for path in isolation.DEVICES]
            )
        ruleset = landlock.new_ruleset()
        try:
            landlock.add_rules(ruleset, self._system_rules)
            for path in limits.readable_paths:
                landlock.grant(ruleset, path, landlock.READ)
            for path in limits.writable_paths:
                landlock.grant(ruleset, path, landlock.WRITE)
            for path in temporary:  # made just now: directories
                landlock.grant_directory(ruleset, path, landlock.WRITE)
        except OSError:
            with contextlib.suppress(OSError):
                os.close(ruleset)
            raise
        return ruleset


def remove_trees(paths: tuple[str, ...] | list[str]) -> None:
    """Remove each directory and everything in it, following no symbolic link (a worker
    could leave one pointing anywhere); what cannot be removed is left."""
    for path in paths:
        try:
            os.rmdir(path)  # most workers leave their directories empty
            continue
        except FileNotFoundError:
            continue
        except OSError:
            pass
        with contextlib.suppress(OSError):
            for _top, dirs, files, top_fd in os.fwalk(path, topdown=False):
                for name in files:
                    with contextlib.suppress(OSError):
                        os.unlink(name, dir_fd=top_fd)
                for name in dirs:
                    with contextlib.suppress(OSError):
                        os.rmdir(name, dir_fd=top_fd)
                        continue
                    with contextlib.suppress(OSError):
                        os.unlink(name, dir_fd=top_fd)  # a symbolic link to a directory
            os.rmdir(path)


def _why(exc: OSError | ValueError) -> str:
    return (exc.strerror if isinstance(exc, OSError) else None) or str(exc)


def _opened_for_rules(paths: list[tuple[str, int]]) -> list[landlock.Rule]:
    """Rules for ``paths`` (each with its rights), opened all or none (nothing is left
    open on a failure)."""
    rules: list[landlock.Rule] = []
    try:
        for path, rights in paths:
            opened = landlock.open_beneath(path, rights)
            if opened is not None:
                rules.append(landlock.Rule(opened))
    except BaseException:
        for rule in rules:
            os.close(rule.fd)
        raise
    return rules
