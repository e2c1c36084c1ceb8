"""The fair limiter: bounded, takes turns between keys, leaves room for other keys."""

from __future__ import annotations

import asyncio

import pytest

from connectord.sandbox.fairness import FairLimiter


async def hold(limiter: FairLimiter, key: str, log: list[str], release: asyncio.Event) -> None:
    async with limiter.slot(key):
        log.append(key)
        await release.wait()


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def test_never_more_than_capacity_and_one_key_leaves_a_slot_free() -> None:
    limiter = FairLimiter(capacity=3)
    assert limiter.per_key == 2
    release = asyncio.Event()
    log: list[str] = []
    tasks = [asyncio.ensure_future(hold(limiter, "slow", log, release)) for _ in range(5)]
    await settle()
    assert log == ["slow", "slow"] and limiter.in_use == 2
    other = asyncio.ensure_future(hold(limiter, "other", log, release))
    await settle()
    assert log[-1] == "other" and limiter.in_use == 3
    release.set()
    await asyncio.gather(*tasks, other)
    assert limiter.in_use == 0 and limiter.queued == 0


async def test_freed_slots_go_to_keys_in_turn() -> None:
    limiter = FairLimiter(capacity=1)
    release = asyncio.Event()
    log: list[str] = []
    first = asyncio.ensure_future(hold(limiter, "a", log, release))
    await settle()
    waiting = [asyncio.ensure_future(hold(limiter, k, log, release)) for k in ["a", "a", "a", "b", "c"]]
    await settle()
    release.set()
    await asyncio.gather(first, *waiting)
    assert log == ["a", "a", "b", "c", "a", "a"]


async def test_a_cancelled_waiter_gives_its_turn_away() -> None:
    limiter = FairLimiter(capacity=1)
    release = asyncio.Event()
    log: list[str] = []
    first = asyncio.ensure_future(hold(limiter, "a", log, release))
    await settle()
    cancelled = asyncio.ensure_future(hold(limiter, "b", log, release))
    later = asyncio.ensure_future(hold(limiter, "c", log, release))
    await settle()
    cancelled.cancel()
    release.set()
    await asyncio.gather(first, later)
    with pytest.raises(asyncio.CancelledError):
        await cancelled
    assert log == ["a", "c"] and limiter.in_use == 0


def test_capacity_must_be_positive() -> None:
    with pytest.raises(ValueError, match="capacity must be at least 1"):
        FairLimiter(0)


async def test_one_connector_cannot_take_every_slot_across_tenants() -> None:
    limiter = FairLimiter(capacity=3, group=lambda key: key[1])
    release = asyncio.Event()
    log: list[str] = []

    async def hold_pair(tenant: str, connector: str) -> None:
        async with limiter.slot((tenant, connector)):
            log.append(f"{tenant}/{connector}")
            await release.wait()

    hanging = [asyncio.ensure_future(hold_pair(t, "slow")) for t in ("a", "b", "c")]
    await settle()
    assert len(log) == 2  # the third tenant's call of the same connector waits
    other = asyncio.ensure_future(hold_pair("d", "fast"))
    await settle()
    assert log[-1] == "d/fast"
    release.set()
    await asyncio.gather(*hanging, other)
    assert limiter.in_use == 0 and not limiter.group_held
