"""A bounded number of concurrent invocations, handed out fairly.

Waiters queue per key (tenant, connector); a freed slot goes to the next key in turn, so a
connector with a hundred calls queued delays another connector's call by at most one turn.
One key may hold at most ``per_key`` slots, so a connector whose calls all hang until their
deadline still leaves slots for the others.
"""

from __future__ import annotations

import asyncio
from collections import Counter, OrderedDict, deque
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
H = TypeVar("H", bound=Hashable)


class FairLimiter(Generic[K]):
    """Slots for keys of type ``K``; ``group`` maps a key to the group it counts against."""

    def __init__(
        self,
        capacity: int,
        per_key: int | None = None,
        group: Callable[[K], Hashable] = lambda key: key,
    ) -> None:
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self.capacity = capacity
        self.per_key = min(per_key or max(1, capacity - 1), capacity)
        self.group = group
        self.held: Counter[K] = Counter()
        self.group_held: Counter[Hashable] = Counter()
        self._waiting: OrderedDict[K, deque[asyncio.Future[None]]] = OrderedDict()

    @property
    def in_use(self) -> int:
        return self.held.total()

    @property
    def queued(self) -> int:
        return sum(len(q) for q in self._waiting.values())

    def slot(self, key: K) -> _Slot[K]:
        """A slot for ``key`` while in ``async with``."""
        return _Slot(self, key)

    def _can_take(self, key: K) -> bool:
        return self.in_use < self.capacity and self._below_limits(key)

    def _below_limits(self, key: K) -> bool:
        return self.held[key] < self.per_key and self.group_held[self.group(key)] < self.per_key

    async def _acquire(self, key: K) -> None:
        if key not in self._waiting and self._can_take(key) and not self._others_waiting_first():
            self._take(key)
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting.setdefault(key, deque()).append(waiter)
        try:
            await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self._release(key)  # the slot was handed to us as we were cancelled: pass it on
            else:
                self._forget(key, waiter)
            raise

    def _others_waiting_first(self) -> bool:
        """Whether a waiting key could use a free slot now (it goes before a newcomer)."""
        return any(self._below_limits(k) for k in self._waiting)

    def _take(self, key: K) -> None:
        self.held[key] += 1
        self.group_held[self.group(key)] += 1

    def _release(self, key: K) -> None:
        _decrement(self.held, key)
        _decrement(self.group_held, self.group(key))
        self._hand_over()

    def _hand_over(self) -> None:
        """Give free slots to waiting keys in turn, skipping keys at their own limit."""
        granted = True
        while granted and self.in_use < self.capacity:
            granted = False
            for key in list(self._waiting):
                if self.in_use >= self.capacity:
                    return
                if self._below_limits(key) and self._grant(key):
                    granted = True

    def _grant(self, key: K) -> bool:
        queue = self._waiting.pop(key)
        while queue:
            waiter = queue.popleft()
            if not waiter.done():
                self._take(key)
                waiter.set_result(None)
                if queue:
                    self._waiting[key] = queue  # to the back of the rotation
                return True
        return False

    def _forget(self, key: K, waiter: asyncio.Future[None]) -> None:
        queue = self._waiting.get(key)
        if queue is not None and waiter in queue:
            queue.remove(waiter)
            if not queue:
                del self._waiting[key]


class _Slot(Generic[K]):
    # A class, not an asynccontextmanager: taken for every call, where a generator's
    # machinery cost as much as the taking.
    __slots__ = ("_key", "_limiter")

    def __init__(self, limiter: FairLimiter[K], key: K) -> None:
        self._limiter = limiter
        self._key = key

    async def __aenter__(self) -> None:
        await self._limiter._acquire(self._key)

    async def __aexit__(self, *_: object) -> None:
        self._limiter._release(self._key)


def _decrement(counter: Counter[H], name: H) -> None:
    counter[name] -= 1
    if counter[name] <= 0:
        del counter[name]
