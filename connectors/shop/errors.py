"""Why talking to a shop failed, as exceptions whose messages a shop owner can act on.

Messages name the shop by its address without user info or query string and never carry
the consumer key or secret. The runtime reports the class name as the error type.
"""

from __future__ import annotations

from connectord.plugins.errors import ConnectorError, UpstreamError


class ShopUrlError(ConnectorError):
    """The ``url`` credential is not a usable shop address."""


class ShopUnreachableError(UpstreamError):
    """No HTTP answer: DNS, refused connection, TLS failure, timeout, 502-504."""


class NotAShopError(UpstreamError):
    """Something answered, but not WooCommerce's REST API (an HTML page, a foreign API)."""


class ShopAuthError(UpstreamError):
    """The shop refused the API key; ``status``, ``code`` and ``shop_message`` are
    WooCommerce's (401: who are you?, 403: you may not)."""

    def __init__(self, message: str, status: int, code: str, shop_message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.shop_message = shop_message


class ShopNotFoundError(UpstreamError):
    """The shop's API says the requested record does not exist (``code`` is WooCommerce's)."""

    def __init__(self, message: str, code: str) -> None:
        super().__init__(message)
        self.code = code


class ShopResponseError(UpstreamError):
    """The shop answered with an error or a shape this connector does not understand."""
