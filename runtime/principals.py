"""Who holds an API key, remembered for a few seconds: every request names its key, and
asking the store each time was a third of its transactions per execution.

Entries are keyed by the hash of the presented key (the key itself is neither kept nor
logged) and only keys that verified are remembered, so a wrong key costs a look-up every
time and never fills the cache. A key revoked, rotated or deleted stops working at once
through this process (the store counts such changes) and through every node of a
PostgreSQL store (the change is announced); revoked by another process on a SQLite store
(``connectord users revoke`` beside a running server), within ``ttl`` seconds.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable

from connectord.runtime.store import Store
from connectord.runtime.store.records import Principal
from connectord.runtime.store.runner import StoreRunner

#: Keys remembered at most (the least recently used are forgotten first).
KEEP = 1024


class Principals:
    def __init__(
        self,
        store: Store,
        run: StoreRunner,
        ttl: float,
        clock: Callable[[], float] = time.monotonic,
        keep: int = KEEP,
    ) -> None:
        self.store, self.run, self.ttl, self.clock, self._keep = store, run, ttl, clock, keep
        #: key hash -> (principal, remembered until, the store's key changes then)
        self._known: OrderedDict[str, tuple[Principal, float, int]] = OrderedDict()

    async def __call__(self, key_hash: str) -> Principal | None:
        """Who holds the active key whose hash is ``key_hash``; None for no such key."""
        now, changes = self.clock(), self.store.key_changes
        known = self._known.get(key_hash)
        if known is not None and known[1] > now and known[2] == changes:
            self._known.move_to_end(key_hash)
            return known[0]
        self._known.pop(key_hash, None)
        principal = await self.run(self.store.principal, key_hash)
        if principal is not None and self.ttl > 0:
            self._known[key_hash] = (principal, now + self.ttl, changes)
            while len(self._known) > self._keep:
                self._known.popitem(last=False)
        return principal

    def forget_all(self) -> None:
        """Keys changed elsewhere (another node), or changes may have been missed."""
        self._known.clear()
