"""The claim loop, written once for executions and jobs: claim what is due, give it a slot,
hold its lease while it runs, stop it when cancelled, give it back when the node stops,
purge what is old.

What is claimed, how it runs and how its outcome is recorded is the :class:`Work`'s; when
and how many run, and the claims' fences and cancellation, are the :class:`Dispatcher`'s.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

from connectord.runtime.cluster import Member, forget_claim, forget_task
from connectord.runtime.store.records import Reaped, StoreUnavailableError
from connectord.runtime.store.runner import STORE_RETRY, despite_cancel, until_available
from connectord.runtime.waiters import Waiters
from connectord.sandbox.logs import LogLine
from connectord.sandbox.outcomes import Cancelled, Outcome

log = logging.getLogger(__name__)

C = TypeVar("C")
Result = tuple[Outcome, list[LogLine]]
#: Longest a dispatcher waits for a wake-up before it looks again on its own.
IDLE_LOOK = 5.0


class Work(Protocol[C]):
    """What one dispatcher claims and runs (``C``: a claim as the store returns it)."""

    #: What it is, in log lines: ``execution``, ``job``.
    noun: str
    #: Seconds between purges of old rows.
    purge_every: float
    #: Whether a claim's end may let another one run (a job of a ``queue`` definition).
    wake_when_done: bool
    #: What became of a claim a lost node held once it is not run again, in log lines.
    lost_for_good: str
    #: Most claims one claim takes (one transaction): as many as slots are free, up to this.
    claim_batch: int

    def identify(self, claimed: C) -> tuple[str, int]:
        """The claim's id and fence."""
        ...

    async def requeue_interrupted(self) -> int:
        """On a store of one node, put back what was running when it stopped (elsewhere
        its lease runs out instead); how many."""
        ...

    async def claim(self, now: float, member: Member, limit: int) -> list[C]:
        """Claim up to ``limit`` due items for ``member``, under a lease, in one
        transaction; fewer than ``limit`` (none) when no more are due."""
        ...

    async def idle_for(self, now: float) -> float:
        """Seconds to wait for a wake-up after nothing could be claimed at ``now``."""
        ...

    async def execute(
        self, claimed: C, invoke: Callable[[], Awaitable[Result]], handover: Handover[C]
    ) -> None:
        """Run the claim and record its outcome. ``invoke`` runs it in the sandbox under
        the dispatcher's cancel handling: a cancel asked for gives ``Cancelled``, a failure
        of connectord itself :meth:`failure`. The work may claim the next due item for the
        slot this one leaves in the transaction that records it (see :class:`Handover`)."""
        ...

    async def invoke(self, claimed: C) -> Result:
        """Run the claim in the sandbox: its outcome and what its connector logged."""
        ...

    def failure(self) -> Outcome:
        """The outcome of a claim connectord itself failed to run."""
        ...

    async def reap(self) -> Reaped:
        """Take back the claims of nodes that stopped renewing their leases: they run
        again, or end for good."""
        ...

    async def release(self, member: Member, ids: list[str]) -> int:
        """Give back this node's claims of ``ids`` to run again at once; how many."""
        ...

    async def purge(self) -> int:
        """Delete what is old enough to forget; how many."""
        ...


@dataclass(frozen=True)
class Handover(Generic[C]):
    """The slot a running claim leaves, offered to the next queued item as its outcome is
    recorded. ``claimant()``, asked then, is the member to claim it for, or None (nothing
    is known to be queued, or the node is closing); what the work claimed goes to
    ``take`` as soon as the store answers, also while the work's task is being cancelled
    (the store call commits all the same): it runs in that slot, or is given back."""

    claimant: Callable[[], Member | None]
    take: Callable[[list[C]], None]


class Dispatcher(Generic[C]):
    """Runs up to ``max_running`` claims of one :class:`Work` at once."""

    def __init__(
        self,
        work: Work[C],
        member: Member,
        clock: Callable[[], float],
        cancel_running: Callable[[str], bool],
        max_running: int,
        ends: Waiters,
    ) -> None:
        """``cancel_running(id)``: kill the claim's worker if the sandbox runs it (else it
        is waiting for a slot or its worker, and its task is cancelled). ``ends``: the
        requests waiting for claims to end (the work signals what it records)."""
        self.work, self.member, self.clock, self.ends = work, member, clock, ends
        self._cancel_running = cancel_running
        self._wakeup = asyncio.Event()
        self._slots = asyncio.Semaphore(max_running)
        #: Each claim's task by its id; a claim taken back and claimed again replaces its
        #: winding-down task here, not in ``_running``.
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._running: set[asyncio.Task[None]] = set()
        #: Claims this node runs and has not recorded, with their fences: the leases it renews.
        self._held: dict[str, int] = {}
        #: Claims in the sandbox (or waiting for it): only these can be cancelled, not one
        #: whose outcome is being recorded.
        self._invoking: set[str] = set()
        self._cancel_requested: set[str] = set()
        self._closing = False
        #: Slots reserved for work being added, not yet started or unreserved: close()
        #: waits for them, so that what they claim is run, then given back, not forgotten.
        self._reserved = 0
        self._none_reserved = asyncio.Event()
        self._none_reserved.set()
        #: The last claim took fewer than it asked for and nothing woke us since: nothing
        #: is queued, as far as this node knows (see ``reserve``).
        self._drained = False

    def wake(self) -> None:
        """Work was added (here or on another node), or may run now: claim now."""
        self._drained = False
        self._wakeup.set()

    async def reserve(self) -> bool:
        """Take a free slot for work about to be added claimed by this node (its claim in
        the transaction that adds it): only when a slot is free and nothing is queued, so
        it jumps no queue; the caller then gives it to :meth:`start` or :meth:`unreserve`."""
        if self._closing or not self._drained or self._wakeup.is_set() or self._slots.locked():
            return False
        await self._slots.acquire()  # free: taken at once
        self._reserved += 1
        self._none_reserved.clear()
        return True

    def unreserve(self) -> None:
        self._settle_reservation()
        self._slots.release()

    def start(self, claimed: C) -> None:
        """Run ``claimed``, claimed in a slot taken by :meth:`reserve`."""
        self._settle_reservation()
        self._start(claimed)

    def _settle_reservation(self) -> None:
        self._reserved -= 1
        if not self._reserved:
            self._none_reserved.set()

    def held(self) -> dict[str, int]:
        """The claims this node runs (claimed, not yet recorded), with their fences."""
        return dict(self._held)

    def cancel_local(self, key: str) -> bool:
        """Stop the claim ``key`` if this node runs it; False if it does not."""
        task = self._tasks.get(key)
        if task is None or key not in self._invoking:
            return False
        self._cancel_requested.add(key)
        if not self._cancel_running(key):
            task.cancel()
        return True

    def claims_lost(self, lost: dict[str, int]) -> None:
        """These claims (id: fence) are no longer this node's (cancelled through another
        node, or taken back after its lease ran out): stop running them."""
        for key, fence in lost.items():
            if self._held.get(key) == fence and self.cancel_local(key):
                log.warning("%s %s: no longer this node's claim; stopped", self.work.noun, key)

    async def forever(self) -> None:
        """Claim and run until cancelled. Woken by :meth:`wake`; also looks every few
        seconds, so work added by another process is not left waiting."""
        noun = self.work.noun
        requeued = await until_available(self.work.requeue_interrupted, f"requeue interrupted {noun}s")
        if requeued:
            log.warning("%d %ss were running when connectord stopped; they run again", requeued, noun)
        while True:
            await self._slots.acquire()
            free = 1  # and as many more as are free now: one claim for all of them
            while free < self.work.claim_batch and not self._slots.locked():
                await self._slots.acquire()
                free += 1
            self._wakeup.clear()  # before the claim, so work committed after it wakes us
            self._drained = False
            try:
                now = self.clock()
                # Cancelled (the node closing), what it claimed is held: close() gives it back.
                claimed = await despite_cancel(self.work.claim(now, self.member, free), self._hold)
                drained = len(claimed) < free
                pause = await self.work.idle_for(now) if drained else None
            except Exception as exc:  # the dispatcher must outlive any one failure
                for _ in range(free):
                    self._slots.release()
                log.error("cannot claim %ss: %s; trying again in %g s", noun, exc, STORE_RETRY)
                await asyncio.sleep(STORE_RETRY)
                continue
            for each in claimed:
                self._start(each)
            for _ in range(free - len(claimed)):
                self._slots.release()
            if pause is not None:
                # Fewer than asked: nothing more is due. Claiming again now would only find
                # nothing (a transaction for nothing); wait for a wake-up instead.
                self._drained = not self._wakeup.is_set()
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(pause):
                        await self._wakeup.wait()
                self._drained = False

    def _hold(self, claimed: list[C]) -> None:
        self._held.update(self.work.identify(each) for each in claimed)

    def _start(self, claimed: C, context: contextvars.Context | None = None) -> None:
        key, fence = self.work.identify(claimed)
        self._held[key] = fence
        task = asyncio.get_running_loop().create_task(self._run(claimed, key, fence), context=context)
        self._tasks[key] = task
        self._running.add(task)
        task.add_done_callback(self._running.discard)
        task.add_done_callback(lambda done: forget_task(self._tasks, key, done))

    async def _run(self, claimed: C, key: str, fence: int) -> None:
        taken: list[C] = []

        def take(successors: list[C]) -> None:
            self._hold(successors)  # renewed
            taken.extend(successors)

        try:
            await self.work.execute(
                claimed, lambda: self._invoke(claimed, key), Handover(self._successor_for, take)
            )
        finally:
            if not self._closing:  # recorded, or failed for good: its lease may run out
                forget_claim(self._held, key, fence)
            if taken and not self._closing:
                # In this slot, in a context of its own: not this one's log ids.
                self._start(taken[0], contextvars.Context())
            else:
                self._slots.release()  # what was taken stays held: close() gives it back
            if self.work.wake_when_done:
                self._wakeup.set()

    def _successor_for(self) -> Member | None:
        """Who the next queued item is claimed for as a claim is recorded: this node,
        unless it is closing or knows nothing is queued (its last claim found less than it
        asked for and nothing was added since). Under load, then, a finished claim's slot
        passes to the next without a claim of its own: one transaction less each."""
        return None if self._closing or self._drained else self.member

    async def _invoke(self, claimed: C, key: str) -> Result:
        self._invoking.add(key)
        try:
            return await self.work.invoke(claimed)
        except asyncio.CancelledError:
            if key not in self._cancel_requested:
                raise  # shutting down: close() gives it back
            return Cancelled(), []
        except Exception:
            log.exception("%s %s failed in connectord itself", self.work.noun, key)
            return self.work.failure(), []
        finally:
            self._invoking.discard(key)
            self._cancel_requested.discard(key)

    async def reap_once(self) -> Reaped:
        """Take back the claims of lost nodes; claim at once what runs again."""
        reaped = await self.work.reap()
        noun = self.work.noun
        if reaped.requeued:
            log.warning("%d %ss of lost nodes run again", reaped.requeued, noun)
            self.wake()
        for key in reaped.ended:
            log.error("%s %s: %s", noun, key, self.work.lost_for_good)
            self.ends.signal(key)
        return reaped

    async def purge_once(self) -> int:
        return await self.work.purge()

    async def purge_forever(self) -> None:
        """Purge in the background; the store runs it on its own thread, so requests are
        never held up by it."""
        while True:
            await asyncio.sleep(self.work.purge_every)
            try:
                deleted = await self.purge_once()
            except StoreUnavailableError as exc:
                log.warning("purging old %ss failed, will try again: %s", self.work.noun, exc)
                continue
            if deleted:
                log.info("purged %d old %ss", deleted, self.work.noun)

    async def close(self) -> None:
        """Stop running: what runs now is given back to run again at once, by this node
        after a restart or by another node now."""
        self._closing = True  # what runs now is given back, not forgotten
        await self._none_reserved.wait()  # work being added claimed: started, then given back
        tasks = list(self._running)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if not self._held:
            return
        try:
            released = await self.work.release(self.member, list(self._held))
        except StoreUnavailableError as exc:  # their leases run out instead
            log.warning("cannot give back running %ss: %s", self.work.noun, exc)
        else:
            log.info("gave back %d running %ss", released, self.work.noun)
        self._held.clear()
