"""This process as a member of a cluster: its name and the terms of its leases."""

from __future__ import annotations

import asyncio
import os
import socket
import uuid
from dataclasses import dataclass, field

#: Default seconds a claim stays ours without a renewal.
LEASE_SECONDS = 30.0


def default_node_id() -> str:
    # host and pid say where to look; the suffix tells a restarted process from the last one
    return f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"


@dataclass(frozen=True)
class Member:
    id: str = field(default_factory=default_node_id)
    #: Work claimed by this node is taken back by any node this long after its last renewal.
    lease_seconds: float = LEASE_SECONDS

    def lease_until(self, now: float) -> float:
        return now + self.lease_seconds

    @property
    def renew_every(self) -> float:
        """Renew three times per lease, so one late renewal loses nothing."""
        return self.lease_seconds / 3


def forget_claim(held: dict[str, int], key: str, fence: int) -> None:
    """Drop ``held[key]`` only if it is still the claim under ``fence`` (see forget_task)."""
    if held.get(key) == fence:
        del held[key]


def forget_task(tasks: dict[str, asyncio.Task[None]], key: str, task: asyncio.Future[None] | None) -> None:
    """Drop ``tasks[key]`` only if it is still ``task``: after its lease was taken back, a
    node may claim the same id again while the old task winds down."""
    if tasks.get(key) is task:
        del tasks[key]
