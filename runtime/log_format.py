"""How ``connectord serve`` writes its log: one event per line, as text or JSON, with the
ids of log_context.py and the fields an event names in ``extra``.

Nothing here redacts: the server never logs a credential, a param or a result (connector
log lines are redacted by the sandbox and kept with their execution or job, not written
here), and messages say what happened with ids and kinds, not with values."""

from __future__ import annotations

import functools
import logging
import sys
import time
from typing import Any

import msgspec

from connectord.runtime import log_context

#: Attributes every LogRecord has: anything else on a record came from ``extra``.
_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


def fields(record: logging.LogRecord) -> dict[str, Any]:
    """The ids in context when the line was logged, then the event's own fields."""
    found: dict[str, Any] = log_context.current()
    for key, value in vars(record).items():
        if key not in _STANDARD and not key.startswith("_"):
            found[key] = value
    return found


class JsonFormatter(logging.Formatter):
    """``{"time", "level", "logger", "message", ids..., fields..., "exception"}`` per line
    (msgspec encodes it: twice as fast as the json module; anything it cannot encode is
    written as its ``str``)."""

    def format(self, record: logging.LogRecord) -> str:
        seconds = int(record.created)
        line: dict[str, Any] = {
            "time": f"{_utc_second(seconds, 'T')}.{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        line.update(fields(record))
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return _encoder.encode(line).decode()


class TextFormatter(logging.Formatter):
    """The classic line (UTC), followed by ``key=value`` for the ids and fields."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        """As logging's own (``2026-12-07 09:41:05,123``), in UTC, the second formatted once."""
        return f"{_utc_second(int(record.created), ' ')},{int(record.msecs):03d}"

    def formatMessage(self, record: logging.LogRecord) -> str:
        # One event per line: a message that carries text from elsewhere (a connector's load
        # failure quotes what its import raised) could otherwise forge lines after its own.
        if not record.message.isprintable():
            record.message = record.message.translate(_ESCAPES)
        return super().formatMessage(record)

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        extra = " ".join(f"{key}={value}" for key, value in fields(record).items())
        if not extra:
            return text
        first, newline, rest = text.partition("\n")  # a traceback stays below its line
        return f"{first} {extra}{newline}{rest}"


_encoder = msgspec.json.Encoder(enc_hook=str)
#: What a text line shows of a control character (C0, DEL, C1) or line separator.
_ESCAPES = {
    **{code: f"\\x{code:02x}" for code in (*range(0x20), *range(0x7F, 0xA0))},
    0x2028: "\\u2028",
    0x2029: "\\u2029",
    ord("\n"): "\\n",
    ord("\r"): "\\r",
    ord("\t"): "\\t",
}


@functools.lru_cache(maxsize=4)
def _utc_second(seconds: int, separator: str) -> str:
    """The ISO 8601 second (lines come many to a second: formatted once)."""
    return time.strftime(f"%Y-%m-%d{separator}%H:%M:%S", time.gmtime(seconds))


def configure_logging(level: str, log_format: str) -> None:
    """Send every log line to standard error in ``log_format`` (text or json)."""
    # No line shows the source line, thread or process that logged it: not looking them up
    # (the logging HOWTO's "Optimization") and the second formatted once made a text line
    # 26 → 18 µs here, a JSON line 18.5 → 14.5 µs.
    logging._srcfile = None
    logging.logThreads = logging.logProcesses = logging.logMultiprocessing = False
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if log_format == "json" else TextFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
