"""Requests waiting for something to end (an execution, a job), woken without polling.

``listening(key)`` is entered before the caller looks at the state, so an end between the
look and the wait is not missed; ``signal(key)`` wakes every listener of ``key``.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator


class Waiters:
    def __init__(self) -> None:
        #: Per key: its event and how many listen.
        self._events: dict[str, tuple[asyncio.Event, int]] = {}

    @contextlib.contextmanager
    def listening(self, key: str) -> Iterator[asyncio.Event]:
        event, listeners = self._events.get(key, (asyncio.Event(), 0))
        self._events[key] = (event, listeners + 1)
        try:
            yield event
        finally:
            event, listeners = self._events.get(key, (event, 1))
            if listeners <= 1:
                self._events.pop(key, None)
            else:
                self._events[key] = (event, listeners - 1)

    def waited_for(self, key: str) -> bool:
        """Whether a caller listens for ``key``'s end now (for tests and diagnostics)."""
        return key in self._events

    def signal(self, key: str) -> None:
        waiting = self._events.get(key)
        if waiting is not None:
            waiting[0].set()

    def signal_all(self) -> None:
        """Wake every listener (they look again): ends may have been missed."""
        for event, _ in self._events.values():
            event.set()
