"""Seed 001's exec contract without I/O: the request each method sends, and what each answer
means.

Both clients build their requests here and hand every answer back here, so they cannot
disagree about the protocol; they differ only in how bytes travel (aiohttp or urllib) and how
they sleep between attempts.
"""

from __future__ import annotations

import base64
import errno
import http
import json
import re
import socket
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, unquote, urlencode, urljoin, urlsplit, urlunsplit

from connectord import __version__
from connectord.client.errors import (
    ApiError,
    AuthenticationError,
    BadRequest,
    ExecutionRejected,
    NotFound,
    ResultExpired,
    ResultNotFound,
    ResultNotReady,
    WaitTimeout,
)
from connectord.client.models import Execution, LogLine, NotReady, Ready, Result
from connectord.client.operations import Operation

#: The longest ``?wait=`` a server waits by default, in seconds (it caps a longer one).
MAX_POLL_WAIT = 30.0
#: Seconds allowed for one request (a long poll gets its ``wait`` on top).
TIMEOUT = 30.0
#: How long ``wait`` waits for a result by default, in seconds.
WAIT_TIMEOUT = 300.0
#: Seed 001's client: a 5xx or a failed connection is tried again 3 times, 1 s apart.
RETRIES = 3
RETRY_DELAY = 1.0
#: When the server answers a poll at once (it does not hold polls), poll again after this.
DEFAULT_POLL_INTERVAL = 1.0

IDEMPOTENCY_KEY = re.compile(r"^[\x21-\x7e]{1,255}$")
_API_KEY = re.compile(r"^[\x21-\x7e]+$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_DEFAULT_PORTS = {"http": 80, "https": 443}


@dataclass(frozen=True)
class Request:
    method: str
    url: str
    body: bytes | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    #: Seconds the server may hold the answer (a long poll): added to the request's timeout.
    hold: float = 0.0
    #: Not to be repeated blindly: reading it uses it up (a result is delivered once), or it
    #: creates or runs something. See ``is_retryable`` and ``may_retry_unreachable``.
    consuming: bool = False


@dataclass(frozen=True)
class Response:
    status: int
    body: bytes
    #: The URL that was asked, to resolve a relative Location against.
    url: str
    location: str | None = None
    retry_after: str | None = None


class Unreachable(Exception):
    """A transport's "no answer": connection refused, reset, timed out. ``reason`` is short
    and lower-case, e.g. "connection refused"."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def is_retryable(response: Response, request: Request | None = None) -> bool:
    """Only server errors are tried again; a 4xx is the same answer the next time. A
    consuming request only after a 503, which says nothing was changed: after a 500 the
    result may have been handed out already, and a retry would read "does not exist"."""
    if request is not None and request.consuming:
        return response.status == 503
    return response.status >= 500


def may_retry_unreachable(request: Request) -> bool:
    """A consuming request that got no answer may have been served: not tried again."""
    return not request.consuming


class Core:
    """The base URL, the credentials and the settings one client was made with.

    The API key is kept in the ready-made Authorization header only, and no message or repr
    built here contains it."""

    def __init__(
        self,
        base_url: str,
        *,
        email: str | None,
        api_key: str,
        timeout: float,
        retries: int,
        retry_delay: float,
    ) -> None:
        self.base_url = _check_base_url(base_url)
        self.origin = _origin(self.base_url)
        self._authorization = _authorization(email, api_key)
        if not timeout > 0:
            raise ValueError(f"timeout must be more than 0 seconds, got {timeout!r}")
        if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
            raise ValueError(f"retries must be a whole number of at least 0, got {retries!r}")
        if not retry_delay >= 0:
            raise ValueError(f"retry_delay must be at least 0 seconds, got {retry_delay!r}")
        self.timeout = float(timeout)
        self.retries = retries
        self.retry_delay = float(retry_delay)

    def __repr__(self) -> str:
        return f"<connectord client for {self.base_url}>"

    def headers(self, request: Request) -> dict[str, str]:
        return {
            "Authorization": self._authorization,
            "Accept": "application/json",
            "User-Agent": f"connectord-client/{__version__}",
            **request.headers,
        }

    # -- requests ---------------------------------------------------------------------

    def schedule(
        self,
        execution_type: str,
        component: str,
        *,
        account_data: Mapping[str, Any] | None,
        action_or_trigger: str | None,
        account_id: str | None,
        model_method: str | None,
        cfg: Mapping[str, Any] | None,
        query: Mapping[str, Any] | None,
        idempotency_key: str | None,
    ) -> Request:
        key = uuid.uuid4().hex if idempotency_key is None else idempotency_key
        if not isinstance(key, str) or not IDEMPOTENCY_KEY.fullmatch(key):
            raise ValueError("idempotency_key must be 1 to 255 visible ASCII characters")
        parameters = {
            "execution_type": execution_type,
            "component": component,
            "account_data": account_data,
            "action_or_trigger": action_or_trigger,
            "account_id": account_id,
            "model_method": model_method,
            "cfg": cfg,
            "query": query,
        }
        body = {name: value for name, value in parameters.items() if value is not None}
        return Request(
            "POST",
            f"{self.base_url}/v1/exec/schedule",
            json.dumps(body, ensure_ascii=False).encode(),
            {"Content-Type": "application/json", "Idempotency-Key": key},
        )

    def poll(self, execution_id: str, wait: float) -> Request:
        url = f"{self.base_url}/v1/exec/poll/{_segment(execution_id)}"
        if wait:
            url += "?" + urlencode({"wait": f"{round(wait, 3):g}"})
        return Request("GET", url, hold=max(0.0, wait))

    def result(self, execution_id: str, logs: bool) -> Request:
        return self._get_result(f"{self.base_url}/v1/exec/result/{_segment(execution_id)}", logs)

    def follow(self, ready: Ready, logs: bool) -> Request:
        """The request that follows a poll's 303 to its Location.

        The credentials go only to the base URL's origin: a Location elsewhere (a server behind
        a proxy that names itself ``http://internal:8080``, or anything worse) is not followed,
        and the result is asked from the base URL at the contract's path instead."""
        if _origin(ready.result_url) != self.origin:
            return self.result(ready.id, logs)
        return self._get_result(ready.result_url, logs)

    def _get_result(self, url: str, logs: bool) -> Request:
        if logs:
            parts = urlsplit(url)
            query = f"{parts.query}&logs=true" if parts.query else "logs=true"
            url = urlunsplit(parts._replace(query=query))
        return Request("GET", url, consuming=True)

    def cancel(self, execution_id: str) -> Request:
        return Request("DELETE", f"{self.base_url}/v1/exec/{_segment(execution_id)}")

    def operation(self, operation: Operation, args: tuple[Any, ...], keywords: Mapping[str, Any]) -> Request:
        """The request of a table operation (``operations.OPERATIONS``): ``args`` fill the path
        parameters in order; ``keywords`` are its query parameters in snake_case and ``body``."""
        names = operation.path_params
        if len(args) != len(names):
            wanted = ", ".join(names) or "none"
            raise TypeError(f"{operation.name}() takes {len(names)} positional argument(s): {wanted}")
        path = operation.path
        for name, value in zip(names, args, strict=True):
            if not isinstance(value, str) or not value:
                raise ValueError(f"{name} must be a non-empty string")
            path = path.replace(f"{{{name}}}", quote(value, safe=""))
        keywords = dict(keywords)
        body = keywords.pop("body", None)
        if body is not None and not operation.body:
            raise TypeError(f"{operation.name}() takes no body")
        if operation.body == "required" and body is None:
            raise TypeError(f"{operation.name}() needs a body")
        allowed = operation.keywords
        unknown = sorted(set(keywords) - set(allowed))
        if unknown:
            raise TypeError(f"{operation.name}() got an unexpected keyword argument {unknown[0]!r}")
        query = {allowed[k]: _query_value(v) for k, v in keywords.items() if v is not None}
        url = f"{self.base_url}{path}" + (f"?{urlencode(query)}" if query else "")
        wait = keywords.get("wait")
        hold = float(wait) if isinstance(wait, int | float) and not isinstance(wait, bool) else 0.0
        # A POST that creates or runs something is tried again only after a 503 (nothing done).
        once = operation.method == "POST"
        if body is None:
            return Request(operation.method, url, hold=hold, consuming=once)
        data = json.dumps(body, ensure_ascii=False).encode()
        headers = {"Content-Type": "application/json"}
        return Request(operation.method, url, data, headers, hold=hold, consuming=once)

    # -- waiting ----------------------------------------------------------------------

    @staticmethod
    def hold_for(deadline: float) -> float:
        """The ``wait`` of the next long poll: what is left, at most the server's limit."""
        return min(MAX_POLL_WAIT, max(0.0, deadline - time.monotonic()))

    @staticmethod
    def pause_after(state: NotReady, started: float, hold: float, deadline: float, timeout: float) -> float:
        """Seconds to sleep before polling again: none after a poll the server held, the
        suggested Retry-After when it answered at once. Raises ``WaitTimeout`` past the deadline."""
        now = time.monotonic()
        if now >= deadline:
            raise WaitTimeout(state.id, timeout)
        if now - started >= hold - min(0.5, hold / 2):  # the server held the poll: ask again at once
            return 0.0
        return min(state.retry_after or DEFAULT_POLL_INTERVAL, deadline - now)


#: A job in one of these is over (seed 002's statuses).
JOB_OVER = frozenset({"COMPLETED", "FAILED", "CANCELLED", "MISSED", "SKIPPED"})
#: The longest ``?wait=`` the server accepts on ``GET /v1/jobs/{id}``.
MAX_JOB_WAIT = 30.0


def job_over(job: Any) -> bool:
    return isinstance(job, dict) and job.get("status") in JOB_OVER


def check_job_timeout(job_id: str, deadline: float, timeout: float) -> float:
    """The ``wait`` of the next look at a job; ``WaitTimeout`` past the deadline."""
    left = deadline - time.monotonic()
    if left <= 0:
        raise WaitTimeout(job_id, timeout, "job")
    return min(MAX_JOB_WAIT, left)


def operation_doc(operation: Operation) -> str:
    params = ", ".join(operation.path_params + tuple(f"{k}=" for k in operation.keywords))
    body = {"required": "body (required)", "optional": "body (optional)"}.get(operation.body, "")
    takes = ", ".join(filter(None, [params, body]))
    return (
        f"{operation.summary[:1].upper()}{operation.summary[1:]}: ``{operation.method} {operation.path}``"
        f" ({takes or 'no arguments'}). Returns the answer's JSON (``None`` for 204 No Content);"
        " raises the typed ``ApiError`` for an error."
    )


# -- answers --------------------------------------------------------------------------


def parse_schedule(response: Response, idempotency_key: str) -> Execution:
    """202 with a Location, as seed 001 and its client require; anything else is an error."""
    if response.status >= 400:
        raise error_for(response)
    if response.status != 202 or not response.location:
        got = f"{response.status}" + ("" if response.location else " without a Location header")
        raise ApiError(response.status, f"expected 202 Accepted with a Location header, got {got}")
    poll_url = urljoin(response.url, response.location)
    execution_id = unquote(urlsplit(poll_url).path.rstrip("/").rsplit("/", 1)[-1])
    if not execution_id:
        raise ApiError(response.status, f"the Location of the scheduled execution has no id: {poll_url}")
    return Execution(execution_id, poll_url, idempotency_key)


def parse_poll(response: Response, execution_id: str) -> Ready | NotReady:
    if response.status == 303:
        if not response.location:
            raise ApiError(303, "the server said the result is ready but sent no Location")
        return Ready(execution_id, urljoin(response.url, response.location))
    if response.status == 200:
        return NotReady(execution_id, _seconds(response.retry_after))
    raise error_for(response)


def parse_result(response: Response, logs: bool) -> Any:
    """The data of a 200 (with ``logs``, a :class:`Result`); ``ExecutionRejected`` for a 400
    "Rejected."; the typed error for anything else."""
    body = _json(response)
    if response.status == 200:
        if not isinstance(body, dict) or "data" not in body:
            raise ApiError(200, "the result has no 'data'", body=body)
        return Result(body["data"], _log_lines(body)) if logs else body["data"]
    if response.status == 400 and isinstance(body, dict) and body.get("message") == "Rejected.":
        raise ExecutionRejected(body.get("reason"), _log_lines(body) if logs else None, body)
    raise error_for(response)


def parse_answer(response: Response) -> Any:
    """A table operation's answer: its JSON body (``None`` for 204), or the typed error."""
    if response.status >= 300:
        raise error_for(response)
    return _json(response)


def parse_cancel(response: Response) -> None:
    if response.status >= 300:
        raise error_for(response)


def error_for(response: Response) -> ApiError:
    """The typed error for an error status, with the server's message and field."""
    body = _json(response)
    message = body.get("message") if isinstance(body, dict) else None
    if not isinstance(message, str) or not message:
        message = _phrase(response.status)
    field = body.get("field") if isinstance(body, dict) else None
    if not isinstance(field, str):
        field = None
    status = response.status
    kind: type[ApiError] = ApiError
    if status == 401:
        kind = AuthenticationError
    elif status == 400:
        kind = BadRequest
    elif status == 404:
        kind = {
            "result does not exist": ResultNotFound,
            "expired": ResultExpired,
            "result not ready yet": ResultNotReady,
        }.get(message.rstrip(".").lower(), NotFound)
    return kind(status, message, field, body)


def describe_os_error(exc: BaseException) -> str:
    """A short reason for a failed connection: "connection refused", "timed out", …"""
    if isinstance(exc, ConnectionRefusedError) or getattr(exc, "errno", None) == errno.ECONNREFUSED:
        return "connection refused"
    if isinstance(exc, TimeoutError):
        return "timed out"
    if isinstance(exc, socket.gaierror):
        return f"cannot resolve the host name ({exc.strerror or exc})"
    if isinstance(exc, ConnectionResetError | BrokenPipeError | ConnectionAbortedError):
        return "the server closed the connection"
    if "Errno 111" in str(exc) or "Connect call failed" in str(exc):  # several addresses, all refused
        return "connection refused"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror[:1].lower() + exc.strerror[1:]
    return str(exc) or type(exc).__name__


# -- helpers --------------------------------------------------------------------------


def _check_base_url(base_url: str) -> str:
    if not isinstance(base_url, str):
        raise TypeError(f"base_url must be a string, got {type(base_url).__name__}")
    parts = urlsplit(base_url.strip())
    if parts.username is not None or parts.password is not None:
        # Not echoed: it would print the credentials.
        raise ValueError("base_url must not contain credentials; pass email and api_key separately")
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"base_url must be an http:// or https:// URL with a host, got {base_url!r}")
    if parts.query or parts.fragment:
        raise ValueError(f"base_url must not have a query or fragment, got {base_url!r}")
    try:
        parts.port  # noqa: B018 - raises ValueError for a port out of range or not a number
    except ValueError:
        raise ValueError(f"base_url has an invalid port: {base_url!r}") from None
    return urlunsplit(parts._replace(path=parts.path.rstrip("/")))


def _origin(url: str) -> str:
    parts = urlsplit(url)
    try:
        port = parts.port or _DEFAULT_PORTS.get(parts.scheme)
    except ValueError:
        port = None
    return f"{parts.scheme}://{(parts.hostname or '').lower()}:{port}"


def _authorization(email: str | None, api_key: str) -> str:
    # Messages name the rule, never the value.
    if not isinstance(api_key, str) or not _API_KEY.fullmatch(api_key):
        raise ValueError("api_key must be a non-empty string of visible ASCII characters")
    if email is None:
        return f"Bearer {api_key}"
    if not isinstance(email, str) or not email or ":" in email or _CONTROL.search(email):
        raise ValueError("email must be a non-empty string without ':' or control characters")
    return "Basic " + base64.b64encode(f"{email}:{api_key}".encode()).decode("ascii")


def _segment(execution_id: str) -> str:
    if not isinstance(execution_id, str) or not execution_id:
        raise ValueError("an execution id must be a non-empty string")
    return quote(execution_id, safe="")


def _query_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _json(response: Response) -> Any:
    try:
        return json.loads(response.body) if response.body else None
    except ValueError:  # also UnicodeDecodeError
        return None


def _phrase(status: int) -> str:
    try:
        return http.HTTPStatus(status).phrase
    except ValueError:
        return f"HTTP {status}"


def _seconds(value: str | None) -> float | None:
    try:
        seconds = float(value) if value is not None else None
    except ValueError:
        return None  # an HTTP-date: not worth parsing for a hint
    return seconds if seconds is not None and seconds >= 0 else None


def _log_lines(body: Any) -> list[LogLine]:
    lines = body.get("logs") if isinstance(body, dict) else None
    return [
        LogLine(
            str(line.get("time", "")),
            str(line.get("level", "")),
            str(line.get("logger", "")),
            str(line.get("message", "")),
        )
        for line in (lines if isinstance(lines, list) else ())
        if isinstance(line, dict)
    ]
