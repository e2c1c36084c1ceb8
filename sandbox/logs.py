"""The log lines of one invocation: capped and cut on arrival, then redacted, so a spamming
connector can exhaust neither the server's memory nor its CPU."""

from __future__ import annotations

import msgspec

from connectord.sandbox.bounds import MAX_NAME_CHARS, MAX_TEXT_CHARS
from connectord.sandbox.protocol import Log
from connectord.sandbox.redact import Redactor

MAX_LINES = 1000


class LogLine(msgspec.Struct, frozen=True):
    created: float
    level: str
    logger: str
    message: str


class LogCollector:
    def __init__(self, redactor: Redactor, max_lines: int = MAX_LINES) -> None:
        self.redactor = redactor
        self.max_lines = max_lines
        self.lines: list[LogLine] = []
        self.dropped = 0

    def add(self, record: Log) -> None:
        if len(self.lines) >= self.max_lines:
            self.dropped += 1
            return
        if not self.redactor.spend_on_log(min(len(record.message), MAX_TEXT_CHARS) + MAX_NAME_CHARS):
            self.dropped += 1  # searching more lines for the call's secrets would hold the server
            return
        # Cut first (the redaction's cost is the text's length), masking whole a secret the cut splits.
        message = self.redactor.bounded(record.message, MAX_TEXT_CHARS, len(record.message) + record.cut)
        logger = self.redactor.bounded(record.logger, MAX_NAME_CHARS)
        self.lines.append(LogLine(record.created, _level_name(record.level), logger, message))

    def result(self) -> list[LogLine]:
        if not self.dropped:
            return self.lines
        note = LogLine(
            self.lines[-1].created, "WARNING", "connectord", f"{self.dropped} more log lines were dropped"
        )
        return [*self.lines, note]


def _level_name(level: int) -> str:
    for threshold, name in ((40, "ERROR"), (30, "WARNING"), (20, "INFO")):
        if level >= threshold:
            return name
    return "DEBUG"
