"""The shop connector through the real plugin manager and runtime, against the demo shop
on loopback (and a few servers that are not shops)."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator
from typing import Any

import msgspec
import pytest
from aiohttp import web

from connectord.connectors.shop import client as shop_client
from connectord.connectors.shop.demo import (
    DEMO_KEY,
    DEMO_SECRET,
    create_demo_shop_app,
    serve_in_thread,
)
from connectord.connectors.shop.demo.data import build_catalogue
from connectord.plugins.manager import ConnectorRegistry, Selection, load_connectors
from connectord.plugins.types import SelectQuery
from connectord.runtime.calls import InvalidCallError, run_call
from connectord.sandbox.calls import Call
from connectord.sandbox.outcomes import Outcome, Rejected, Succeeded
from connectord.sandbox.redact import MASK

# Their servers are on loopback, which the egress policy refuses unless allowed.
pytestmark = pytest.mark.usefixtures("loopback_egress")

WRONG_KEY = "ck_wrong_key_0000"
WRONG_SECRET = "cs_wrong_secret_0000"
SECRETS = (DEMO_KEY, DEMO_SECRET, WRONG_KEY, WRONG_SECRET)
CATALOGUE = build_catalogue()
SMARTPHONES = next(
    c.id
    for c in CATALOGUE.categories
    if CATALOGUE.path(c.id) == "Electronics > Phones & Tablets > Smartphones"
)


@pytest.fixture(scope="module")
def registry() -> ConnectorRegistry:
    registry = load_connectors(Selection(allow=frozenset({"shop"}), entry_points=False))
    assert registry.errors == []
    return registry


class RequestLog:
    """Counts the requests the demo shop serves: observation, not a stand-in."""

    def __init__(self) -> None:
        self.paths: list[str] = []

    @web.middleware
    async def middleware(self, request: web.Request, handler: Any) -> web.StreamResponse:
        self.paths.append(request.path_qs)
        return await handler(request)


@pytest.fixture(scope="module")
def requests_seen() -> RequestLog:
    return RequestLog()


@pytest.fixture(scope="module")
def shop_url(requests_seen: RequestLog) -> Iterator[str]:
    app = create_demo_shop_app(DEMO_KEY, DEMO_SECRET)
    app.middlewares.append(requests_seen.middleware)
    with serve_in_thread(app) as url:
        yield url


@pytest.fixture
def creds(shop_url: str) -> dict[str, str]:
    return {"url": shop_url, "consumer_key": DEMO_KEY, "consumer_secret": DEMO_SECRET}


def call(registry: ConnectorRegistry, method: str, credentials: dict[str, str], **kw: Any) -> Outcome:
    """Run one call and check that no secret reached the outcome, not even masked (a mask
    means the connector leaked a secret and only the runtime's redaction caught it)."""
    outcome = run_call(
        registry,
        Call(
            connector="shop",
            method=method,  # type: ignore[arg-type]
            credentials=credentials,
            **kw,
        ),
    )
    text = msgspec.json.encode(outcome).decode()
    assert MASK not in text and not any(s in text for s in SECRETS), text
    return outcome


def verify(registry: ConnectorRegistry, credentials: dict[str, str]) -> dict[str, Any]:
    outcome = call(registry, "verify_credentials", credentials)
    assert isinstance(outcome, Succeeded), outcome
    return outcome.data


def select(registry: ConnectorRegistry, credentials: dict[str, str], **query: Any) -> Outcome:
    return call(
        registry,
        "select_model",
        credentials,
        action="upsert_product",
        model_method="categories",
        query=SelectQuery(**query),
    )


def meta(
    registry: ConnectorRegistry, credentials: dict[str, str], action: str, cfg: dict[str, Any]
) -> Outcome:
    return call(registry, "get_meta_model", credentials, action=action, cfg=cfg)


@pytest.fixture
def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --- verify_credentials ------------------------------------------------------------------


def test_good_credentials_are_verified(registry: ConnectorRegistry, creds: dict[str, str]) -> None:
    result = verify(registry, creds)
    assert result["verified"] is True
    assert f"{len(CATALOGUE.categories)} product categories" in result["message"]


@pytest.mark.parametrize(
    "change, field, words",
    [
        ({"consumer_secret": WRONG_SECRET}, "consumer_secret", "Consumer secret is invalid"),
        ({"consumer_key": WRONG_KEY}, "consumer_key", "Consumer key is invalid"),
    ],
)
def test_wrong_credentials_are_an_auth_failure_naming_the_field(
    registry: ConnectorRegistry,
    creds: dict[str, str],
    change: dict[str, str],
    field: str,
    words: str,
) -> None:
    result = verify(registry, creds | change)
    assert result["verified"] is False
    assert result["failure"] == {"kind": "auth", "field": field}
    assert words in result["message"]


def test_an_unreachable_shop_is_a_network_failure(
    registry: ConnectorRegistry, creds: dict[str, str], closed_port: int
) -> None:
    result = verify(registry, creds | {"url": f"http://127.0.0.1:{closed_port}"})
    assert result["failure"] == {"kind": "network", "field": "url"}
    assert "connection refused" in result["message"]


def test_an_unknown_host_is_a_network_failure(registry: ConnectorRegistry, creds: dict[str, str]) -> None:
    result = verify(registry, creds | {"url": "https://shop.invalid"})
    assert result["failure"] == {"kind": "network", "field": "url"}
    assert "shop.invalid" in result["message"]


def test_a_shop_that_does_not_answer_in_time_is_a_network_failure(
    registry: ConnectorRegistry, creds: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(
        shop_client, "REQUEST_TIMEOUT", shop_client.aiohttp.ClientTimeout(total=0.5, connect=0.5)
    )
    with socket.socket() as silent:  # listens, so connecting works, but never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        result = verify(registry, creds | {"url": f"http://127.0.0.1:{silent.getsockname()[1]}"})
    assert result["failure"] == {"kind": "network", "field": "url"}
    assert "did not answer in time" in result["message"]


def test_a_web_page_that_is_not_a_shop_is_a_config_failure(
    registry: ConnectorRegistry, creds: dict[str, str], shop_url: str
) -> None:
    result = verify(registry, creds | {"url": f"{shop_url}/blog"})  # the demo's HTML 404 page
    assert result["failure"] == {"kind": "config", "field": "url"}
    assert "HTTP 404 with text/html" in result["message"]


def wordpress_without_woocommerce() -> web.Application:
    async def no_route(request: web.Request) -> web.Response:
        return web.json_response(
            {
                "code": "rest_no_route",
                "message": "No route was found matching the URL and request method.",
                "data": {"status": 404},
            },
            status=404,
        )

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", no_route)
    return app


def some_other_json_api() -> web.Application:
    async def hello(request: web.Request) -> web.Response:
        return web.json_response({"hello": "world"})

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", hello)
    return app


@pytest.mark.parametrize(
    "make_app, words",
    [
        (wordpress_without_woocommerce, "no WooCommerce REST API"),
        (some_other_json_api, "something other than a WooCommerce list"),
    ],
)
def test_json_apis_that_are_not_woocommerce_are_a_config_failure(
    registry: ConnectorRegistry, creds: dict[str, str], make_app: Any, words: str
) -> None:
    with serve_in_thread(make_app()) as url:
        result = verify(registry, creds | {"url": url})
    assert result["failure"] == {"kind": "config", "field": "url"}
    assert words in result["message"]


def test_credentials_outside_the_schema_are_refused_before_any_request(
    registry: ConnectorRegistry, creds: dict[str, str]
) -> None:
    result = verify(registry, {"url": creds["url"], "consumer_key": DEMO_KEY})
    assert result["failure"] == {"kind": "config", "field": "consumer_secret"}


def test_the_hook_itself_never_puts_a_secret_in_a_message(
    registry: ConnectorRegistry, creds: dict[str, str], closed_port: int
) -> None:
    """Bypass the runtime's redaction: the connector's own messages must be clean."""
    for credentials in (
        creds | {"consumer_secret": WRONG_SECRET},
        creds | {"consumer_key": WRONG_KEY},
        creds | {"url": f"http://127.0.0.1:{closed_port}"},
    ):
        result = asyncio.run(registry.call("shop", "verify_credentials", credentials=credentials))
        assert not any(s in result.message for s in SECRETS), result.message


# --- select_model: categories ------------------------------------------------------------


def all_pages(registry: ConnectorRegistry, creds: dict[str, str], **query: Any) -> list[dict]:
    options: list[dict] = []
    cursor = None
    for _ in range(100):
        outcome = select(registry, creds, cursor=cursor, **query)
        assert isinstance(outcome, Succeeded), outcome
        options += outcome.data["options"]
        cursor = outcome.data["next_cursor"]
        if cursor is None:
            return options
    raise AssertionError("paging did not end")


def test_paging_through_all_categories_sees_each_once_with_its_path(
    registry: ConnectorRegistry, creds: dict[str, str]
) -> None:
    options = all_pages(registry, creds, limit=100)
    values = [o["value"] for o in options]
    assert len(values) == len(set(values)) == len(CATALOGUE.categories)
    assert {int(v) for v in values} == {c.id for c in CATALOGUE.categories}
    labels = {int(o["value"]): o["label"] for o in options}
    assert labels[SMARTPHONES] == "Electronics > Phones & Tablets > Smartphones"  # unescaped
    assert all(labels[c.id] == CATALOGUE.path(c.id) for c in CATALOGUE.categories)


def test_a_page_of_options_needs_few_requests(
    registry: ConnectorRegistry, creds: dict[str, str], requests_seen: RequestLog
) -> None:
    before = len(requests_seen.paths)
    outcome = select(registry, creds, limit=100)
    assert isinstance(outcome, Succeeded) and len(outcome.data["options"]) == 100
    # One page, then the missing ancestors one level at a time (two levels above leaves).
    assert len(requests_seen.paths) - before <= 3


def test_search_is_done_by_the_shop_and_pages_too(registry: ConnectorRegistry, creds: dict[str, str]) -> None:
    expected = {c.id for c in CATALOGUE.categories if "phone" in c.name.lower() or "phone" in c.slug}
    first = select(registry, creds, search="Phone", limit=3)
    assert isinstance(first, Succeeded)
    assert len(first.data["options"]) == 3 and first.data["next_cursor"]
    options = all_pages(registry, creds, search="Phone", limit=3)
    assert {int(o["value"]) for o in options} == expected
    assert len(options) == len(expected)
    assert "Electronics > Audio > Headphones" in {o["label"] for o in options}


def test_a_search_without_matches_is_an_empty_last_page(
    registry: ConnectorRegistry, creds: dict[str, str]
) -> None:
    outcome = select(registry, creds, search="zzz-no-such-category")
    assert isinstance(outcome, Succeeded)
    assert outcome.data == {"options": [], "next_cursor": None}


def test_a_cursor_of_another_search_is_rejected(registry: ConnectorRegistry, creds: dict[str, str]) -> None:
    first = select(registry, creds, search="phone", limit=2)
    assert isinstance(first, Succeeded)
    outcome = select(registry, creds, search="laptop", cursor=first.data["next_cursor"])
    assert isinstance(outcome, Rejected) and outcome.error_type == "InvalidCursorError"


def test_select_with_wrong_credentials_is_rejected_with_the_reason(
    registry: ConnectorRegistry, creds: dict[str, str]
) -> None:
    outcome = select(registry, creds | {"consumer_secret": WRONG_SECRET})
    assert isinstance(outcome, Rejected)
    assert outcome.error_type == "ShopAuthError"
    assert "Consumer secret is invalid" in outcome.message


# --- get_meta_model ----------------------------------------------------------------------


def test_metadata_has_the_categorys_inherited_attributes_with_their_terms(
    registry: ConnectorRegistry, creds: dict[str, str]
) -> None:
    outcome = meta(registry, creds, "upsert_product", {"category": str(SMARTPHONES)})
    assert isinstance(outcome, Succeeded), outcome
    schema_in, schema_out = outcome.data["in"], outcome.data["out"]
    attributes = schema_in["properties"]["attributes"]["properties"]
    assert list(attributes) == ["brand", "color", "storage", "screen-size", "connectivity", "memory"]
    for attribute in CATALOGUE.applicable_attributes(SMARTPHONES):
        key = attribute.slug.removeprefix("pa_")
        assert attributes[key]["enum"] == [t.name for t in attribute.terms]
    assert schema_in["title"] == "Product in Electronics > Phones & Tablets > Smartphones"
    assert schema_in["properties"]["regular_price"]["type"] == "string"
    assert "id" in schema_out["required"]
    assert schema_out["properties"]["attributes"]["properties"]["memory"]["type"] == "array"


def test_a_trigger_takes_no_input_and_emits_products(
    registry: ConnectorRegistry, creds: dict[str, str]
) -> None:
    outcome = meta(registry, creds, "get_products", {"category": SMARTPHONES})
    assert isinstance(outcome, Succeeded)
    assert outcome.data["in"]["properties"] == {}
    assert "sku" in outcome.data["out"]["properties"]


@pytest.mark.parametrize("cfg", [{"category": "99999"}, {"category": "phones"}])
def test_an_unknown_category_is_rejected_naming_the_field(
    registry: ConnectorRegistry, creds: dict[str, str], cfg: dict[str, str]
) -> None:
    outcome = meta(registry, creds, "upsert_product", cfg)
    assert isinstance(outcome, Rejected), outcome
    assert outcome.error_type == "ConfigError" and outcome.field == "category"


def test_a_missing_category_is_refused_before_the_connector_runs(
    registry: ConnectorRegistry, creds: dict[str, str]
) -> None:
    refusal = "configuration field 'category' of 'upsert_product' is required"
    with pytest.raises(InvalidCallError, match=refusal) as refused:
        meta(registry, creds, "upsert_product", {})
    assert refused.value.field == "cfg.category"


def test_metadata_from_an_unreachable_shop_is_rejected(
    registry: ConnectorRegistry, creds: dict[str, str], closed_port: int
) -> None:
    outcome = meta(
        registry,
        creds | {"url": f"http://127.0.0.1:{closed_port}"},
        "upsert_product",
        {"category": str(SMARTPHONES)},
    )
    assert isinstance(outcome, Rejected) and outcome.error_type == "ShopUnreachableError"


async def test_the_runtime_from_an_async_test_with_the_shop_on_the_tests_loop(
    registry: ConnectorRegistry, aiohttp_server: Any
) -> None:
    """run_call uses asyncio.run, so an async test hands it to a thread."""
    server = await aiohttp_server(create_demo_shop_app(DEMO_KEY, DEMO_SECRET))
    credentials = {"url": str(server.make_url("/")), "consumer_key": DEMO_KEY, "consumer_secret": DEMO_SECRET}
    outcome = await asyncio.to_thread(
        run_call, registry, Call(connector="shop", method="verify_credentials", credentials=credentials)
    )
    assert isinstance(outcome, Succeeded) and outcome.data["verified"] is True
