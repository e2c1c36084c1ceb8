"""``get_meta_model``: the product schemas for the category chosen in ``cfg``."""

from __future__ import annotations

import html
from collections.abc import Mapping
from typing import Any

from connectord.connectors.shop.categories import CategoryTree, parse_category
from connectord.connectors.shop.client import ShopClient, gather_all
from connectord.connectors.shop.credentials import ShopCredentials
from connectord.connectors.shop.describe import GET_PRODUCTS, UPSERT_PRODUCT
from connectord.connectors.shop.errors import NotAShopError, ShopNotFoundError
from connectord.connectors.shop.schema import (
    AttributeSpec,
    CategoryRef,
    attribute_key,
    no_input_schema,
    product_input_schema,
    product_output_schema,
)
from connectord.plugins.errors import ConfigError
from connectord.plugins.types import MetaModel


def category_id_from(cfg: Mapping[str, Any]) -> int:
    """The category id of the node's configuration; ConfigError naming ``category``."""
    raw = cfg.get("category")
    if raw is None or raw == "":
        raise ConfigError("choose a category: the product fields depend on it", field="category")
    if isinstance(raw, int) and not isinstance(raw, bool) and raw > 0:
        return raw
    if isinstance(raw, str) and raw.strip().isdigit() and int(raw) > 0:
        return int(raw)
    raise ConfigError(f"category must be a category id such as \"42\", not {str(raw)[:40]!r}",
                      field="category")


async def product_meta_model(
    shop: ShopCredentials, action: str, cfg: Mapping[str, Any]
) -> MetaModel:
    category_id = category_id_from(cfg)
    async with ShopClient.connect(shop) as client:
        try:
            record = parse_category(await client.category(category_id))
        except ShopNotFoundError:
            raise ConfigError(f"category {category_id} does not exist in the shop at "
                              f"{shop.display}", field="category") from None
        tree = CategoryTree([record])
        await tree.fetch_ancestors(client)
        attributes = await _attributes(client, category_id)
    category = CategoryRef(record.id, record.name, tree.label(record.id))
    return meta_model(action, category, attributes)


def meta_model(action: str, category: CategoryRef, attributes: list[AttributeSpec]) -> MetaModel:
    product = product_output_schema(category, attributes)
    if action == UPSERT_PRODUCT:
        return MetaModel(in_=product_input_schema(category, attributes), out=product)
    if action == GET_PRODUCTS:
        return MetaModel(in_=no_input_schema(), out=product)
    raise ConfigError(f"the shop connector has no operation '{action}'")


async def _attributes(client: ShopClient, category_id: int) -> list[AttributeSpec]:
    """The category's attributes with their terms, the terms of all attributes at once."""
    listed = await client.attributes(category=category_id)
    ids = [_attribute_id(a) for a in listed]
    terms = await gather_all(client.attribute_terms(i) for i in ids)
    return [
        AttributeSpec(
            id=attribute_id,
            name=html.unescape(str(attribute.get("name", ""))),
            key=attribute_key(str(attribute.get("slug", "")), attribute_id),
            terms=tuple(html.unescape(str(t["name"])) for t in attribute_terms if "name" in t),
        )
        for attribute_id, attribute, attribute_terms in zip(ids, listed, terms, strict=True)
    ]


def _attribute_id(attribute: dict[str, Any]) -> int:
    value = attribute.get("id")
    if not isinstance(value, int):
        raise NotAShopError("the shop sent an attribute without a numeric id; check url")
    return value
