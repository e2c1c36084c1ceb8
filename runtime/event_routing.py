"""Events from other nodes (through the store) handed to the services they concern."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import Any

from connectord.runtime.dispatch import Dispatcher
from connectord.runtime.jobs.scheduler import Scheduler
from connectord.runtime.store.events import parse_event

log = logging.getLogger(__name__)


class EventRouter:
    def __init__(
        self,
        executions: Dispatcher[Any],
        jobs: Dispatcher[Any],
        scheduler: Scheduler,
        keys_changed: Callable[[], None],
    ) -> None:
        """``keys_changed``: forget remembered principals."""
        self.executions, self.jobs, self.scheduler = executions, jobs, scheduler
        self.keys_changed = keys_changed
        self._tasks: set[asyncio.Task[None]] = set()

    def __call__(self, payload: str) -> None:
        """Route one event; runs on the event loop."""
        parsed = parse_event(payload)
        if parsed is None:
            log.debug("ignoring unknown event %r", payload)
            return
        kind, subject = parsed
        if kind == "reconnected":  # events may have been missed: look at everything again
            self.keys_changed()
            for dispatcher in (self.executions, self.jobs):
                dispatcher.wake()
                dispatcher.ends.signal_all()
            self._spawn(self.scheduler.load())
        elif kind == "execution-queued":
            self.executions.wake()
        elif kind == "job-queued":
            self.jobs.wake()
        elif kind == "keys-changed":
            self.keys_changed()
        elif subject is None:
            log.debug("ignoring event %r without an id", payload)
        elif kind == "execution-done":
            self.executions.ends.signal(subject)
        elif kind == "cancel-execution":
            self.executions.cancel_local(subject)
        elif kind == "job-done":
            self.jobs.ends.signal(subject)
        elif kind == "cancel-job":
            self.jobs.cancel_local(subject)
        elif kind == "definition":
            self._spawn(self.scheduler.refresh(subject))

    def _spawn(self, step: Coroutine[Any, Any, object]) -> None:
        task = asyncio.ensure_future(self._quietly(step))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    @staticmethod
    async def _quietly(step: Coroutine[Any, Any, object]) -> None:
        try:
            await step
        except Exception as exc:  # a missed refresh is caught up by the next load
            log.warning("cannot follow a change from another node: %s", exc)

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
