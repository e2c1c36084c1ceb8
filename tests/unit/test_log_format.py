"""The server's log lines: what each format writes, to the millisecond, in UTC."""

from __future__ import annotations

import json
import logging
import sys

from connectord.runtime import log_context
from connectord.runtime.log_format import JsonFormatter, TextFormatter

#: 2026-12-07 09:41:05.123 UTC
CREATED = 1_796_636_465.123


def record(message: str = "execution %s started", *args: object, **extra: object) -> logging.LogRecord:
    made = logging.getLogger("connectord.test").makeRecord(
        "connectord.test", logging.INFO, "", 0, message, args or ("e1",), None, extra=extra
    )
    made.created, made.msecs = CREATED, 123.0
    return made


def test_a_text_line_is_the_classic_line_in_utc_then_the_ids_and_fields() -> None:
    with log_context.bound(request_id="r1", tenant="acme"):
        line = TextFormatter().format(record(event="execution.started", kind="verifyCredentials"))
    assert line == (
        "2026-12-07 09:41:05,123 INFO connectord.test: execution e1 started"
        " request_id=r1 tenant=acme event=execution.started kind=verifyCredentials"
    )


def test_a_json_line_carries_the_same_in_named_fields() -> None:
    with log_context.bound(execution_id="e1"):
        line = json.loads(JsonFormatter().format(record(event="execution.started")))
    assert line == {
        "time": "2026-12-07T09:41:05.123Z",
        "level": "INFO",
        "logger": "connectord.test",
        "message": "execution e1 started",
        "execution_id": "e1",
        "event": "execution.started",
    }


def test_a_traceback_stays_below_its_line_and_the_fields_on_it() -> None:
    try:
        raise ValueError("boom")
    except ValueError:
        failed = record(event="x")
        failed.exc_info = sys.exc_info()
    first, *rest = TextFormatter().format(failed).splitlines()
    assert first.endswith("execution e1 started event=x")
    assert rest[0] == "Traceback (most recent call last):" and rest[-1] == "ValueError: boom"


def test_a_text_line_is_one_event_whatever_its_message_carries() -> None:
    """A connector's load failure quotes what its import raised: a newline there forged a
    line of the server's own, and an escape sequence recoloured the operator's terminal."""
    quoted = "boom\n2026-12-07 00:00:00,000 ERROR connectord: forged\x1b[31m\u2028tab\there é"
    record = logging.LogRecord("connectord", logging.ERROR, "", 0, "not loaded: %s", (quoted,), None)
    line = TextFormatter().format(record)
    assert "\n" not in line and "\x1b" not in line and "\u2028" not in line
    shown = "boom\\n2026-12-07 00:00:00,000 ERROR connectord: forged\\x1b[31m\\u2028tab\\there é"
    assert line.endswith(f"not loaded: {shown}")
