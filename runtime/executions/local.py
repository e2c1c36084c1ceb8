"""What a node knows of executions without asking the store: those it runs, and those it
finished whose result no poll through it has announced yet. A long poll for an execution
this node runs then costs no store call at all (it waits for this node to record the end,
not for the store's event of it, which may come first), and neither does a poll of a
result it finished.

Only what this node itself committed is kept, so on one node (SQLite) it is never stale.
On a cluster a result read through another node is not known here: a poll through this
node may answer 303 for it once, and the result then answers 404 as the poll would have.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from typing import Literal

from connectord.runtime.store.records import ClaimedExecution

#: Finished executions remembered at most (the oldest are forgotten: the store answers).
KEEP = 4096
Known = Literal["not_ready", "ready", "expired"]


class LocalExecutions:
    def __init__(self, keep: int = KEEP) -> None:
        self._keep = keep
        #: Claimed here and not yet recorded: id -> (tenant, set when it no longer runs here).
        self._running: dict[str, tuple[str, asyncio.Event]] = {}
        #: Recorded here, not yet announced by a poll here: id -> (tenant, expires_at).
        self._finished: OrderedDict[str, tuple[str, float]] = OrderedDict()

    def claimed(self, claimed: ClaimedExecution) -> None:
        self._running[claimed.id] = (claimed.tenant_id, asyncio.Event())

    def recorded(self, execution_id: str, expires_at: float) -> None:
        """Its outcome is committed."""
        running = self._running.pop(execution_id, None)
        if running is None:
            return
        self._finished[execution_id] = (running[0], expires_at)
        while len(self._finished) > self._keep:
            self._finished.popitem(last=False)
        running[1].set()

    def dropped(self, execution_id: str) -> None:
        """No longer run here (recorded, given back, or its claim lost)."""
        running = self._running.pop(execution_id, None)
        if running is not None:
            running[1].set()  # whoever waits asks the store

    def end_of(self, tenant_id: str, execution_id: str) -> asyncio.Event | None:
        """Set when the execution, run here, is recorded or no longer run here; None when
        it is not run here (the store's events tell)."""
        running = self._running.get(execution_id)
        return running[1] if running is not None and running[0] == tenant_id else None

    def forget(self, execution_id: str) -> None:
        """Its result was asked for here: from now on the store answers."""
        self._finished.pop(execution_id, None)

    def state(self, tenant_id: str, execution_id: str, now: float) -> Known | None:
        """Where the execution is, if this node knows (None: ask the store). A finished
        one is answered once: a later poll asks the store."""
        if self.end_of(tenant_id, execution_id) is not None:
            return "not_ready"
        finished = self._finished.get(execution_id)
        if finished is None or finished[0] != tenant_id:
            return None
        del self._finished[execution_id]
        return "ready" if finished[1] > now else "expired"
