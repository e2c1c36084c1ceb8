"""Runs the store's synchronous methods on a thread of their own, so that the event loop
never waits on the disk or the database."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import queue
import threading
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar, cast

from connectord.runtime.store.dialect import Batch
from connectord.runtime.store.records import StoreSyncError, StoreUnavailableError

if TYPE_CHECKING:
    from connectord.runtime.store import Store

P = ParamSpec("P")
T = TypeVar("T")
log = logging.getLogger(__name__)
#: Seconds between attempts of a background step while the store is unavailable.
STORE_RETRY = 2.0


class StoreRunner:
    def __init__(self, threads: int = 1) -> None:
        # SQLite: one thread (one writer anyway, and the order of writes is kept);
        # PostgreSQL: one per pooled connection.
        self._executor = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="connectord-store")

    async def __call__(self, method: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, functools.partial(method, *args, **kwargs))

    def close(self) -> None:
        self._executor.shutdown(wait=True)


class CountingRunner(StoreRunner):
    """A thread per connection, for a store that counts its transactions itself."""

    def __init__(self, threads: int, transactions: Callable[[], int]) -> None:
        super().__init__(threads)
        self._transactions = transactions

    @property
    def turns(self) -> int:
        """Transactions the store ran so far (the metric, as the group commit's ``turns``)."""
        return self._transactions()


@dataclass
class _Pending:
    call: Callable[[], Any]
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[Any]
    result: Any = None
    error: BaseException | None = field(default=None)

    def attempt(self) -> None:
        self.result, self.error = None, None
        try:
            self.result = self.call()
        except BaseException as exc:  # whatever it is, it belongs to its caller
            self.error = exc

    def deliver(self) -> None:
        with contextlib.suppress(RuntimeError):  # the caller's loop is closed: nobody waits
            self.loop.call_soon_threadsafe(self._settle)

    def _settle(self) -> None:
        if self.future.cancelled():
            return  # the caller gave up; the call ran (or failed) all the same
        if self.error is not None:
            self.future.set_exception(self.error)
        else:
            self.future.set_result(self.result)


class GroupCommitRunner(StoreRunner):
    """One thread for a store with one writer (SQLite), committing together what queued up.

    While a transaction syncs the disk, further calls queue; the next turn runs all of them
    in one transaction (``batch``: each call's writes become a savepoint that fails alone)
    and syncs once. No caller hears of its write before that commit. Should anything in a
    batch find the store unavailable, the batch is rolled back whole and its calls run again
    one by one, so each gets the answer it would have had alone."""

    def __init__(self, batch: Batch, max_batch: int = 64) -> None:
        self._batch = batch
        self._max_batch = max_batch
        #: Transactions run so far: one per batch committed, one per call run alone.
        self.turns = 0
        self._queue: queue.SimpleQueue[_Pending | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._serve, name="connectord-store", daemon=True)
        self._thread.start()

    async def __call__(self, method: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._queue.put(_Pending(functools.partial(method, *args, **kwargs), loop, future))
        return await future

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join()

    def _serve(self) -> None:
        while (first := self._queue.get()) is not None:
            pending = [first]
            stop = False
            while len(pending) < self._max_batch:
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    stop = True
                    break
                pending.append(more)
            self._run(pending)
            for each in pending:
                each.deliver()
            if stop:
                return

    def _run(self, pending: list[_Pending]) -> None:
        # A lone call runs as a batch of one, too: should the sync fail, what it returned
        # (a claim, say) is known and reaches its caller with the error.
        try:
            with self._batch():
                for each in pending:
                    each.attempt()
                    if isinstance(each.error, StoreUnavailableError):
                        raise each.error
            self.turns += 1
            return
        except StoreUnavailableError as exc:
            if isinstance(exc, StoreSyncError) and all(each.error is not exc for each in pending):
                self._unconfirmed(pending, exc)
                return
            if len(pending) == 1:  # nothing was committed; alone, it would only fail again
                first = pending[0]
                first.result, first.error = None, first.error or exc
                self.turns += 1
                return
        # Nothing of the batch was committed: each call on its own.
        for each in pending:
            each.attempt()
            self.turns += 1

    def _unconfirmed(self, pending: list[_Pending], exc: StoreSyncError) -> None:
        """The batch was committed, its sync failed: made once, so not made again alone;
        each call is told, with what it made."""
        self.turns += 1
        for each in pending:
            if each.error is None:
                each.result, each.error = None, StoreSyncError(str(exc), made=(each.result,))


def store_runner(store: Store) -> StoreRunner:
    """Group commit for a store with one writer that can batch (SQLite), else a thread per
    connection the store can use at once."""
    if store.batch is not None:
        return GroupCommitRunner(store.batch)
    if store.db.transactions is not None:
        return CountingRunner(store.concurrency, store.db.transactions)
    return StoreRunner(store.concurrency)


async def despite_cancel(call: Awaitable[T], keep: Callable[[T], None]) -> T:
    """``call``'s result: a store call that commits whether or not its caller still waits.

    Should the caller be cancelled meanwhile (the node stopping, say), the call is waited
    for all the same and what it made goes to ``keep`` before the cancel goes on: a claim it
    took must reach whoever runs or gives back claims, or it stays claimed by a node that
    forgot it (until its lease ran out, or the node started again)."""
    running = asyncio.ensure_future(call)
    try:
        return await asyncio.shield(running)
    except asyncio.CancelledError:
        while not running.done():  # a second cancel (a shutdown cancelled) waits as well
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait([running])
        if running.cancelled():
            raise
        error = running.exception()
        if error is None:
            keep(running.result())
        elif isinstance(error, StoreSyncError) and error.made is not None:
            keep(error.made[0])  # made all the same
        raise


async def made(call: Awaitable[T]) -> T:
    """``call``'s result, also where the disk did not confirm its commit: made once, it
    is not made again, and what it made (a recorded outcome, a claim) must not be lost.
    For steps no client waits on; a client is told (StoreSyncError's message)."""
    try:
        return await call
    except StoreSyncError as exc:
        if exc.made is None:
            raise
        log.error("%s; going on with what was committed", exc)
        return cast(T, exc.made[0])


async def until_available(attempt: Callable[[], Awaitable[T]], what: str) -> T:
    """``attempt()``'s result, trying again every STORE_RETRY seconds while the store is
    unavailable: for background steps that must happen, not fail (``what`` names it)."""
    while True:
        try:
            return await attempt()
        except StoreUnavailableError as exc:
            log.error("cannot %s yet: %s; trying again in %g s", what, exc, STORE_RETRY)
            await asyncio.sleep(STORE_RETRY)
