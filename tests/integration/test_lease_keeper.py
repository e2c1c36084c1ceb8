"""The lease keeper renews what its node runs and reaps only after a whole lease of
unbroken renewals, so an outage of the store does not make live nodes take each other's
work (a real SQLite store, an explicit clock)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from connectord.runtime.cluster import Member
from connectord.runtime.leases import LeaseKeeper
from connectord.runtime.store.records import ExecutionEnd, NewExecution, StoreUnavailableError
from connectord.runtime.store.runner import StoreRunner
from connectord.runtime.store.sqlite import SQLiteStore

T0 = 1_800_000_000.0
LEASE = 3.0


class FlakyStore(SQLiteStore):
    """A real store whose renewals can be made to fail or to take time: the disk or the
    database cannot be made unavailable on cue here (root writes anywhere), so this stands
    in for it."""

    down = False
    #: Called inside a renewal: a test moves its clock there, as a renewal that waits would.
    during_renewal: Callable[[], None] = staticmethod(lambda: None)

    def renew_leases(self, node: str, lease_until: float, executions: list[str], jobs: list[str]) -> int:  # type: ignore[override]
        if self.down:
            raise StoreUnavailableError("the store is down")
        self.during_renewal()
        return super().renew_leases(node, lease_until, executions, jobs)


@dataclass
class Holder:
    """What node-a's dispatcher would be: it runs "mine", reaps with the real store, and
    notes the claims the keeper says it lost."""

    store: SQLiteStore
    run: StoreRunner
    now: list[float]
    running: dict[str, int]
    reaps: list[float] = field(default_factory=list)
    lost: list[dict[str, int]] = field(default_factory=list)

    def held(self) -> dict[str, int]:
        return dict(self.running)

    def claims_lost(self, lost: dict[str, int]) -> None:
        if lost:
            self.lost.append(lost)

    async def reap_once(self) -> None:
        self.reaps.append(self.now[0])
        crashed = ExecutionEnd(b"crashed", b"[]", self.now[0], self.now[0] + 60)
        await self.run(self.store.reap_executions, self.now[0], 3, crashed)


@dataclass
class NoJobs:
    def held(self) -> dict[str, int]:
        return {}

    def claims_lost(self, lost: dict[str, int]) -> None:
        assert not lost

    async def reap_once(self) -> None:
        return None


@dataclass
class Scene:
    """node-a runs "mine" and keeps its lease; node-b claimed "theirs" and stopped renewing."""

    store: FlakyStore
    keeper: LeaseKeeper
    holder: Holder
    tenant_id: str
    now: list[float]

    @property
    def reaps(self) -> list[float]:
        return self.holder.reaps

    def at(self, step: float) -> None:
        self.now[0] = T0 + step

    def state(self, execution_id: str) -> str:
        record = self.store.execution(self.tenant_id, execution_id)
        assert record is not None
        return record.state


@pytest.fixture
def scene(tmp_path: Path) -> Iterator[Scene]:
    store = FlakyStore(tmp_path / "s.sqlite3")
    run = StoreRunner()
    now = [T0]
    store.add_user("a@example.com", "acme", "hash", T0)
    principal = store.principal("hash")
    assert principal is not None
    for execution_id in ("mine", "theirs"):
        store.add_execution(NewExecution(execution_id, principal.tenant_id, b"call", T0))
    mine = store.claim_execution(T0, "node-a", T0 + LEASE)
    assert mine is not None
    store.claim_execution(T0, "node-b", T0 + LEASE)
    holder = Holder(store, run, now, {"mine": mine.fence})
    keeper = LeaseKeeper(store, run, lambda: now[0], Member("node-a", LEASE), holder, NoJobs())
    yield Scene(store, keeper, holder, principal.tenant_id, now)
    run.close()
    store.close()


async def test_reaping_waits_for_a_whole_lease_of_unbroken_renewals(scene: Scene) -> None:
    for step in (0.0, 1.0, 2.0):
        scene.at(step)
        assert not await scene.keeper.once()  # renewing, not yet a whole lease
    scene.store.down = True
    scene.at(4.0)
    with pytest.raises(StoreUnavailableError):  # the store is gone for a while
        await scene.keeper.once()
    assert scene.keeper.renewing_since is None
    scene.store.down = False
    for step in (5.0, 6.0, 7.0):
        scene.at(step)
        assert not await scene.keeper.once()  # back, but node-b gets a whole lease to renew too
    scene.at(8.0)
    assert await scene.keeper.once()
    assert scene.reaps == [T0 + 8.0]
    assert scene.state("mine") == "running"  # renewed: still ours
    assert scene.state("theirs") == "queued"  # taken back from node-b


async def test_a_renewal_that_waited_for_the_store_does_not_count_as_unbroken(scene: Scene) -> None:
    for step in (0.0, 1.0, 2.0):
        scene.at(step)
        assert not await scene.keeper.once()
    scene.at(3.0)
    # This renewal waited 2.5 s for the store (a pool that had no connection, a server
    # restarting): node-b may have been unable to renew meanwhile too.
    scene.store.during_renewal = lambda: scene.at(5.5)
    assert not await scene.keeper.once()
    assert scene.keeper.renewing_since == T0 + 5.5
    scene.store.during_renewal = lambda: None
    for step in (6.5, 7.5):
        scene.at(step)
        assert not await scene.keeper.once()
    assert scene.state("theirs") == "running"
    scene.at(8.5)
    assert await scene.keeper.once()
    assert scene.reaps == [T0 + 8.5] and scene.state("theirs") == "queued"


async def test_a_claim_the_renewal_no_longer_finds_is_reported_lost(scene: Scene) -> None:
    assert not await scene.keeper.once()
    assert scene.holder.lost == []
    fence = scene.holder.running["mine"]
    # cancelled through another node, whose event never reached this one
    assert scene.store.cancel_execution(
        scene.tenant_id, "mine", ExecutionEnd(b"cancelled", b"[]", T0, T0 + 60)
    )
    scene.at(1.0)
    assert not await scene.keeper.once()
    assert scene.holder.lost == [{"mine": fence}]
