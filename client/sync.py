"""The blocking client, over the standard library's ``urllib.request``.

Plain blocking I/O rather than the async client run in a private event loop: no thread or
loop to start, share or shut down, safe to call from any thread (``asyncio.to_thread`` from
async code), and the protocol itself is shared with the async client in ``_protocol``, so
the only code here is the transport. It opens one connection per request, which the exec
API's few requests per execution do not notice.
"""

from __future__ import annotations

import http.client
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from types import TracebackType
from typing import Any, Literal, overload

from connectord.client import _protocol as protocol
from connectord.client._protocol import Core, Request, Response, Unreachable
from connectord.client.errors import ConnectionFailed
from connectord.client.models import Execution, NotReady, Ready, Result
from connectord.client.operations import OPERATIONS, Operation


class _KeepRedirects(urllib.request.HTTPRedirectHandler):
    """Hand every 3xx back as it is: a 303 from a poll is an answer, not a hop (and urllib
    would send the Authorization header along to whatever host the Location names)."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


class Client:
    """The blocking twin of :class:`~connectord.client.AsyncClient`: the same arguments,
    methods, results and errors::

        with Client("http://127.0.0.1:8080", email="me@example.com", api_key=key) as client:
            execution = client.schedule("verify_credentials", "sql", account_data=creds)
            data = client.wait(execution.id)
    """

    # The API's other operations, made from client/operations.py below (each returns the
    # answer's JSON); declared here for type checkers, and held equal to the table by a test.
    list_executions: Callable[..., Any]
    get_execution: Callable[..., Any]
    list_components: Callable[..., Any]
    get_component: Callable[..., Any]
    reload_components: Callable[..., Any]
    create_account: Callable[..., Any]
    list_accounts: Callable[..., Any]
    get_account: Callable[..., Any]
    replace_account: Callable[..., Any]
    verify_account: Callable[..., Any]
    delete_account: Callable[..., Any]
    list_job_types: Callable[..., Any]
    get_job_type: Callable[..., Any]
    execute_job_type: Callable[..., Any]
    create_job_definition: Callable[..., Any]
    list_job_definitions: Callable[..., Any]
    get_job_definition: Callable[..., Any]
    update_job_definition: Callable[..., Any]
    delete_job_definition: Callable[..., Any]
    start_job_definition: Callable[..., Any]
    stop_job_definition: Callable[..., Any]
    execute_job_definition: Callable[..., Any]
    next_fire_times: Callable[..., Any]
    list_jobs: Callable[..., Any]
    get_job: Callable[..., Any]
    cancel_job: Callable[..., Any]

    def __init__(
        self,
        base_url: str,
        *,
        email: str | None = None,
        api_key: str,
        timeout: float = protocol.TIMEOUT,
        retries: int = protocol.RETRIES,
        retry_delay: float = protocol.RETRY_DELAY,
    ) -> None:
        self._core = Core(
            base_url, email=email, api_key=api_key, timeout=timeout, retries=retries, retry_delay=retry_delay
        )
        # No proxy from the environment, as aiohttp by default: both clients go straight there.
        self._opener = urllib.request.build_opener(urllib.request.ProxyHandler({}), _KeepRedirects())

    @property
    def base_url(self) -> str:
        return self._core.base_url

    def __repr__(self) -> str:
        return f"Client({self._core.base_url!r})"

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        """Nothing stays open between requests; here for symmetry with the async client."""

    # -- the exec API -----------------------------------------------------------------

    def schedule(
        self,
        execution_type: str,
        component: str,
        *,
        account_data: Mapping[str, Any] | None = None,
        action_or_trigger: str | None = None,
        account_id: str | None = None,
        model_method: str | None = None,
        cfg: Mapping[str, Any] | None = None,
        query: Mapping[str, Any] | None = None,
        idempotency_key: str | None = None,
    ) -> Execution:
        """See :meth:`AsyncClient.schedule <connectord.client.AsyncClient.schedule>`."""
        request = self._core.schedule(
            execution_type,
            component,
            account_data=account_data,
            action_or_trigger=action_or_trigger,
            account_id=account_id,
            model_method=model_method,
            cfg=cfg,
            query=query,
            idempotency_key=idempotency_key,
        )
        return protocol.parse_schedule(self._request(request), request.headers["Idempotency-Key"])

    def poll(self, execution_id: str, wait: float = 0) -> Ready | NotReady:
        """See :meth:`AsyncClient.poll <connectord.client.AsyncClient.poll>`."""
        return protocol.parse_poll(self._request(self._core.poll(execution_id, wait)), execution_id)

    @overload
    def result(self, execution_id: str, logs: Literal[False] = False) -> Any: ...
    @overload
    def result(self, execution_id: str, logs: Literal[True]) -> Result: ...
    def result(self, execution_id: str, logs: bool = False) -> Any:
        """See :meth:`AsyncClient.result <connectord.client.AsyncClient.result>`."""
        return protocol.parse_result(self._request(self._core.result(execution_id, logs)), logs)

    @overload
    def wait(self, execution_id: str, *, timeout: float = ..., logs: Literal[False] = False) -> Any: ...
    @overload
    def wait(self, execution_id: str, *, timeout: float = ..., logs: Literal[True]) -> Result: ...
    def wait(self, execution_id: str, *, timeout: float = protocol.WAIT_TIMEOUT, logs: bool = False) -> Any:
        """See :meth:`AsyncClient.wait <connectord.client.AsyncClient.wait>`."""
        deadline = time.monotonic() + timeout
        while True:
            hold = self._core.hold_for(deadline)
            started = time.monotonic()
            state = self.poll(execution_id, hold)
            if isinstance(state, Ready):
                followed = self._request(self._core.follow(state, logs))
                return protocol.parse_result(followed, logs)
            pause = self._core.pause_after(state, started, hold, deadline, timeout)
            if pause:
                time.sleep(pause)

    def cancel(self, execution_id: str) -> None:
        """See :meth:`AsyncClient.cancel <connectord.client.AsyncClient.cancel>`."""
        protocol.parse_cancel(self._request(self._core.cancel(execution_id)))

    # -- jobs -----------------------------------------------------------------------------

    def wait_job(
        self,
        job_id: str,
        *,
        timeout: float = protocol.WAIT_TIMEOUT,
        on_progress: Callable[[dict[str, Any]], None] | None = None,
    ) -> dict[str, Any]:
        """See :meth:`AsyncClient.wait_job <connectord.client.AsyncClient.wait_job>`."""
        deadline = time.monotonic() + timeout
        while True:
            job = self.get_job(job_id, wait=protocol.check_job_timeout(job_id, deadline, timeout))
            if on_progress is not None:
                on_progress(job)
            if protocol.job_over(job):
                return dict(job)

    def _operation(self, operation: Operation, args: tuple[Any, ...], keywords: dict[str, Any]) -> Any:
        return protocol.parse_answer(self._request(self._core.operation(operation, args, keywords)))

    # -- transport ----------------------------------------------------------------------

    def _request(self, request: Request) -> Response:
        attempt = 0
        while True:
            try:
                response = self._send(request)
            except Unreachable as exc:
                if attempt >= self._core.retries or not protocol.may_retry_unreachable(request):
                    raise ConnectionFailed(self._core.base_url, exc.reason) from exc
            else:
                if attempt >= self._core.retries or not protocol.is_retryable(response, request):
                    return response
            attempt += 1
            time.sleep(self._core.retry_delay)

    def _send(self, request: Request) -> Response:
        prepared = urllib.request.Request(
            request.url, data=request.body, headers=self._core.headers(request), method=request.method
        )
        timeout = self._core.timeout + request.hold
        try:
            try:
                answer = self._opener.open(prepared, timeout=timeout)
            except urllib.error.HTTPError as error:  # a 3xx, 4xx or 5xx: an answer all the same
                if error.fp is None:
                    return Response(error.code, b"", request.url, None, None)
                answer = error
            with answer:
                return Response(
                    answer.status,
                    answer.read(),
                    request.url,
                    answer.headers.get("Location"),
                    answer.headers.get("Retry-After"),
                )
        except TimeoutError as exc:
            raise Unreachable(f"no answer within {timeout:g} s") from exc
        except urllib.error.URLError as exc:
            reason = exc.reason
            if isinstance(reason, TimeoutError):
                raise Unreachable(f"no answer within {timeout:g} s") from exc
            raise Unreachable(
                protocol.describe_os_error(reason) if isinstance(reason, BaseException) else str(reason)
            ) from exc
        except (OSError, http.client.HTTPException) as exc:
            raise Unreachable(protocol.describe_os_error(exc)) from exc


def _method(operation: Operation) -> Callable[..., Any]:
    def method(self: Client, *args: Any, **keywords: Any) -> Any:
        return self._operation(operation, args, keywords)

    method.__name__ = method.__qualname__ = operation.name
    method.__doc__ = protocol.operation_doc(operation)
    return method


# The API's operations beyond the exec protocol, made from their one description.
for _operation in OPERATIONS:
    if not _operation.custom:
        setattr(Client, _operation.name, _method(_operation))
