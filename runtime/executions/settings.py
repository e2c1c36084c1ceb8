"""How executions run and are kept, with defaults."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ExecutionSettings:
    #: How long a finished result can be fetched.
    retention: float = 3600.0
    #: How long a delivered or expired execution is remembered (poll says "Expired.").
    remember: float = 24 * 3600.0
    #: At most this many executions run (or wait for a sandbox slot) at once.
    max_running: int = 64
    #: An execution whose node was lost this many times (it may be what kills them) is
    #: reported as crashed instead of running again.
    max_claims: int = 3
