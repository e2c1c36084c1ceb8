"""What this host lets the sandbox do, and the policy as it will really run here.

``landlock`` and ``seccomp`` default to "wherever the host has them" (None in the
configuration); a policy that asks for one (True) on a host without it does not start,
with a message that names what is missing. ``concurrency`` 0 becomes the number of calls
the memory this server may use allows (``SandboxPolicy.derived_concurrency``). The server
logs the protections in force once at start (``describe``).
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from pathlib import Path

import msgspec

from connectord.sandbox import landlock
from connectord.sandbox.policy import ConnectorPolicy, SandboxPolicy
from connectord.sandbox.syscall_filter import SeccompUnavailableError, compiled_filter
from connectord.sandbox.zygote_client import ZygoteError


class SandboxUnavailableError(ZygoteError):
    """The configuration asks for a protection this host cannot give."""


@dataclass(frozen=True)
class Host:
    landlock_abi: int
    #: Why seccomp cannot be had here; None where it can.
    seccomp_missing: str | None
    #: The memory this server and its workers may use: the host's, or less where a cgroup
    #: it is in says so; None: unknown.
    memory_bytes: int | None = None
    cores: int = 2

    @classmethod
    def detect(cls) -> Host:
        try:
            compiled_filter()
            missing = None
        except SeccompUnavailableError as exc:
            missing = str(exc)
        return cls(landlock.abi_version(), missing, memory_allowed(), os.cpu_count() or 1)

    def resolve(self, policy: SandboxPolicy) -> SandboxPolicy:
        """``policy`` with every connector's ``landlock`` and ``seccomp`` True or False, and
        ``concurrency`` a number of slots."""
        resolved = msgspec.structs.replace(
            policy,
            default=self._resolved("default", policy.default),
            connectors={name: self._resolved(name, p) for name, p in policy.connectors.items()},
        )
        if policy.concurrency:
            return resolved
        slots = policy.derived_concurrency(self.memory_bytes, self.cores)
        return msgspec.structs.replace(resolved, concurrency=slots)

    def _resolved(self, name: str, policy: ConnectorPolicy) -> ConnectorPolicy:
        limits = policy.limits
        if limits.landlock and self.landlock_abi < 1:
            raise SandboxUnavailableError(
                f"connector policy '{name}' asks for landlock, but this kernel has no Landlock "
                "(Linux 5.13+, with landlock in the lsm= boot parameter)"
            )
        if limits.seccomp and self.seccomp_missing is not None:
            missing = self.seccomp_missing
            raise SandboxUnavailableError(f"connector policy '{name}' asks for seccomp: {missing}")
        resolved = msgspec.structs.replace(
            limits,
            landlock=self.landlock_abi >= 1 if limits.landlock is None else limits.landlock,
            seccomp=self.seccomp_missing is None if limits.seccomp is None else limits.seccomp,
        )
        return msgspec.structs.replace(policy, limits=resolved)

    def describe(self, policy: SandboxPolicy, cgroups: str) -> str:
        """One line for the log: what protects connectors on this host, as configured."""
        limits = policy.default.limits
        scoping = "signals and abstract sockets scoped" if self.landlock_abi >= 6 else "no signal scoping"
        parts = [
            f"Landlock ABI {self.landlock_abi} ({scoping})" if self.landlock_abi else "no Landlock",
            f"files confined: {'yes' if limits.landlock else 'no'}",
            f"seccomp: {'yes' if limits.seccomp else 'no'}",
            f"network: {'yes' if limits.network else 'none'}",
            f"cgroups: {cgroups}",
            f"slots: {policy.capacity()} (at most {policy.slots_per_connector()} per connector)",
        ]
        return "sandbox protections by default: " + ", ".join(parts)


def memory_allowed(proc: Path = Path("/proc"), cgroup_mount: Path = Path("/sys/fs/cgroup")) -> int | None:
    """The host's memory (``MemTotal``), or less where a cgroup this process is in, or one
    above it, is limited (v2 ``memory.max``, v1 ``memory.limit_in_bytes``); None: unknown."""
    found = [total for total in [_mem_total(proc / "meminfo")] if total is not None]
    try:
        lines = (proc / "self/cgroup").read_text().splitlines()
    except OSError:
        lines = []
    for line in lines:
        _, controllers, path = line.split(":", 2)
        if controllers == "":
            found += _limits_along(cgroup_mount, path, "memory.max")
            found += _limits_along(cgroup_mount / "unified", path, "memory.max")
        elif "memory" in controllers.split(","):
            found += _limits_along(cgroup_mount / "memory", path, "memory.limit_in_bytes")
    return min(found) if found else None


def _mem_total(meminfo: Path) -> int | None:
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in meminfo.read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) * 1024
    return None


def _limits_along(mount: Path, path: str, name: str) -> list[int]:
    """The limits ``name`` sets on the cgroup at ``path`` and on each of its ancestors
    ("max", or v1's huge number: none)."""
    limits = []
    place = mount / path.lstrip("/")
    for directory in [place, *place.parents]:
        if directory == mount.parent:
            break
        with contextlib.suppress(OSError, ValueError):
            value = (directory / name).read_text().strip()
            if value != "max" and int(value) < 2**62:
                limits.append(int(value))
    return limits
