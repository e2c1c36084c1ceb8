"""Product schemas from a category's attributes, and reading the category from cfg."""

from __future__ import annotations

import jsonschema
import pytest

from connectord import ConfigError
from connectord.connectors.shop.metadata import category_id_from, meta_model
from connectord.connectors.shop.schema import (
    AttributeSpec,
    CategoryRef,
    attribute_key,
    product_input_schema,
    product_output_schema,
)

CATEGORY = CategoryRef(18, "Smartphones", "Electronics > Phones & Tablets > Smartphones")
COLOR = AttributeSpec(2, "Color", "color", ("Black", "White"))
ENGRAVING = AttributeSpec(30, "Engraving", "engraving", ())


def validator(schema: dict) -> jsonschema.Draft202012Validator:
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def test_attributes_become_properties_with_their_terms_as_enum() -> None:
    schema = product_input_schema(CATEGORY, [COLOR, ENGRAVING])
    attributes = schema["properties"]["attributes"]["properties"]
    assert attributes["color"]["enum"] == ["Black", "White"]
    assert attributes["color"]["title"] == "Color"
    assert "enum" not in attributes["engraving"]  # no terms known: any text
    assert schema["title"] == "Product in Electronics > Phones & Tablets > Smartphones"


def test_the_input_schema_accepts_a_product_and_refuses_wrong_terms() -> None:
    check = validator(product_input_schema(CATEGORY, [COLOR]))
    good = {"sku": "PH-1", "name": "Phone", "regular_price": "199.00", "attributes": {"color": "Black"}}
    assert not list(check.iter_errors(good))
    assert not check.is_valid(good | {"attributes": {"color": "Mauve"}})
    assert not check.is_valid(good | {"attributes": {"colour": "Black"}})  # typo
    assert not check.is_valid(good | {"regular_price": 199})  # WooCommerce wants strings
    assert not check.is_valid({"name": "No SKU"})


def test_the_output_schema_has_the_id_and_lists_attribute_terms() -> None:
    schema = product_output_schema(CATEGORY, [COLOR])
    check = validator(schema)
    assert "id" in schema["required"]
    product = {
        "id": 1001,
        "name": "Phone",
        "attributes": {"color": ["Black", "White"]},
        "categories": [{"id": 18, "name": "Smartphones", "slug": "smartphones"}],
    }
    assert not list(check.iter_errors(product))
    assert not check.is_valid(product | {"attributes": {"color": ["Mauve"]}})


def test_meta_model_per_operation() -> None:
    upsert = meta_model("upsert_product", CATEGORY, [COLOR])
    assert upsert.in_["required"] == ["sku", "name"]
    assert "id" in upsert.out["properties"]
    trigger = meta_model("get_products", CATEGORY, [COLOR])
    assert trigger.in_["properties"] == {}
    assert trigger.out == upsert.out
    with pytest.raises(ConfigError):
        meta_model("delete_everything", CATEGORY, [COLOR])


def test_attribute_key_drops_woocommerces_prefix() -> None:
    assert attribute_key("pa_screen-size", 6) == "screen-size"
    assert attribute_key("", 6) == "attribute_6"


@pytest.mark.parametrize("value, expected", [("42", 42), (42, 42), (" 7 ", 7)])
def test_category_id_from_cfg(value: object, expected: int) -> None:
    assert category_id_from({"category": value}) == expected


@pytest.mark.parametrize(
    "cfg",
    [
        {},
        {"category": ""},
        {"category": None},
        {"category": "abc"},
        {"category": "0"},
        {"category": True},
        {"category": -3},
    ],
)
def test_a_missing_or_malformed_category_is_a_config_error(cfg: dict) -> None:
    with pytest.raises(ConfigError) as caught:
        category_id_from(cfg)
    assert caught.value.field == "category"
