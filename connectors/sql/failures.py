"""Why a connection failed, in words a person can act on, classified for ``not_verified``.

psycopg 3 reports failures of the connection phase (bad password, unknown role or
database, refused, unresolvable host, timeout) as ``OperationalError`` with
``sqlstate=None``: libpq does not expose the server's SQLSTATE before a session exists.
So the SQLSTATE is used when there is one, and otherwise the libpq/server message is read.
"""

from __future__ import annotations

import re
from typing import Literal

from connectord.plugins.types import FailureKind

Reason = Literal[
    "bad_password", "no_password", "unknown_role", "rejected", "unknown_database",
    "too_many", "not_ready", "timeout", "refused", "unknown_host", "unreachable", "other",
]


class ConnectFailure(Exception):
    """The credentials did not lead to an open database; ``kind`` and ``field`` as in
    :func:`connectord.not_verified`. The message never contains a password."""

    def __init__(self, kind: FailureKind, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.kind: FailureKind = kind
        self.field = field


_BY_SQLSTATE: dict[str, Reason] = {
    "28P01": "bad_password",
    "28000": "rejected",
    "3D000": "unknown_database",
    "53300": "too_many",
    "57P03": "not_ready",
}
# Most specific first: with several addresses tried, one may refuse while another says
# the database is missing, and the missing database is what the user must fix.
_MESSAGES: tuple[tuple[Reason, str], ...] = (
    ("bad_password", r'password authentication failed for user "([^"]*)"'),
    ("no_password", r"no password supplied"),
    ("unknown_role", r'role "([^"]*)" does not exist'),
    ("unknown_database", r'database "([^"]*)" does not exist'),
    ("rejected", r"pg_hba\.conf"),
    ("too_many", r"too many clients|remaining connection slots"),
    ("not_ready", r"the database system is \w+"),
    ("timeout", r"timeout expired"),
    ("refused", r"Connection refused"),
    ("unknown_host",
        r"failed to resolve host '([^']*)'"
        r"|could not translate host name \"([^\"]*)"),
    ("unreachable", r"No route to host|Network is unreachable|Host is unreachable"),
)
_BY_MESSAGE: tuple[tuple[Reason, re.Pattern[str]], ...] = tuple(
    (reason, re.compile(pattern)) for reason, pattern in _MESSAGES
)
_PATTERNS: dict[Reason, re.Pattern[str]] = dict(_BY_MESSAGE)


def reason_of(sqlstate: str | None, message: str) -> tuple[Reason, str | None]:
    """The reason of a failure, and the name the message quotes (user, database, host)."""
    if sqlstate in _BY_SQLSTATE:
        reason = _BY_SQLSTATE[sqlstate]
        # 28000 covers both an unknown role and a pg_hba.conf refusal.
        if reason == "rejected" and (role := _PATTERNS["unknown_role"].search(message)):
            return "unknown_role", role.group(1)
        match = _PATTERNS[reason].search(message)
        return reason, _quoted(match)
    for reason, pattern in _BY_MESSAGE:
        if match := pattern.search(message):
            return reason, _quoted(match)
    return "other", None


def _quoted(match: re.Match[str] | None) -> str | None:
    if match is None:
        return None
    return next((group for group in match.groups() if group is not None), None)


def classify_postgres(
    sqlstate: str | None,
    message: str,
    *,
    where: str,
    user: str | None,
    dbname: str | None,
    timeout: int,
) -> ConnectFailure:
    """The failure to report for a PostgreSQL connection error.

    ``where`` (host:port), ``user`` and ``dbname`` come from the URL and fill in what the
    message does not quote; none of them can hold the password.
    """
    reason, quoted = reason_of(sqlstate, message)
    who = quoted or user or "(default user)"
    detail = server_detail(message)
    if reason == "bad_password":
        text = f'password authentication failed for user "{who}" on {where}'
        return ConnectFailure("auth", text, "password")
    if reason == "no_password":
        text = f'the server at {where} requires a password for user "{who}"'
        return ConnectFailure("auth", text, "password")
    if reason == "unknown_role":
        return ConnectFailure("auth", f'role "{who}" does not exist on {where}', "url")
    if reason == "rejected":
        text = f"the server at {where} refused the connection: {detail}"
        return ConnectFailure("auth", text, "url")
    if reason == "unknown_database":
        text = f'database "{quoted or dbname}" does not exist on {where}'
        return ConnectFailure("config", text, "url")
    return _network_failure(reason, quoted, where, timeout, detail)


def _network_failure(
    reason: Reason, quoted: str | None, where: str, timeout: int, detail: str
) -> ConnectFailure:
    if reason == "timeout":
        text = f"timed out after {timeout} s connecting to {where}"
        return ConnectFailure("network", text, "url")
    if reason == "refused":
        text = f"connection refused by {where}: is PostgreSQL running and listening there?"
        return ConnectFailure("network", text, "url")
    if reason == "unknown_host":
        return ConnectFailure("network", f'host "{quoted}" could not be resolved', "url")
    if reason == "unreachable":
        return ConnectFailure("network", f"{where} is unreachable from here: {detail}", "url")
    if reason in ("too_many", "not_ready"):
        text = f"the server at {where} cannot take a connection now: {detail}"
        return ConnectFailure("network", text)
    return ConnectFailure("network", f"could not connect to {where}: {detail}")


_PREFIXES = re.compile(
    r'^(connection failed: )?(connection to server (at|on) .*? failed: )?((FATAL|ERROR):\s+)?'
)


def server_detail(message: str) -> str:
    """The informative part of a libpq message: its first line without libpq's framing."""
    first = message.strip().splitlines()[0] if message.strip() else "no details"
    return _PREFIXES.sub("", first).strip() or first
