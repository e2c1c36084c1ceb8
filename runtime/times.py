"""How our own answers write a time: ISO 8601 in UTC with its offset, to the millisecond
(``2026-12-07T01:30:00.000+00:00``), as seed 003's job answers do."""

from __future__ import annotations

import datetime as dt


def iso_utc(instant: float | None) -> str | None:
    """ISO 8601 in UTC with an offset, to the millisecond; ``None`` stays ``None``."""
    if instant is None:
        return None
    return dt.datetime.fromtimestamp(instant, dt.UTC).isoformat(timespec="milliseconds")
