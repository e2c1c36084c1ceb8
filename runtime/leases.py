"""Keeping this node's leases, and taking back the work of nodes that stopped keeping
theirs: renew first, so a node never reaps its own work after a pause."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence

from connectord.runtime.cluster import Node
from connectord.runtime.store import Store
from connectord.runtime.store.runner import StoreRunner

log = logging.getLogger(__name__)


async def keep_leases_once(
    store: Store,
    run: StoreRunner,
    clock: Callable[[], float],
    node: Node,
    reapers: Sequence[Callable[[], Awaitable[object]]],
) -> int:
    """Renew this node's leases, then reap expired ones; how many leases were renewed."""
    renewed = await run(store.renew_leases, node.id, node.lease_until(clock()))
    for reap in reapers:
        await reap()
    return renewed


async def keep_leases_forever(
    store: Store,
    run: StoreRunner,
    clock: Callable[[], float],
    node: Node,
    reapers: Sequence[Callable[[], Awaitable[object]]],
) -> None:
    """``keep_leases_once`` every ``node.renew_every`` seconds until cancelled."""
    while True:
        try:
            await keep_leases_once(store, run, clock, node, reapers)
        except Exception as exc:  # must outlive any one failure, or our work would be taken
            log.error("cannot renew leases: %s; trying again in %g s", exc, node.renew_every)
        await asyncio.sleep(node.renew_every)
