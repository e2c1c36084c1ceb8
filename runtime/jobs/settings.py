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
