"""Sends a :class:`WebRequest` with aiohttp and returns a :class:`WebResponse`.

This is the one place that does HTTP; the ``call`` action's future runner and the
``callWebserviceEndpoint`` job type both go through :func:`call_endpoint`.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from functools import partial
from typing import Any

import aiohttp
from yarl import URL

from connectord import __version__
from connectord.connectors.webservice.auth import auth_headers
from connectord.connectors.webservice.body import CONTENT_TYPES, decode_body, encode_body
from connectord.connectors.webservice.errors import (
    EndpointTimeoutError,
    EndpointUnreachableError,
    ResponseTooLargeError,
)
from connectord.connectors.webservice.request import (
    QueryValue,
    WebRequest,
    WebResponse,
    merge_headers,
    resolve_url,
    safe_url,
)
from connectord.plugins import egress
from connectord.plugins.errors import ConfigError, UpstreamError

MAX_BODY_BYTES = 10 * 1024 * 1024
MAX_REDIRECTS = 10
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
USER_AGENT = f"connectord/{__version__}"
#: Headers that never follow a redirect to another origin, besides the credentials' own.
SENSITIVE_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie"})
_CHUNK_BYTES = 64 * 1024

_Reader = Callable[[aiohttp.ClientResponse], Awaitable[WebResponse]]


async def call_endpoint(
    request: WebRequest,
    credentials: Mapping[str, Any] | None = None,
    *,
    session: aiohttp.ClientSession | None = None,
    max_body_bytes: int = MAX_BODY_BYTES,
    read_body: bool = True,
) -> WebResponse:
    """Call the endpoint with the credentials' auth applied and return its answer, whatever
    the status (a 404 is a response, not an error).

    A relative ``request.url`` is appended to ``credentials["base_url"]``. Pass ``session``
    to reuse connections across calls (it is not closed); ``read_body=False`` skips the body.

    Every connection, each redirect's included, follows the egress policy (our own session:
    ``connectord.http_session``). Raises ConfigError (bad input, naming the field),
    EgressRefused (a destination the policy refuses), EndpointUnreachableError (refused, DNS,
    TLS), EndpointTimeoutError, ResponseTooLargeError or UpstreamError (anything else the
    endpoint got wrong).
    """
    credentials = credentials or {}
    url = resolve_url(request.url, credentials.get("base_url"))
    url = url.extend_query(query_pairs(request.search_params))
    auth = auth_headers(credentials)
    reader = partial(_read_response, max_body_bytes=max_body_bytes, read_body=read_body)
    where = f"{request.method} {safe_url(url)}"
    try:
        async with _session(session) as http, asyncio.timeout(request.timeout):
            return await _follow(http, request, url, auth, reader)
    except TimeoutError as exc:
        raise EndpointTimeoutError(f"{where} did not answer within {request.timeout:g} s") from exc
    except aiohttp.ClientConnectorError as exc:
        raise EndpointUnreachableError(f"{where}: {_connect_failure(exc)}") from exc
    except aiohttp.InvalidURL as exc:
        # Its message repeats the URL, which may carry user info or keys.
        raise ConfigError("url is not a valid URL", "url") from exc
    except aiohttp.ClientError as exc:
        raise UpstreamError(f"{where} failed: {_client_failure(exc)}") from exc


def query_pairs(params: Mapping[str, QueryValue]) -> list[tuple[str, str]]:
    """searchParams as query pairs: a list repeats the key, booleans become true/false."""
    pairs: list[tuple[str, str]] = []
    for key, value in params.items():
        for item in value if isinstance(value, list) else [value]:
            pairs.append((key, _query_text(item)))
    return pairs


def request_headers(request: WebRequest, auth: Mapping[str, str]) -> dict[str, str]:
    """The headers to send: a default User-Agent, the request's headers, a Content-Type for
    the body type unless one is given, then the auth headers, which win over any same-named
    header of the request."""
    headers = merge_headers({"User-Agent": USER_AGENT}, request.headers)
    if request.body is not None and not _has_header(headers, "content-type"):
        headers["Content-Type"] = CONTENT_TYPES[request.body_type]
    return merge_headers(headers, auth)


async def _follow(
    http: aiohttp.ClientSession,
    request: WebRequest,
    url: URL,
    auth: Mapping[str, str],
    reader: _Reader,
) -> WebResponse:
    # Redirects are followed here rather than by aiohttp, which drops only Authorization
    # when the origin changes: an API key header would leak to the other host.
    start, origin, method = url, url.origin(), request.method
    headers, data = request_headers(request, auth), encode_body(request)
    private = SENSITIVE_HEADERS | {name.lower() for name in auth}
    for _ in range(MAX_REDIRECTS + 1):
        hop_headers = headers if url.origin() == origin else _without(headers, private)
        async with http.request(
            method,
            url,
            headers=hop_headers,
            data=data,
            allow_redirects=False,
            timeout=aiohttp.ClientTimeout(total=request.timeout),
        ) as resp:
            location = resp.headers.get("Location")
            if not (request.follow_redirects and resp.status in REDIRECT_STATUSES and location):
                return await reader(resp)
            try:
                url = resp.url.join(URL(location))
            except ValueError:
                raise UpstreamError(f"{method} {safe_url(resp.url)} redirected to an invalid URL") from None
            if url.scheme not in ("http", "https"):
                raise UpstreamError(f"{method} {safe_url(resp.url)} redirected to a non-HTTP URL")
            if resp.status == 303 or (resp.status in (301, 302) and method == "POST"):
                # What browsers (and aiohttp) do: the redirected request is a GET without body.
                method = "HEAD" if method == "HEAD" else "GET"
                data, headers = None, _without(headers, {"content-type"})
    raise UpstreamError(f"{request.method} {safe_url(start)} redirected more than {MAX_REDIRECTS} times")


async def _read_response(
    resp: aiohttp.ClientResponse, *, max_body_bytes: int, read_body: bool
) -> WebResponse:
    headers = _flat_headers(resp)
    body = None
    if read_body and resp.method != "HEAD":
        raw = await _read_capped(resp, max_body_bytes)
        body = decode_body(raw, resp.content_type, resp.charset)
    return WebResponse(status=resp.status, reason=resp.reason or "", headers=headers, body=body)


async def _read_capped(resp: aiohttp.ClientResponse, limit: int) -> bytes:
    too_large = f"the response body of {safe_url(resp.url)} is larger than {limit} bytes"
    if resp.content_length is not None and resp.content_length > limit:
        raise ResponseTooLargeError(too_large)
    # Counted after decompression, so a small gzip bomb is caught too.
    buf = bytearray()
    async for chunk in resp.content.iter_chunked(_CHUNK_BYTES):
        buf += chunk
        if len(buf) > limit:
            raise ResponseTooLargeError(too_large)
    return bytes(buf)


def _flat_headers(resp: aiohttp.ClientResponse) -> dict[str, str]:
    # Repeated headers are joined as HTTP allows (RFC 9110 5.3).
    out: dict[str, str] = {}
    for name, value in resp.headers.items():
        out[name] = f"{out[name]}, {value}" if name in out else value
    return out


@asynccontextmanager
async def _session(session: aiohttp.ClientSession | None) -> AsyncIterator[aiohttp.ClientSession]:
    if session is not None:
        yield session
        return
    # No cookie jar: each call stands alone, and cookies must not cross redirects.
    async with egress.http_session(cookie_jar=aiohttp.DummyCookieJar()) as own:
        yield own


def _connect_failure(exc: aiohttp.ClientConnectorError) -> str:
    where = f"{exc.host}:{exc.port}"
    if isinstance(exc, aiohttp.ClientConnectorCertificateError):
        return f"the TLS certificate of {where} was refused: {exc.certificate_error}"
    if isinstance(exc, aiohttp.ClientSSLError):
        return f"the TLS handshake with {where} failed"
    error = exc.os_error
    reason = os.strerror(error.errno) if error.errno and error.errno > 0 else error.strerror
    return f"cannot connect to {where}: {reason or type(error).__name__}"


def _client_failure(exc: aiohttp.ClientError) -> str:
    # ClientResponseError's text embeds the full URL (query keys included): name it only.
    if isinstance(exc, aiohttp.ClientResponseError):
        return type(exc).__name__
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def _query_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _has_header(headers: Mapping[str, str], name: str) -> bool:
    return any(key.lower() == name for key in headers)


def _without(headers: Mapping[str, str], names: frozenset[str] | set[str]) -> dict[str, str]:
    return {k: v for k, v in headers.items() if k.lower() not in names}
