"""Every invocation of connector code ends in exactly one of these outcomes.

They are data, not exceptions: they cross process boundaries as msgspec frames and are
stored as they are. A failure of the connector is never confused with a negative answer
(``verify_credentials`` returning ``verified: false`` is a ``Succeeded``).
"""

from __future__ import annotations

from typing import Any

import msgspec


class Succeeded(msgspec.Struct, tag="succeeded", forbid_unknown_fields=True):
    data: Any


class Rejected(msgspec.Struct, tag="rejected", forbid_unknown_fields=True, omit_defaults=True):
    """The connector raised or returned something invalid; secrets are already redacted."""

    error_type: str
    message: str
    field: str | None = None
    #: The connector's traceback, carried only when the caller asked for it (``debug``):
    #: local development (``connectord call --debug``, the pytest plugin), never the API.
    traceback: str | None = None


class TimedOut(msgspec.Struct, tag="timed_out", forbid_unknown_fields=True):
    seconds: float


class MemoryExceeded(msgspec.Struct, tag="memory_exceeded", forbid_unknown_fields=True):
    limit_bytes: int


class Crashed(msgspec.Struct, tag="crashed", forbid_unknown_fields=True, omit_defaults=True):
    exit_code: int | None = None
    signal: int | None = None


class Cancelled(msgspec.Struct, tag="cancelled", forbid_unknown_fields=True):
    pass


Outcome = Succeeded | Rejected | TimedOut | MemoryExceeded | Crashed | Cancelled
