"""What this host lets the sandbox do, and the policy as it will really run here.

``landlock`` and ``seccomp`` default to "wherever the host has them" (None in the
configuration); a policy that asks for one (True) on a host without it does not start,
with a message that names what is missing. The server logs the protections in force once
at start (``describe``).
"""

from __future__ import annotations

from dataclasses import dataclass

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

    @classmethod
    def detect(cls) -> Host:
        try:
            compiled_filter()
            missing = None
        except SeccompUnavailableError as exc:
            missing = str(exc)
        return cls(landlock.abi_version(), missing)

    def resolve(self, policy: SandboxPolicy) -> SandboxPolicy:
        """``policy`` with every connector's ``landlock`` and ``seccomp`` True or False."""
        return msgspec.structs.replace(
            policy,
            default=self._resolved("default", policy.default),
            connectors={name: self._resolved(name, p) for name, p in policy.connectors.items()},
        )

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
        ]
        return "sandbox protections by default: " + ", ".join(parts)
