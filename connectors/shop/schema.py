"""JSON schemas of a WooCommerce product for one category, built from its attributes.

Pure functions of plain records, so they are tested without a shop. The category's global
attributes (Color, Size, ...) become properties of an ``attributes`` object keyed by the
attribute's slug, with the attribute's terms as an enum when the shop lists them: a flow
editor can offer them as choices. The connector turns that object into WooCommerce's
``attributes: [{id, options}]`` list when it writes a product.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

JSONSchema = dict[str, Any]
DIALECT = "https://json-schema.org/draft/2020-12/schema"
#: WooCommerce takes and returns prices as decimal strings ("19.99"), never as numbers.
PRICE_PATTERN = r"^[0-9]+(\.[0-9]+)?$"
STATUSES = ["draft", "pending", "private", "publish"]
STOCK_STATUSES = ["instock", "outofstock", "onbackorder"]


@dataclass(frozen=True)
class AttributeSpec:
    id: int
    name: str
    key: str  # the property name: the slug without WooCommerce's "pa_" prefix
    terms: tuple[str, ...]  # empty when the shop lists none


@dataclass(frozen=True)
class CategoryRef:
    id: int
    name: str
    path: str  # "Electronics > Phones > Smartphones"


def attribute_key(slug: str, attribute_id: int) -> str:
    return slug.removeprefix("pa_") or f"attribute_{attribute_id}"


def _string(title: str, description: str = "", **extra: Any) -> JSONSchema:
    schema: JSONSchema = {"type": "string", "title": title}
    if description:
        schema["description"] = description
    return schema | extra


def _common_properties() -> dict[str, JSONSchema]:
    return {
        "name": _string("Name", minLength=1),
        "sku": _string("SKU", "Stock keeping unit, unique in the shop"),
        "status": _string("Status", enum=STATUSES, default="publish"),
        "regular_price": _string("Regular price", "Decimal string, e.g. \"19.99\"",
                                 pattern=PRICE_PATTERN),
        "sale_price": _string("Sale price", "Decimal string; empty for no sale",
                              pattern=rf"^$|{PRICE_PATTERN}"),
        "description": _string("Description", "HTML"),
        "short_description": _string("Short description", "HTML"),
        "manage_stock": {"type": "boolean", "title": "Manage stock"},
        "stock_quantity": {"type": ["integer", "null"], "title": "Stock quantity"},
        "stock_status": _string("Stock status", enum=STOCK_STATUSES),
        "weight": _string("Weight", "In the shop's weight unit, as a decimal string"),
    }


def _attribute_value(attribute: AttributeSpec) -> JSONSchema:
    value = _string(attribute.name)
    if attribute.terms:
        value["enum"] = list(attribute.terms)
    return value


def _attributes_object(attributes: list[AttributeSpec], *, many: bool) -> JSONSchema:
    """Input: one term per attribute (the product is a simple product). Output: a list,
    because a product read from the shop may carry several terms of one attribute."""
    properties: dict[str, JSONSchema] = {}
    for attribute in attributes:
        value = _attribute_value(attribute)
        if many:
            value = {"type": "array", "title": value.pop("title"), "items": value}
        properties[attribute.key] = value | {"x-woocommerce-attribute-id": attribute.id}
    schema: JSONSchema = {"type": "object", "title": "Attributes", "properties": properties}
    if not many:
        schema["additionalProperties"] = False  # a typo in an attribute name is an error
    return schema


def product_input_schema(category: CategoryRef, attributes: list[AttributeSpec]) -> JSONSchema:
    """A product to create or update (matched by SKU) in ``category``."""
    return {
        "$schema": DIALECT,
        "title": f"Product in {category.path}",
        "type": "object",
        "properties": _common_properties() | {
            "categories": {
                "type": "array", "title": "Additional categories",
                "description": f"Category {category.id} ({category.path}) is always set",
                "items": {"type": "object", "properties": {"id": {"type": "integer"}},
                          "required": ["id"]},
            },
            "attributes": _attributes_object(attributes, many=False),
        },
        "required": ["sku", "name"],
    }


def product_output_schema(category: CategoryRef, attributes: list[AttributeSpec]) -> JSONSchema:
    """A product as the shop returns it."""
    category_ref = {
        "type": "object",
        "properties": {"id": {"type": "integer"}, "name": {"type": "string"},
                       "slug": {"type": "string"}},
    }
    return {
        "$schema": DIALECT,
        "title": f"Product in {category.path}",
        "type": "object",
        "properties": _common_properties() | {
            "id": {"type": "integer", "title": "ID"},
            "slug": _string("Slug"),
            "permalink": _string("Permalink", format="uri"),
            "type": _string("Type", enum=["simple", "grouped", "external", "variable"]),
            "price": _string("Current price", "Sale price while on sale, else regular price"),
            "on_sale": {"type": "boolean", "title": "On sale"},
            # WooCommerce returns local time without an offset, so no "date-time" format.
            "date_created": _string("Created", "Shop's local time, ISO 8601 without offset"),
            "date_modified": _string("Modified", "Shop's local time, ISO 8601 without offset"),
            "categories": {"type": "array", "title": "Categories", "items": category_ref},
            "attributes": _attributes_object(attributes, many=True),
        },
        "required": ["id", "name"],
    }


def no_input_schema() -> JSONSchema:
    """A trigger takes no input message."""
    return {"$schema": DIALECT, "type": "object", "properties": {},
            "additionalProperties": False}
