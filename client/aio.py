"""The asyncio client, over one aiohttp ``ClientSession``."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from types import TracebackType
from typing import Any, Literal, overload

import aiohttp

from connectord.client import _protocol as protocol
from connectord.client._protocol import Core, Request, Response, Unreachable
from connectord.client.errors import ConnectionFailed
from connectord.client.models import Execution, NotReady, Ready, Result
from connectord.client.operations import OPERATIONS, Operation


class AsyncClient:
    """Schedule executions on a connectord server and fetch their results.

    ``email`` given: Basic ``EMAIL:APIKEY`` (as seed 001's clients send); else Bearer
    ``APIKEY``. ``timeout`` bounds each request (a long poll gets its wait on top). A 5xx or a
    failed connection is tried again ``retries`` times, ``retry_delay`` seconds apart; a 4xx
    never is. Use ``async with`` or call ``close()``::

        async with AsyncClient("http://127.0.0.1:8080", api_key=key) as client:
            execution = await client.schedule("verify_credentials", "sql", account_data=creds)
            data = await client.wait(execution.id)
    """

    # The API's other operations, made from client/operations.py below (each returns the
    # answer's JSON); declared here for type checkers, and held equal to the table by a test.
    list_executions: Callable[..., Awaitable[Any]]
    get_execution: Callable[..., Awaitable[Any]]
    list_components: Callable[..., Awaitable[Any]]
    get_component: Callable[..., Awaitable[Any]]
    reload_components: Callable[..., Awaitable[Any]]
    create_account: Callable[..., Awaitable[Any]]
    list_accounts: Callable[..., Awaitable[Any]]
    get_account: Callable[..., Awaitable[Any]]
    replace_account: Callable[..., Awaitable[Any]]
    verify_account: Callable[..., Awaitable[Any]]
    delete_account: Callable[..., Awaitable[Any]]
    list_job_types: Callable[..., Awaitable[Any]]
    get_job_type: Callable[..., Awaitable[Any]]
    execute_job_type: Callable[..., Awaitable[Any]]
    create_job_definition: Callable[..., Awaitable[Any]]
    list_job_definitions: Callable[..., Awaitable[Any]]
    get_job_definition: Callable[..., Awaitable[Any]]
    update_job_definition: Callable[..., Awaitable[Any]]
    delete_job_definition: Callable[..., Awaitable[Any]]
    start_job_definition: Callable[..., Awaitable[Any]]
    stop_job_definition: Callable[..., Awaitable[Any]]
    execute_job_definition: Callable[..., Awaitable[Any]]
    next_fire_times: Callable[..., Awaitable[Any]]
    list_jobs: Callable[..., Awaitable[Any]]
    get_job: Callable[..., Awaitable[Any]]
    cancel_job: Callable[..., Awaitable[Any]]

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
        self._session: aiohttp.ClientSession | None = None

    @property
    def base_url(self) -> str:
        return self._core.base_url

    def __repr__(self) -> str:
        return f"AsyncClient({self._core.base_url!r})"

    async def __aenter__(self) -> AsyncClient:
        self._open()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the HTTP session (the client opens a new one if it is used again)."""
        session, self._session = self._session, None
        if session is not None:
            await session.close()

    # -- the exec API -----------------------------------------------------------------

    async def schedule(
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
        """Schedule an execution (202 + Location). Sent with an Idempotency-Key, one made up
        when none is given, so that a retried POST cannot schedule twice."""
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
        return protocol.parse_schedule(await self._request(request), request.headers["Idempotency-Key"])

    async def poll(self, execution_id: str, wait: float = 0) -> Ready | NotReady:
        """Where the execution is; with ``wait`` (the server waits at most its
        ``max_poll_wait``, 30 s by default) the server answers as soon as it finishes. The 303 is reported
        as :class:`Ready`, not followed."""
        return protocol.parse_poll(await self._request(self._core.poll(execution_id, wait)), execution_id)

    @overload
    async def result(self, execution_id: str, logs: Literal[False] = False) -> Any: ...
    @overload
    async def result(self, execution_id: str, logs: Literal[True]) -> Result: ...
    async def result(self, execution_id: str, logs: bool = False) -> Any:
        """The data of a finished execution (it can be fetched once); with ``logs=True`` a
        :class:`Result` with the connector's log lines. Raises ``ExecutionRejected`` when it
        failed, ``ResultNotFound``/``ResultExpired``/``ResultNotReady`` on the 404s."""
        return protocol.parse_result(await self._request(self._core.result(execution_id, logs)), logs)

    @overload
    async def wait(self, execution_id: str, *, timeout: float = ..., logs: Literal[False] = False) -> Any: ...
    @overload
    async def wait(self, execution_id: str, *, timeout: float = ..., logs: Literal[True]) -> Result: ...
    async def wait(
        self, execution_id: str, *, timeout: float = protocol.WAIT_TIMEOUT, logs: bool = False
    ) -> Any:
        """Long-poll until the execution finishes, follow the 303 to the result and return
        it as :meth:`result` does. ``WaitTimeout`` after ``timeout`` seconds (it keeps running)."""
        deadline = time.monotonic() + timeout
        while True:
            hold = self._core.hold_for(deadline)
            started = time.monotonic()
            state = await self.poll(execution_id, hold)
            if isinstance(state, Ready):
                followed = await self._request(self._core.follow(state, logs))
                return protocol.parse_result(followed, logs)
            pause = self._core.pause_after(state, started, hold, deadline, timeout)
            if pause:
                await asyncio.sleep(pause)

    async def cancel(self, execution_id: str) -> None:
        """Cancel a queued or running execution; ``NotFound`` when there is none with this id
        (never scheduled by this tenant, or already finished)."""
        protocol.parse_cancel(await self._request(self._core.cancel(execution_id)))

    # -- jobs -----------------------------------------------------------------------------

    async def wait_job(
        self,
        job_id: str,
        *,
        timeout: float = protocol.WAIT_TIMEOUT,
        on_progress: Callable[[dict[str, Any]], None] | None = None,
    ) -> dict[str, Any]:
        """Wait until job ``job_id`` is over (``COMPLETED``, ``FAILED``, ``CANCELLED``,
        ``MISSED`` or ``SKIPPED``) with long polls of ``GET /v1/jobs/{job_id}?wait=``, and
        return it; ``on_progress`` sees every answer on the way (its status, attempts).
        ``WaitTimeout`` after ``timeout`` seconds: the job goes on."""
        deadline = time.monotonic() + timeout
        while True:
            job = await self.get_job(job_id, wait=protocol.check_job_timeout(job_id, deadline, timeout))
            if on_progress is not None:
                on_progress(job)
            if protocol.job_over(job):
                return dict(job)

    async def _operation(self, operation: Operation, args: tuple[Any, ...], keywords: dict[str, Any]) -> Any:
        return protocol.parse_answer(await self._request(self._core.operation(operation, args, keywords)))

    # -- transport ----------------------------------------------------------------------

    def _open(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession()
        return self._session

    async def _request(self, request: Request) -> Response:
        attempt = 0
        while True:
            try:
                response = await self._send(request)
            except Unreachable as exc:
                if attempt >= self._core.retries or not protocol.may_retry_unreachable(request):
                    raise ConnectionFailed(self._core.base_url, exc.reason) from exc
            else:
                if attempt >= self._core.retries or not protocol.is_retryable(response, request):
                    return response
            attempt += 1
            await asyncio.sleep(self._core.retry_delay)

    async def _send(self, request: Request) -> Response:
        session = self._open()
        timeout = aiohttp.ClientTimeout(total=self._core.timeout + request.hold)
        try:
            async with session.request(
                request.method,
                request.url,
                data=request.body,
                headers=self._core.headers(request),
                allow_redirects=False,
                timeout=timeout,
            ) as response:
                return Response(
                    response.status,
                    await response.read(),
                    request.url,
                    response.headers.get("Location"),
                    response.headers.get("Retry-After"),
                )
        except TimeoutError as exc:
            raise Unreachable(f"no answer within {timeout.total:g} s") from exc
        except aiohttp.ServerDisconnectedError as exc:
            raise Unreachable("the server closed the connection") from exc
        except aiohttp.ClientConnectorError as exc:
            raise Unreachable(protocol.describe_os_error(exc.os_error)) from exc
        except aiohttp.ClientError as exc:
            raise Unreachable(protocol.describe_os_error(exc)) from exc


def _method(operation: Operation) -> Callable[..., Coroutine[Any, Any, Any]]:
    async def method(self: AsyncClient, *args: Any, **keywords: Any) -> Any:
        return await self._operation(operation, args, keywords)

    method.__name__ = method.__qualname__ = operation.name
    method.__doc__ = protocol.operation_doc(operation)
    return method


# The API's operations beyond the exec protocol, made from their one description.
for _operation in OPERATIONS:
    if not _operation.custom:
        setattr(AsyncClient, _operation.name, _method(_operation))
