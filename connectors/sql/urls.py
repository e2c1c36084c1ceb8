"""Database URLs: which backend a URL names, how to connect to it, and how to show it
without its password.

The password may come from the ``password`` credential (preferred: it is stored as a
secret) or from the URL itself; it is taken out of the URL before anything else sees it,
so no parser or driver message built from the URL can contain it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import SplitResult, unquote, urlsplit

from connectord.connectors.sql.failures import ConnectFailure

SQLITE_SCHEMES = frozenset({"sqlite"})
POSTGRES_SCHEMES = frozenset({"postgresql", "postgres"})
DEFAULT_CONNECT_TIMEOUT = 5
# A design-time call must answer while someone waits for a dropdown.
MAX_CONNECT_TIMEOUT = 30
_SERVER_FILE_PARAMS = frozenset({"service", "servicefile", "passfile"})
_SQLITE_SHAPE = "SQLite URLs look like sqlite:///absolute/path/to/file.db"


@dataclass(frozen=True)
class SqliteTarget:
    """A SQLite database file."""

    path: Path


@dataclass(frozen=True)
class PostgresTarget:
    """A PostgreSQL server: libpq ``params`` without the password, which is kept apart."""

    params: Mapping[str, str]
    password: str | None = field(default=None, repr=False)

    @property
    def where(self) -> str:
        """``host:port`` for messages (libpq's defaults when the URL leaves them out)."""
        host = self.params.get("host") or "localhost (local socket)"
        return f"{host}:{self.params.get('port') or '5432'}"

    @property
    def user(self) -> str | None:
        return self.params.get("user")

    @property
    def dbname(self) -> str | None:
        return self.params.get("dbname") or self.params.get("user")

    @property
    def timeout(self) -> int:
        return int(self.params["connect_timeout"])


Target = SqliteTarget | PostgresTarget


def parse_url(url: str, password: str | None = None) -> Target:
    """Read a database URL; raise :class:`ConnectFailure` (config, field ``url``) if it is
    not one this connector can use. ``password`` (the credential) wins over one in the URL."""
    url = url.strip()
    try:
        split = urlsplit(url)
    except ValueError:
        raise _bad_url("url is not a valid URL") from None
    scheme = split.scheme.lower()
    if scheme in SQLITE_SCHEMES:
        return _sqlite_target(split)
    if scheme in POSTGRES_SCHEMES:
        return _postgres_target(url, split, password)
    if not scheme or "://" not in url:
        raise _bad_url("url must start with sqlite:/// or postgresql://")
    raise _bad_url(f"unsupported database URL scheme '{scheme}' (supported: sqlite, postgresql)")


def _bad_url(message: str) -> ConnectFailure:
    return ConnectFailure("config", message, "url")


def _sqlite_target(split: SplitResult) -> SqliteTarget:
    if split.netloc or not split.path.startswith("/"):
        raise _bad_url(f"{_SQLITE_SHAPE} (three slashes, then an absolute path)")
    path = "/" + unquote(split.path).lstrip("/")  # sqlite:////abs (SQLAlchemy style) too
    if path == "/":
        raise _bad_url(f"{_SQLITE_SHAPE}; this one names no file")
    return SqliteTarget(Path(path))


def _postgres_target(url: str, split: SplitResult, password: str | None) -> PostgresTarget:
    netloc, url_password = _split_password(split.netloc)
    # Spliced into the original text: urlunsplit would turn postgresql:///db into postgresql:/db.
    head, sep, tail = url.partition("://")
    shown = strip_password(url)
    params = _libpq_params(head + sep + netloc + tail[len(split.netloc) :], shown)
    query_password = params.pop("password", None)
    _check_params(params, shown)
    params["connect_timeout"] = str(_connect_timeout(params.get("connect_timeout")))
    return PostgresTarget(params, password or url_password or query_password or None)


def _check_params(params: Mapping[str, str], shown: str) -> None:
    """Refuse what libpq parses but cannot or must not use."""
    for port in params.get("port", "").split(","):
        if port and not port.isdigit():
            raise _bad_url(f"url {shown} has an invalid port (expected digits)")
    # These make libpq read the connectord server's own files, which may hold its passwords.
    if server_files := sorted(_SERVER_FILE_PARAMS.intersection(params)):
        message = f"url: the {server_files[0]} parameter is not supported; give host and dbname"
        raise _bad_url(message)


def _split_password(netloc: str) -> tuple[str, str | None]:
    """``netloc`` without its password, and the (decoded) password."""
    userinfo, at, hostport = netloc.rpartition("@")
    if not at or ":" not in userinfo:
        return netloc, None
    user, _, password = userinfo.partition(":")
    return (f"{user}@{hostport}" if user else hostport), unquote(password)


def _libpq_params(url: str, shown: str) -> dict[str, str]:
    try:
        from psycopg import Error
        from psycopg.conninfo import conninfo_to_dict
    except ImportError:
        message = "PostgreSQL support needs psycopg: pip install 'connectord[postgres]'"
        raise _bad_url(message) from None
    try:
        params = conninfo_to_dict(url)
    except Error as exc:  # the URL no longer holds the password, so libpq cannot echo it
        raise _bad_url(f"url {shown} is not a valid PostgreSQL URL: {exc}") from None
    return {key: str(value) for key, value in params.items()}


def _connect_timeout(value: str | None) -> int:
    if value is None:
        return DEFAULT_CONNECT_TIMEOUT
    if not value.strip().isdigit():
        raise _bad_url("url: connect_timeout must be a whole number of seconds")
    return min(max(int(value), 1), MAX_CONNECT_TIMEOUT)


_QUERY_PASSWORD = re.compile(r"([?&])password=[^&#]*&?", re.IGNORECASE)


def strip_password(url: str) -> str:
    """``url`` with any password removed, fit for a message.

    Everything between the first ``:`` of the user part and the *last* ``@`` counts as the
    password, because a password typed without percent-encoding may contain ``@``, ``/``
    or ``?``: this may cut too much of an odd URL, but never leaves a password in.
    ``password=`` query parameters (which libpq also reads) are dropped as well.
    """
    scheme, sep, rest = url.partition("://")
    if sep:
        userinfo, at, after = rest.rpartition("@")
        user, colon, _ = userinfo.partition(":")
        if at and colon and "/" not in user:
            rest = f"{user}@{after}" if user else after
    stripped = scheme + sep + rest
    return _QUERY_PASSWORD.sub(lambda m: m.group(1), stripped).rstrip("?&")
