"""What this host lets the sandbox do, and the policy as it will really run here.

``landlock`` and ``seccomp`` default to "wherever the host has them" (None in the
configuration), ``user_ids`` to "wherever the server is root" ("auto"); a policy that
asks for one (True) on a host without it does not start, with a message that names what is
missing. ``concurrency`` 0 becomes the number of calls the memory this server may use
allows (``SandboxPolicy.derived_concurrency``). The server logs the protections in force
once at start (``describe``).
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
from connectord.sandbox.user_ids import DEFAULT, IdRange, mapped, parse_range, subordinate_range
from connectord.sandbox.zygote_client import SandboxUnavailableError

__all__ = ["Host", "SandboxUnavailableError"]

#: Bits of CapEff (/proc/self/status): what changing to another user takes.
_CAP_SETGID, _CAP_SETUID = 6, 7


@dataclass(frozen=True)
class Host:
    landlock_abi: int
    #: Why seccomp cannot be had here; None where it can.
    seccomp_missing: str | None
    #: Why this server cannot run connectors as users of their own; None where it can.
    users_missing: str | None = "not detected"
    #: Root's subordinate ids (/etc/subuid and /etc/subgid), where it has the same in both.
    subordinate: IdRange | None = None
    #: This user namespace's /proc/self/uid_map and gid_map: which ids exist here.
    uid_map: str = ""
    gid_map: str = ""
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
        return cls(
            landlock.abi_version(),
            missing,
            _why_no_user_switch(),
            subordinate_range(_read("/etc/subuid"), _read("/etc/subgid")),
            _read("/proc/self/uid_map"),
            _read("/proc/self/gid_map"),
            memory_allowed(),
            os.cpu_count() or 1,
        )

    def resolve(self, policy: SandboxPolicy) -> SandboxPolicy:
        """``policy`` with every connector's ``landlock`` and ``seccomp`` True or False,
        ``user_ids`` False or the range connectors' ids come from, and ``concurrency`` a
        number of slots."""
        resolved = msgspec.structs.replace(
            policy,
            user_ids=self._user_ids(policy.user_ids),
            default=self._resolved("default", policy.default),
            connectors={name: self._resolved(name, p) for name, p in policy.connectors.items()},
        )
        if policy.concurrency:
            return resolved
        slots = policy.derived_concurrency(self.memory_bytes, self.cores)
        return msgspec.structs.replace(resolved, concurrency=slots)

    def _user_ids(self, asked: bool | str) -> bool | str:
        if asked is False:
            return False
        ids = parse_range(asked) if isinstance(asked, str) and asked != "auto" else self.default_ids()
        missing = self._why_no_user_ids(ids)
        if missing is None:
            return str(ids)
        if asked == "auto":
            return False
        raise SandboxUnavailableError(
            f"the configuration asks for a user id per connector (user_ids = {asked!r}), but {missing}"
        )

    def default_ids(self) -> IdRange:
        """Root's subordinate range where it has one this namespace maps, else DEFAULT."""
        if self.subordinate is not None and self._why_no_user_ids(self.subordinate) is None:
            return self.subordinate
        return DEFAULT

    def _why_no_user_ids(self, ids: IdRange) -> str | None:
        if self.users_missing is not None:
            return self.users_missing
        if not (mapped(self.uid_map, ids) and mapped(self.gid_map, ids)):
            return f"the ids {ids} are not all mapped in this user namespace"
        return None

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
            self._describe_user_ids(policy),
        ]
        return "sandbox protections by default: " + ", ".join(parts)

    def _describe_user_ids(self, policy: SandboxPolicy) -> str:
        if isinstance(policy.user_ids, str):
            return f"user ids: one per connector ({policy.user_ids})"
        missing = self._why_no_user_ids(self.default_ids())
        return f"user ids: none ({missing})" if missing else "user ids: off"


def _why_no_user_switch() -> str | None:
    if os.geteuid() != 0:
        return "the server is not root"
    status = _read("/proc/self/status")
    held = next((int(line.split()[1], 16) for line in status.splitlines() if line.startswith("CapEff:")), 0)
    if not held >> _CAP_SETUID & 1 or not held >> _CAP_SETGID & 1:
        return "the server lacks CAP_SETUID or CAP_SETGID"
    return None


def _read(path: str) -> str:
    try:
        return Path(path).read_text()
    except OSError:
        return ""


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
