"""The ``exportProducts`` job type: the shop's products (of one category, or all), read
page by page as the shop serves them."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from connectord.connectors.shop.client import MAX_PAGES, MAX_PER_PAGE, ShopClient
from connectord.connectors.shop.credentials import ShopCredentials
from connectord.connectors.shop.describe import DEFAULT_EXPORT_LIMIT, MAX_EXPORT_LIMIT
from connectord.connectors.shop.errors import ShopNotFoundError
from connectord.plugins.errors import ConfigError
from connectord.plugins.types import JobResult

log = logging.getLogger(__name__)


async def export_products(shop: ShopCredentials, params: Mapping[str, Any]) -> JobResult:
    """``data``: ``products`` (each as the shop sends it, without ``_links``), ``count`` and
    ``total`` (how many the shop has, when it says); ``outputs``: ``count``."""
    category = category_param(params)
    limit = limit_param(params)
    per_page = min(limit, MAX_PER_PAGE)
    products: list[dict[str, Any]] = []
    total: int | None = None
    async with ShopClient.connect(shop) as client:
        if category is not None:
            await _check_category(client, shop, category)
        for page in range(1, MAX_PAGES + 1):
            listed = await client.products(page=page, per_page=per_page, category=category)
            products += listed.items
            total = listed.total
            if len(products) >= limit or not listed.items or not listed.has_more(page, per_page):
                break
    exported = [{k: v for k, v in p.items() if k != "_links"} for p in products[:limit]]
    log.info(
        "exported %d of %s products from %s", len(exported), total if total is not None else "?", shop.display
    )
    data = {"products": exported, "count": len(exported), "total": total}
    return JobResult(data=data, outputs={"count": len(exported)})


def category_param(params: Mapping[str, Any]) -> int | None:
    raw = params.get("category")
    if raw is None or raw == "":
        return None
    if isinstance(raw, int) and not isinstance(raw, bool) and raw > 0:
        return raw
    if isinstance(raw, str) and raw.isascii() and raw.isdigit() and int(raw) > 0:
        return int(raw)
    raise ConfigError('category must be a category id such as "19"', "params.category")


def limit_param(params: Mapping[str, Any]) -> int:
    raw = params.get("limit", DEFAULT_EXPORT_LIMIT)
    if isinstance(raw, bool) or not isinstance(raw, int) or not 1 <= raw <= MAX_EXPORT_LIMIT:
        raise ConfigError(f"limit must be a whole number from 1 to {MAX_EXPORT_LIMIT}", "params.limit")
    return raw


async def _check_category(client: ShopClient, shop: ShopCredentials, category: int) -> None:
    # WooCommerce answers an unknown category with no products: say so instead.
    try:
        await client.category(category)
    except ShopNotFoundError:
        message = f"category {category} does not exist in the shop at {shop.display}"
        raise ConfigError(message, "params.category") from None
