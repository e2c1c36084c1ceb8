"""The scheduler loop: a heap of (next slot, definition) and a sleep until the earliest.

Nothing is computed while nothing is due. When slots come due, the definitions are read
back from the store, ``plan_fire`` decides, and ``Store.fire`` applies the decisions in
one transaction per batch — compare-and-set on each definition's version and slot, plus
the ledger's unique (definition, slot) key, so a slot fires once even if two schedulers
see it. ``tick(now)`` is the whole step, so tests drive it with an explicit clock.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import logging
from collections.abc import Callable

from connectord.runtime.jobs.definitions import check_spec, decode_spec
from connectord.runtime.jobs.planning import plan_fire
from connectord.runtime.store import Store
from connectord.runtime.store.records import DefinitionRecord, Fire, NewJob
from connectord.runtime.store.runner import STORE_RETRY, StoreRunner, until_available
from connectord.runtime.validation import InvalidRequestError

log = logging.getLogger(__name__)

#: Definitions fired per store transaction.
BATCH = 500
#: The loop looks at least this often (a changed clock, a missed wake-up).
MAX_SLEEP = 60.0

Entry = tuple[float, str, int]  # (slot, definition id, version)


class Scheduler:
    def __init__(
        self,
        store: Store,
        run: StoreRunner,
        clock: Callable[[], float],
        on_fired: Callable[[list[NewJob]], None] = lambda jobs: None,
    ) -> None:
        self.store, self.run, self.clock = store, run, clock
        self.on_fired = on_fired
        self._heap: list[Entry] = []
        self._wake = asyncio.Event()
        self.loaded = False

    def __len__(self) -> int:
        return len(self._heap)

    async def load(self) -> int:
        """Read every started definition's next slot from the store."""
        self._heap = await self.run(self.store.scheduled_definitions)
        heapq.heapify(self._heap)
        self.loaded = True
        self._wake.set()  # a sleeping loop looks at what was loaded
        return len(self._heap)

    def track(self, record: DefinitionRecord) -> None:
        """A definition was created, changed, started or fired: watch its next slot."""
        if record.state == "STARTED" and record.next_fire_at is not None:
            heapq.heappush(self._heap, (record.next_fire_at, record.id, record.version))
            if self._heap[0][1] == record.id:
                self._wake.set()

    async def refresh(self, definition_id: str) -> None:
        """A definition changed elsewhere (another node's API): watch its next slot."""
        for record in await self.run(self.store.definitions_by_id, [definition_id]):
            self.track(record)

    def next_due(self) -> float | None:
        return self._heap[0][0] if self._heap else None

    async def tick(self, now: float) -> list[NewJob]:
        """Fire every slot due at ``now``; the ledger rows added."""
        added: list[NewJob] = []
        while self._heap and self._heap[0][0] <= now:
            batch: dict[str, Entry] = {}
            while self._heap and self._heap[0][0] <= now and len(batch) < BATCH:
                entry = heapq.heappop(self._heap)
                batch.setdefault(entry[1], entry)
            try:
                added.extend(await self._fire(batch, now))
            except Exception:
                for entry in batch.values():  # try again on the next tick
                    heapq.heappush(self._heap, entry)
                raise
        if added:
            self.on_fired(added)
        return added

    async def _fire(self, batch: dict[str, Entry], now: float) -> list[NewJob]:
        records = await self.run(self.store.definitions_by_id, list(batch))
        fires: list[Fire] = []
        for record in records:
            slot, _, version = batch[record.id]
            if record.state != "STARTED" or record.next_fire_at is None:
                continue
            if (record.version, record.next_fire_at) != (version, slot):
                self.track(record)  # changed meanwhile: watch what it says now
                continue
            fire = self._plan(record, now)
            if fire is not None:
                fires.append(fire)
        if not fires:
            return []
        added = await self.run(self.store.fire, fires, now)
        for fire in fires:
            if fire.state == "STARTED" and fire.next_fire_at is not None:
                heapq.heappush(self._heap, (fire.next_fire_at, fire.definition_id, fire.version))
        return added

    def _plan(self, record: DefinitionRecord, now: float) -> Fire | None:
        try:
            definition = check_spec(decode_spec(record.document))
        except (InvalidRequestError, ValueError) as exc:  # stored by an older version, say
            log.error("job definition %s cannot be scheduled: %s", record.code, exc)
            return None
        plan = plan_fire(record, definition, now)
        if plan.unrecorded:
            log.warning(
                "job definition %s: %d past slots were neither run nor recorded (beyond the backlog)",
                record.code,
                plan.unrecorded,
            )
        return plan.fire

    async def run_forever(self) -> None:
        """Load, then fire slots as they come due, until cancelled."""
        if not self.loaded:
            await until_available(self.load, "load job definitions")
        while True:
            self._wake.clear()
            now = self.clock()
            due = self.next_due()
            if due is not None and due <= now:
                try:
                    await self.tick(now)
                except Exception as exc:  # the scheduler must outlive any one failure
                    log.error("cannot fire job definitions: %s; trying again in %g s", exc, STORE_RETRY)
                    await asyncio.sleep(STORE_RETRY)
                continue
            pause = MAX_SLEEP if due is None else min(MAX_SLEEP, due - now)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(pause):
                    await self._wake.wait()
