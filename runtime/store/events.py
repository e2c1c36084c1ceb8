"""What one node tells the others through the store (PostgreSQL: LISTEN/NOTIFY).

An event is a short text: a kind, and for most kinds the id it concerns, as
``kind:id``. The store emits the work events itself when the rows change (so no write
costs an extra round trip); ``cancel-*`` events are announced by the node that was asked,
``keys-changed`` by the process that revoked, rotated or deleted API keys.
A listener that lost its connection is told ``reconnected``: events may have been missed,
so it looks at everything again.
"""

from __future__ import annotations

from typing import Literal

EventKind = Literal[
    "execution-queued",
    "execution-done",
    "cancel-execution",
    "job-queued",
    "job-done",
    "cancel-job",
    "definition",
    "keys-changed",
    "reconnected",
]
#: The PostgreSQL channel every node listens on.
CHANNEL = "connectord"
KINDS: frozenset[str] = frozenset(EventKind.__args__)  # type: ignore[attr-defined]


def event(kind: EventKind, subject: str | None = None) -> str:
    return kind if subject is None else f"{kind}:{subject}"


def parse_event(payload: str) -> tuple[EventKind, str | None] | None:
    """``(kind, id)`` of an event, or None for one this version does not know."""
    kind, _, subject = payload.partition(":")
    if kind not in KINDS:
        return None
    return kind, subject or None  # type: ignore[return-value]
