"""What the shop's answers mean: the decoded JSON, or the ShopError that explains why not.

Pure functions of a finished response (or a transport exception), so every message is
built here, from the shop's address and WooCommerce's own words, never from a full URL.
"""

from __future__ import annotations

import errno
import html
import os
from dataclasses import dataclass
from typing import Any

import aiohttp
import msgspec
from multidict import CIMultiDictProxy

from connectord.connectors.shop.credentials import ShopCredentials
from connectord.connectors.shop.errors import (
    NotAShopError,
    ShopAuthError,
    ShopNotFoundError,
    ShopResponseError,
    ShopUnreachableError,
    ShopUrlError,
)


@dataclass(frozen=True)
class ShopResponse:
    status: int
    content_type: str
    body: bytes
    headers: CIMultiDictProxy[str]


def transport_error(
    exc: BaseException, shop: ShopCredentials, timeout: aiohttp.ClientTimeout
) -> Exception:
    """A message about a failed request that names the host, never the full URL."""
    host, port = shop.api_root.host, shop.api_root.port
    if isinstance(exc, aiohttp.ClientConnectorDNSError):
        return ShopUnreachableError(f"could not resolve the host name '{host}' of {shop.display}")
    if isinstance(exc, aiohttp.ClientConnectorCertificateError):
        return ShopUnreachableError(
            f"the TLS certificate of {host} is not valid: {exc.certificate_error}")
    if isinstance(exc, aiohttp.ClientSSLError):
        return ShopUnreachableError(f"the TLS handshake with {host}:{port} failed")
    if isinstance(exc, aiohttp.ClientConnectorError):
        return ShopUnreachableError(f"could not connect to {host}:{port}: {_os_reason(exc)}")
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        return ShopUnreachableError(
            f"connecting to {host}:{port} timed out after {timeout.connect:g} s")
    if isinstance(exc, TimeoutError):
        return ShopUnreachableError(f"{shop.display} did not answer in time "
                                    f"(limit {timeout.total:g} s per request)")
    if isinstance(exc, aiohttp.TooManyRedirects):
        return NotAShopError(f"{shop.display} redirects in a loop; check url")
    if isinstance(exc, aiohttp.InvalidURL):
        return ShopUrlError(f"{shop.display} redirected to an invalid URL; check url")
    return ShopUnreachableError(
        f"the connection to {host}:{port} failed ({type(exc).__name__})")


def _os_reason(exc: aiohttp.ClientConnectorError) -> str:
    code = exc.os_error.errno
    if code == errno.ECONNREFUSED:
        return "connection refused (is the shop running, and on this port?)"
    return os.strerror(code).lower() if code else "connection failed"


def interpret(response: ShopResponse, where: str) -> Any:
    """The decoded JSON of a successful answer, or the ShopError that explains the failure."""
    data = _json(response)
    if data is _NOT_JSON:
        if response.status == 401:
            raise ShopAuthError(f"{where} asks for HTTP authentication before WooCommerce "
                                "(HTTP 401 from the web server, not from WooCommerce)",
                                401, "", "")
        raise NotAShopError(
            f"{where} answered HTTP {response.status} with "
            f"{response.content_type or 'no content type'}, not with WooCommerce's REST API; "
            "url must be the shop's WordPress address, such as https://shop.example.com")
    if 200 <= response.status < 300:
        return data
    code, message = _wp_error(data)
    if response.status in (401, 403) and code:
        raise ShopAuthError(_auth_message(where, response.status, code, message),
                            response.status, code, message)
    if response.status == 404 and code == "rest_no_route":
        raise NotAShopError(f"{where} runs WordPress but has no WooCommerce REST API v3 "
                            "(is WooCommerce installed and active?)")
    if response.status == 404 and code:
        raise ShopNotFoundError(f"{where}: {message} ({code})", code)
    if response.status in (502, 503, 504):
        raise ShopUnreachableError(f"{where} is unavailable right now (HTTP {response.status})")
    if not code:
        raise NotAShopError(f"{where} answered HTTP {response.status} with JSON that is not "
                            "a WordPress REST error; check url")
    raise ShopResponseError(f"{where} answered HTTP {response.status}: {message} ({code})")


def _auth_message(where: str, status: int, code: str, message: str) -> str:
    text = f"{where} refused the API key: {message} ({code})"
    if status == 403:
        text += ("; the key works, but its user may not read products (give the key to a "
                 "Shop manager or Administrator, with Read permission)")
    elif code == "woocommerce_rest_cannot_view":
        # WooCommerce saw no key at all: Basic auth is ignored over plain HTTP, and some
        # servers (Apache with CGI) drop the Authorization header.
        text += ("; the shop did not receive the key: use the https:// address, and make "
                 "sure the web server passes the Authorization header on to WordPress")
    return text


_NOT_JSON = object()


def _json(response: ShopResponse) -> Any:
    if "json" not in response.content_type:
        return _NOT_JSON
    try:
        return msgspec.json.decode(response.body)
    except msgspec.DecodeError:
        return _NOT_JSON


def _wp_error(data: Any) -> tuple[str, str]:
    """(code, message) of a WordPress REST error body, or ("", "") if it is not one."""
    if isinstance(data, dict) and isinstance(data.get("code"), str):
        message = data.get("message")
        text = html.unescape(message) if isinstance(message, str) else ""
        return data["code"][:100], text[:300]
    return "", ""


def records(data: Any, what: str) -> list[dict[str, Any]]:
    if not isinstance(data, list) or not all(isinstance(item, dict) for item in data):
        raise NotAShopError(f"the shop sent something other than a WooCommerce {what}; check url")
    return data


def record(data: Any, what: str) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise NotAShopError(f"the shop sent something other than a WooCommerce {what}; check url")
    return data


def int_header(response: ShopResponse, name: str) -> int | None:
    try:
        return int(response.headers[name])
    except (KeyError, ValueError):
        return None
