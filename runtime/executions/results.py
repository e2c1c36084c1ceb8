"""How a stored outcome is answered: the data of a success, or seed 001's rejection reason."""

from __future__ import annotations

from typing import Any

import msgspec

from connectord.sandbox.logs import LogLine
from connectord.sandbox.outcomes import (
    Cancelled,
    Crashed,
    MemoryExceeded,
    Outcome,
    Rejected,
    Succeeded,
    TimedOut,
)

_outcome_decoder = msgspec.msgpack.Decoder(Outcome)
_logs_decoder = msgspec.msgpack.Decoder(list[LogLine])


def encode_outcome(outcome: Outcome) -> bytes:
    return msgspec.msgpack.encode(outcome)


def decode_outcome(data: bytes) -> Outcome:
    return _outcome_decoder.decode(data)


def encode_logs(lines: list[LogLine]) -> bytes:
    return msgspec.msgpack.encode(lines)


def decode_logs(data: bytes) -> list[LogLine]:
    return _logs_decoder.decode(data)


def outcome_kind(outcome: Outcome) -> str:
    """The outcome's kind, as listings and metrics name it (``succeeded``, ``rejected``,
    ``timed_out``, ``memory_exceeded``, ``crashed``, ``cancelled``)."""
    return _KINDS[type(outcome)]


_KINDS: dict[type, str] = {
    Succeeded: "succeeded",
    Rejected: "rejected",
    TimedOut: "timed_out",
    MemoryExceeded: "memory_exceeded",
    Crashed: "crashed",
    Cancelled: "cancelled",
}


def rejection_reason(outcome: Outcome, subject: str = "execution") -> dict[str, Any]:
    """What went wrong, in words for the caller; never a traceback, never a secret (the
    messages were redacted before they were stored). ``subject`` names what was cancelled."""
    match outcome:
        case Rejected(error_type=error_type, message=message, field=field):
            reason: dict[str, Any] = {"kind": "rejected", "error_type": error_type, "message": message}
            if field is not None:
                reason["field"] = field
            return reason
        case TimedOut(seconds=seconds):
            return {"kind": "timed_out", "message": f"the call did not finish within {seconds:g} s"}
        case MemoryExceeded(limit_bytes=limit):
            return {"kind": "memory_exceeded", "message": f"the call used more than {limit} bytes of memory"}
        case Crashed(exit_code=code, signal=sig):
            how = f"signal {sig}" if sig is not None else f"exit code {code}"
            return {"kind": "crashed", "message": f"the connector's worker ended unexpectedly ({how})"}
        case Cancelled():
            return {"kind": "cancelled", "message": f"the {subject} was cancelled"}
        case Succeeded():
            raise ValueError("a success has no rejection reason")
    raise AssertionError(f"unknown outcome {outcome!r}")
