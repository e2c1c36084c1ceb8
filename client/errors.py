"""What can go wrong when talking to a connectord server, as typed exceptions.

Every error carries what the server said (``status``, ``message`` and, for a 400, the
``field`` at fault) and never the API key: messages are built from the server's answer and
the base URL only.
"""

from __future__ import annotations

from typing import Any


class ClientError(Exception):
    """Base of every error raised by :mod:`connectord.client`."""


class ConnectionFailed(ClientError):
    """The server could not be reached (refused, unresolvable, reset, timed out), after retries."""

    def __init__(self, url: str, reason: str) -> None:
        super().__init__(f"cannot reach {url}: {reason}")
        self.url = url
        self.reason = reason


class WaitTimeout(ClientError, TimeoutError):
    """``wait`` gave up: the execution was still not finished after ``timeout`` seconds.

    The execution goes on; poll ``execution_id`` again later or cancel it."""

    def __init__(self, execution_id: str, timeout: float, what: str = "execution") -> None:
        super().__init__(f"{what} {execution_id} was not finished after {timeout:g} s")
        self.execution_id = execution_id
        self.timeout = timeout


class ApiError(ClientError):
    """The server answered with an error status (or with something the contract does not allow).

    ``message`` is the server's ``message`` (or the HTTP reason phrase when the body has none),
    ``field`` the parameter it named, ``body`` the decoded JSON body (``None`` if not JSON)."""

    def __init__(self, status: int, message: str, field: str | None = None, body: Any = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.field = field
        self.body = body

    def __str__(self) -> str:
        return f"{self.message} (HTTP {self.status})"


class AuthenticationError(ApiError):
    """401: the API key (or the e-mail with it) was refused."""


class BadRequest(ApiError):
    """400 for a request the server refused; ``field`` names the parameter at fault, if any."""


class NotFound(ApiError):
    """404: no such resource for this user (for executions, see the subclasses)."""


class ResultNotFound(NotFound):
    """404 "Result does not exist.": never scheduled by this tenant, or already fetched."""


class ResultExpired(NotFound):
    """404 "Expired.": the execution finished but its result was not fetched in time."""


class ResultNotReady(NotFound):
    """404 "Result not ready yet." from the result resource: poll until it is ready first."""


class ExecutionRejected(ApiError):
    """400 "Rejected." from the result resource: the execution ran and failed.

    ``reason`` is the server's reason object (``kind``, ``message`` and, when the connector
    raised, ``error_type`` and maybe ``field``); ``logs`` the execution's log lines when they
    were asked for, else ``None``."""

    def __init__(self, reason: Any, logs: list[Any] | None = None, body: Any = None) -> None:
        message = reason.get("message") if isinstance(reason, dict) else None
        super().__init__(400, f"Rejected: {message}" if message else "Rejected.", body=body)
        self.reason = reason
        self.logs = logs
