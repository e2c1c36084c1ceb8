"""Runs the store's synchronous methods on a thread of their own, so that the event loop
never waits on the disk or the database."""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import ParamSpec, TypeVar

from connectord.runtime.store.records import StoreUnavailableError

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


async def until_available(attempt: Callable[[], Awaitable[T]], what: str) -> T:
    """``attempt()``'s result, trying again every STORE_RETRY seconds while the store is
    unavailable: for background steps that must happen, not fail (``what`` names it)."""
    while True:
        try:
            return await attempt()
        except StoreUnavailableError as exc:
            log.error("cannot %s yet: %s; trying again in %g s", what, exc, STORE_RETRY)
            await asyncio.sleep(STORE_RETRY)
