"""A clock that agrees with the store's: this machine's clock plus the offset to the
database's, measured now and then, so nodes with skewed clocks still agree on what is due
(and each reads time without a round trip)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from connectord.runtime.store import Store
from connectord.runtime.store.runner import StoreRunner

log = logging.getLogger(__name__)

#: Seconds between two measurements of the offset.
SYNC_EVERY = 60.0
#: A measurement whose round trip took longer than this says little; it is not used.
MAX_ROUND_TRIP = 0.5


class DatabaseClock:
    def __init__(self, local: Callable[[], float] = time.time) -> None:
        self.local = local
        #: Seconds to add to the local clock to read the database's.
        self.offset = 0.0

    def __call__(self) -> float:
        return self.local() + self.offset

    def sync(self, store: Store) -> bool:
        """Measure the offset (blocking; call it on the store's thread). True if used."""
        before = self.local()
        database = store.database_time()
        after = self.local()
        if after - before > MAX_ROUND_TRIP:
            return False
        # the database read its clock somewhere in the round trip: take the middle
        self.offset = database - (before + after) / 2
        return True

    async def sync_forever(self, store: Store, run: StoreRunner, every: float = SYNC_EVERY) -> None:
        while True:
            try:
                if await run(self.sync, store) and abs(self.offset) > 1.0:
                    log.warning("this clock is %+.3f s off the store's; using the store's", -self.offset)
            except Exception as exc:  # keep the last offset; must outlive any one failure
                log.warning("cannot read the store's clock: %s", exc)
            await asyncio.sleep(every)
