"""The errors of connectord itself, each of one kind: what a caller can do about it.

Every exception the server's own code raises derives from one of the kinds below, so the
API answers each by its kind (``api/errors.py`` holds the one table of kinds to HTTP) and
the CLI and tests can catch a kind without knowing which module raised it. Classes with a
name of their own (``InvalidCallError``, ``StoreUnavailableError``, …) subclass a kind;
some also keep a builtin base (``ValueError``, ``LookupError``) that callers catch.

Connectors' own exceptions (:mod:`connectord.plugins.errors`) are not these: they are the
outcome of a call, told to its caller as ``Rejected``, never an error of the server.

This module sits in ``plugins/``, the layer every other one may import.
"""

from __future__ import annotations


class ConnectordError(Exception):
    """Base of every kind; raise a kind, never this.

    ``str(error)`` is the message, written for whoever sent what failed: it never holds a
    secret. ``field`` names the part of the input at fault, where there is one, as a path
    (``jobDefinition.schedule.cron``, ``keys``).
    """

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class Invalid(ConnectordError):
    """What was sent fails a check: a parameter, a body, a setting, a description, a
    connector's result. ``field`` names the part at fault."""


class Unauthorized(ConnectordError):
    """No credentials, or none that hold.

    ``challenge``: whether the answer asks for credentials. The console's own session
    error does not, lest the browser pop up its sign-in dialog over the console's page.
    """

    def __init__(self, message: str, *, challenge: bool = True) -> None:
        super().__init__(message)
        self.challenge = challenge


class Forbidden(ConnectordError):
    """The caller is known but may not do this."""


class NotFound(ConnectordError):
    """What was asked for does not exist (for this tenant)."""


class Conflict(ConnectordError):
    """The request does not fit what is stored now: a key already taken, a state that
    moved on, an idempotency key used for another request."""


class Unavailable(ConnectordError):
    """Something the request needs cannot be had now; the same request may work later.

    ``str(error)`` is for the operator's log; ``public_message`` is what a caller reads.
    """

    public_message = "The service is unavailable; nothing was changed. Try again later."


class Internal(ConnectordError):
    """A fault of the server: broken machinery, unreadable data, an unusable host. A
    caller learns nothing of it but that it happened; the log has the rest."""


#: Every kind, in the order of their HTTP statuses.
KINDS: tuple[type[ConnectordError], ...] = (
    Invalid,
    Unauthorized,
    Forbidden,
    NotFound,
    Conflict,
    Internal,
    Unavailable,
)


def kind_of(error: ConnectordError | type[ConnectordError]) -> type[ConnectordError]:
    """The kind ``error`` (an exception or its class) is of."""
    cls = error if isinstance(error, type) else type(error)
    for base in cls.__mro__:
        if base in KINDS:
            return base
    raise TypeError(f"{cls.__qualname__} derives from ConnectordError but from none of its kinds")
