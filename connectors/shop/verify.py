"""``verify_credentials``: one real, cheap, authenticated request, and a precise verdict.

Listing one category needs a valid key with read access, proves the URL is WooCommerce's
API, and is what the connector's dropdown does next. (The API index would not do: it is
public in WordPress, so it proves nothing about the key.)
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from connectord.connectors.shop.client import ShopClient
from connectord.connectors.shop.credentials import ShopCredentials
from connectord.connectors.shop.errors import (
    NotAShopError,
    ShopAuthError,
    ShopUnreachableError,
    ShopUrlError,
)
from connectord.plugins.egress import EgressRefused
from connectord.plugins.types import VerifyResult, not_verified, verified


async def verify(credentials: Mapping[str, Any]) -> VerifyResult:
    try:
        shop = ShopCredentials.from_fields(credentials)
    except ShopUrlError as exc:
        return not_verified("config", str(exc), "url")
    try:
        async with ShopClient.connect(shop) as client:
            page = await client.categories(per_page=1)
    except ShopAuthError as exc:
        return not_verified("auth", str(exc), auth_field(exc, shop))
    except ShopUnreachableError as exc:
        return not_verified("network", str(exc), "url")
    except (NotAShopError, ShopUrlError, EgressRefused) as exc:
        return not_verified("config", str(exc), "url")
    count = "" if page.total is None else f"; it has {page.total} product categories"
    return verified(f"Connected to the WooCommerce REST API of {shop.display}{count}.")


def auth_field(refusal: ShopAuthError, shop: ShopCredentials) -> str | None:
    """The credential field a refusal points at, from WooCommerce's error."""
    text = refusal.shop_message.lower()
    if refusal.code == "woocommerce_rest_authentication_error":
        # "Consumer secret is invalid." / "Invalid signature ..." vs "Consumer key is
        # invalid." / "The API key provided does not have read permissions."
        return "consumer_secret" if "secret" in text or "signature" in text else "consumer_key"
    if refusal.status == 403:
        return "consumer_key"  # a valid key whose user lacks the rights
    if refusal.code == "woocommerce_rest_cannot_view" and shop.api_root.scheme == "http":
        return "url"  # the key never arrived: Basic auth over plain HTTP is ignored
    return None
