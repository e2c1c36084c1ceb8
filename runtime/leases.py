"""Keeping this node's leases, and taking back the work of nodes that stopped keeping
theirs.

A node renews only what it runs now (a claim whose task died runs out like a dead node's),
and reaps only after it has renewed without a break for a whole lease: after an outage of
the store every node renews again within a third of a lease, so nobody takes back the work
of a live node that simply could not reach the store either. Renewal comes first, so a node
never reaps its own work after a pause.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence

from connectord.runtime.cluster import Node
from connectord.runtime.store import Store
from connectord.runtime.store.runner import StoreRunner

log = logging.getLogger(__name__)


def may_reap(now: float, renewing_since: float | None, node: Node) -> bool:
    """Whether this node has renewed its leases without a break for a whole lease."""
    return renewing_since is not None and now - renewing_since >= node.lease_seconds


class LeaseKeeper:
    def __init__(
        self,
        store: Store,
        run: StoreRunner,
        clock: Callable[[], float],
        node: Node,
        held_executions: Callable[[], list[str]],
        held_jobs: Callable[[], list[str]],
        reapers: Sequence[Callable[[], Awaitable[object]]],
    ) -> None:
        self.store, self.run, self.clock, self.node = store, run, clock, node
        self.held_executions, self.held_jobs, self.reapers = held_executions, held_jobs, reapers
        #: When the current unbroken run of renewals began (None: the last one failed).
        self.renewing_since: float | None = None

    async def once(self) -> bool:
        """Renew, then reap if allowed; whether it reaped."""
        now = self.clock()
        try:
            await self.run(
                self.store.renew_leases,
                self.node.id,
                self.node.lease_until(now),
                self.held_executions(),
                self.held_jobs(),
            )
        except BaseException:
            self.renewing_since = None
            raise
        if self.renewing_since is None:
            self.renewing_since = now
        if not may_reap(now, self.renewing_since, self.node):
            return False
        for reap in self.reapers:
            await reap()
        return True

    async def forever(self) -> None:
        """``once`` every ``node.renew_every`` seconds until cancelled."""
        while True:
            try:
                await self.once()
            except Exception as exc:  # must outlive any one failure, or our work would be taken
                log.error("cannot renew leases: %s; trying again in %g s", exc, self.node.renew_every)
            await asyncio.sleep(self.node.renew_every)
