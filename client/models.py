"""The values the clients return."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Execution:
    """A scheduled execution: its id, the URL to poll (the ``Location`` of the 202) and the
    Idempotency-Key it was scheduled with (scheduling again with it returns the same execution)."""

    id: str
    poll_url: str
    idempotency_key: str


@dataclass(frozen=True)
class Ready:
    """The execution finished; its result can be fetched (once) from ``result_url``."""

    id: str
    result_url: str


@dataclass(frozen=True)
class NotReady:
    """Queued or running; the server suggests polling again after ``retry_after`` seconds."""

    id: str
    retry_after: float | None = None


@dataclass(frozen=True)
class LogLine:
    """One line the connector logged while it ran (secrets already masked by the server);
    ``time`` is ISO 8601 in UTC, as the server writes every time."""

    time: str
    level: str
    logger: str
    message: str


@dataclass(frozen=True)
class Result:
    """A result fetched with ``logs=True``: the data and what the connector logged."""

    data: Any
    logs: list[LogLine]
