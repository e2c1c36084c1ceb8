"""Keeping this node's leases, and taking back the work of nodes that stopped keeping
theirs.

A node renews only what it runs now (a claim whose task died runs out like a dead node's),
and reaps only after it has renewed without a break for a whole lease: after an outage of
the store every node renews again within a third of a lease, so nobody takes back the work
of a live node that simply could not reach the store either. A renewal that had to wait
for the store, or came late, breaks the run as a failed one does. Renewals run on a thread
of their own (and on PostgreSQL a connection of their own), so requests queued for the
store never hold them up. Renewal comes first, so a node never reaps its own work after a
pause.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Protocol

from connectord.runtime.cluster import Member
from connectord.runtime.store import Store
from connectord.runtime.store.runner import StoreRunner

log = logging.getLogger(__name__)


def may_reap(now: float, renewing_since: float | None, node: Member) -> bool:
    """Whether this node has renewed its leases without a break for a whole lease."""
    return renewing_since is not None and now - renewing_since >= node.lease_seconds


def unbroken_since(
    since: float | None, last_done: float | None, started: float, done: float, node: Member
) -> float:
    """When the unbroken run of renewals began, given that one started at ``started`` and
    succeeded at ``done``. A renewal that was slow (it waited for a store that was away)
    or late (this process was paused, or the last one failed) is no evidence that the store
    was there all along: the run starts again at its end."""
    on_time = last_done is not None and started - last_done <= 2 * node.renew_every
    quick = done - started <= node.renew_every / 2
    return since if since is not None and on_time and quick else done


class Holder(Protocol):
    """What holds claims: the dispatchers of executions and of jobs."""

    def held(self) -> dict[str, int]:
        """The claims it runs now (id: fence), their leases to renew."""
        ...

    def claims_lost(self, lost: dict[str, int]) -> None:
        """Stop running these claims (id: fence): the store says they are no longer this
        node's. A claim of the same id made since is not one of them."""
        ...

    async def reap_once(self) -> object:
        """Take back the claims of nodes that stopped renewing theirs."""
        ...


class LeaseKeeper:
    def __init__(
        self,
        store: Store,
        run: StoreRunner,
        clock: Callable[[], float],
        node: Member,
        executions: Holder,
        jobs: Holder,
    ) -> None:
        self.store, self.run, self.clock, self.node = store, run, clock, node
        self.executions, self.jobs = executions, jobs
        #: When the current unbroken run of renewals began (None: the last one failed).
        self.renewing_since: float | None = None
        #: When the last successful renewal ended.
        self.renewed_at: float | None = None

    async def once(self) -> bool:
        """Renew; stop what the store says is no longer ours; then reap if allowed.
        Whether it reaped."""
        started = self.clock()
        executions, jobs = self.executions.held(), self.jobs.held()
        try:
            renewed = await self.run(
                self.store.renew_leases,
                self.node.id,
                self.node.lease_until(started),
                list(executions),
                list(jobs),
            )
        except BaseException:
            self.renewing_since = self.renewed_at = None
            raise
        done = self.clock()
        self.renewing_since = unbroken_since(self.renewing_since, self.renewed_at, started, done, self.node)
        self.renewed_at = done
        # Also what ended here during the renewal: stopping what has ended does nothing.
        self.executions.claims_lost(_lost(executions, renewed.executions))
        self.jobs.claims_lost(_lost(jobs, renewed.jobs))
        if not may_reap(done, self.renewing_since, self.node):
            return False
        await self.executions.reap_once()
        await self.jobs.reap_once()
        return True

    async def forever(self) -> None:
        """``once`` every ``node.renew_every`` seconds until cancelled."""
        while True:
            try:
                await self.once()
            except Exception as exc:  # must outlive any one failure, or our work would be taken
                log.error("cannot renew leases: %s; trying again in %g s", exc, self.node.renew_every)
            await asyncio.sleep(self.node.renew_every)


def _lost(held: dict[str, int], renewed: list[str]) -> dict[str, int]:
    kept = set(renewed)
    return {key: fence for key, fence in held.items() if key not in kept}
