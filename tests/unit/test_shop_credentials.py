"""The shop connector's description, credentials reading and auth-failure fields."""

from __future__ import annotations

import pytest

from connectord.connectors.shop.credentials import ShopCredentials, shop_site
from connectord.connectors.shop.errors import ShopAuthError, ShopUrlError
from connectord.connectors.shop.verify import auth_field
from connectord.plugins.manager import Selection, load_connectors

CREDS = {
    "url": "https://shop.example.com",
    "consumer_key": "ck_0123456789",
    "consumer_secret": "cs_0123456789",
}


def test_the_connector_loads_and_describes_itself() -> None:
    registry = load_connectors(Selection(allow=frozenset({"shop"}), entry_points=False))
    assert registry.errors == []
    info = registry.get("shop").info
    assert info.secret_fields() == ["consumer_key", "consumer_secret"]
    assert info.credentials_schema["required"] == ["url", "consumer_key", "consumer_secret"]
    for name in ("upsert_product", "get_products"):
        op = info.operation(name)
        assert op is not None and op.dynamic_metadata and op.model_methods == ["categories"]
    assert [a.name for a in info.actions] == ["upsert_product"]
    assert [t.name for t in info.triggers] == ["get_products"]


@pytest.mark.parametrize(
    "typed, site",
    [
        ("https://shop.example.com", "https://shop.example.com/"),
        ("https://shop.example.com/", "https://shop.example.com/"),
        (" https://shop.example.com/wp-json/wc/v3/ ", "https://shop.example.com/"),
        ("https://example.com/shop/wp-json", "https://example.com/shop"),
        ("http://127.0.0.1:8780/?lang=en#top", "http://127.0.0.1:8780/"),
    ],
)
def test_shop_site_normalises_what_people_type(typed: str, site: str) -> None:
    assert str(shop_site(typed)) == site


def test_the_api_root_is_below_the_site() -> None:
    shop = ShopCredentials.from_fields(CREDS | {"url": "https://example.com/shop/"})
    assert str(shop.api_root) == "https://example.com/shop/wp-json/wc/v3/"
    assert shop.display == "https://example.com/shop"
    assert "cs_0123456789" not in repr(shop) and "ck_0123456789" not in repr(shop)


@pytest.mark.parametrize(
    "typed", ["shop.example.com", "ftp://shop.example.com", "https://", "https://user:pw@shop.example.com"]
)
def test_unusable_urls_are_refused_without_echoing_them(typed: str) -> None:
    with pytest.raises(ShopUrlError) as caught:
        shop_site(typed)
    assert "pw" not in str(caught.value)


AUTH_ERROR = "woocommerce_rest_authentication_error"
CANNOT_VIEW = "woocommerce_rest_cannot_view"


@pytest.mark.parametrize(
    "status, code, message, url, field",
    [
        (401, AUTH_ERROR, "Consumer secret is invalid.", "https://s", "consumer_secret"),
        (
            401,
            AUTH_ERROR,
            "Invalid signature - provided signature does not match.",
            "https://s",
            "consumer_secret",
        ),
        (401, AUTH_ERROR, "Consumer key is invalid.", "https://s", "consumer_key"),
        (
            401,
            AUTH_ERROR,
            "The API key provided does not have read permissions.",
            "https://s",
            "consumer_key",
        ),
        (401, CANNOT_VIEW, "Sorry, you cannot list resources.", "http://s", "url"),
        (401, CANNOT_VIEW, "Sorry, you cannot list resources.", "https://s", None),
        (403, CANNOT_VIEW, "Sorry, you cannot list resources.", "https://s", "consumer_key"),
    ],
)
def test_auth_field_points_at_the_field_woocommerce_complained_about(
    status: int, code: str, message: str, url: str, field: str | None
) -> None:
    shop = ShopCredentials.from_fields(CREDS | {"url": url})
    assert auth_field(ShopAuthError("refused", status, code, message), shop) == field
