"""How the jobs service runs, with defaults."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class JobSettings:
    #: How long finished jobs without a definition are kept.
    adhoc_retention: float = 30 * 86400.0
    #: At most this many jobs run (or wait for a sandbox slot) at once.
    max_running: int = 32
    #: How long ``?wait=`` may hold a request.
    max_wait: float = 30.0

    @property
    def max_running_per_tenant(self) -> int:
        """What one tenant may hold of ``max_running`` (three quarters): the rest waits for
        other tenants' jobs, so that one tenant's slow jobs never take every slot."""
        return max(1, self.max_running - max(1, self.max_running // 4))
