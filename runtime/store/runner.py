"""Runs the store's synchronous methods on a thread of their own, so that the event loop
never waits on the disk or the database."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
T = TypeVar("T")


class StoreRunner:
    def __init__(self) -> None:
        # One thread: SQLite has one writer anyway, and the order of writes is kept.
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="connectord-store")

    async def __call__(self, method: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, functools.partial(method, *args, **kwargs))

    def close(self) -> None:
        self._executor.shutdown(wait=True)
