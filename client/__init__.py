"""Clients for connectord's exec API (seed 001): schedule an execution, poll for it, fetch its
result once, wait for it, cancel it.

:class:`AsyncClient` (aiohttp) and :class:`Client` (blocking, standard library) have the same
arguments, methods, results and errors::

    from connectord.client import Client, ExecutionRejected

    with Client("http://127.0.0.1:8080", email="me@example.com", api_key=key) as client:
        execution = client.schedule("verify_credentials", "sql", account_data={"url": url})
        try:
            print(client.wait(execution.id))
        except ExecutionRejected as rejected:
            print(rejected.reason)
"""

from connectord.client.aio import AsyncClient
from connectord.client.errors import (
    ApiError,
    AuthenticationError,
    BadRequest,
    ClientError,
    ConnectionFailed,
    ExecutionRejected,
    NotFound,
    ResultExpired,
    ResultNotFound,
    ResultNotReady,
    WaitTimeout,
)
from connectord.client.models import Execution, LogLine, NotReady, Ready, Result
from connectord.client.sync import Client

__all__ = [
    "ApiError",
    "AsyncClient",
    "AuthenticationError",
    "BadRequest",
    "Client",
    "ClientError",
    "ConnectionFailed",
    "Execution",
    "ExecutionRejected",
    "LogLine",
    "NotFound",
    "NotReady",
    "Ready",
    "Result",
    "ResultExpired",
    "ResultNotFound",
    "ResultNotReady",
    "WaitTimeout",
]
