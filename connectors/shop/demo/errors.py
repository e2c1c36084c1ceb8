"""WordPress/WooCommerce REST error responses: ``{"code", "message", "data": {"status"}}``."""

from __future__ import annotations

from typing import Any

from aiohttp import web


def wc_error(status: int, code: str, message: str, **data: Any) -> web.Response:
    """An error in the shape every WordPress REST route uses, so clients parse one shape."""
    return web.json_response(
        {"code": code, "message": message, "data": {"status": status, **data}}, status=status
    )


def not_found(code: str = "woocommerce_rest_term_invalid") -> web.Response:
    return wc_error(404, code, "Resource does not exist.")


def no_route() -> web.Response:
    """What WordPress answers for a path under /wp-json that no route matches."""
    return wc_error(404, "rest_no_route", "No route was found matching the URL and request method.")
