"""The demo shop speaks WooCommerce's REST API v3: auth, paging, filters, errors, shapes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import urllib.request
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from connectord.connectors.shop.client import basic_auth
from connectord.connectors.shop.demo import DEMO_KEY, DEMO_SECRET, create_demo_shop_app
from connectord.connectors.shop.demo.data import build_catalogue

# Their servers are on loopback, which the egress policy refuses unless allowed.
pytestmark = pytest.mark.usefixtures("loopback_egress")

API = "/wp-json/wc/v3"


def basic(key: str, secret: str) -> dict[str, str]:
    return {"Authorization": basic_auth(key, secret)}


AUTH = basic(DEMO_KEY, DEMO_SECRET)
Client = TestClient[web.Request, web.Application]
MakeClient = Callable[[web.Application], Awaitable[Client]]


@pytest.fixture
async def shop(aiohttp_client: MakeClient) -> Client:
    return await aiohttp_client(create_demo_shop_app(DEMO_KEY, DEMO_SECRET))


async def get(shop: Client, path: str, status: int = 200, **params: Any) -> Any:
    async with shop.get(f"{API}{path}", params=params, headers=AUTH) as response:
        assert response.status == status, await response.text()
        return await response.json()


def catalogue_id(path: str) -> int:
    catalogue = build_catalogue()
    return next(c.id for c in catalogue.categories if catalogue.path(c.id) == path)


# --- authentication ----------------------------------------------------------------------


async def test_basic_auth_and_query_parameters_are_both_accepted(shop: Client) -> None:
    async with shop.get(f"{API}/products/categories", headers=AUTH) as response:
        assert response.status == 200
    query = {"consumer_key": DEMO_KEY, "consumer_secret": DEMO_SECRET}
    async with shop.get(f"{API}/products/categories", params=query) as response:
        assert response.status == 200


@pytest.mark.parametrize(
    "headers, code, message",
    [
        ({}, "woocommerce_rest_cannot_view", "Sorry, you cannot list resources."),
        (basic("ck_nope", DEMO_SECRET), "woocommerce_rest_authentication_error", "Consumer key is invalid."),
        (basic(DEMO_KEY, "cs_nope"), "woocommerce_rest_authentication_error", "Consumer secret is invalid."),
    ],
)
async def test_missing_or_wrong_credentials_get_woocommerces_401(
    shop: Client, headers: dict[str, str], code: str, message: str
) -> None:
    async with shop.get(f"{API}/products/categories", headers=headers) as response:
        assert response.status == 401
        assert await response.json() == {"code": code, "message": message, "data": {"status": 401}}


async def test_a_malformed_authorization_header_counts_as_none(shop: Client) -> None:
    headers = {"Authorization": "Basic !!not-base64!!"}
    async with shop.get(f"{API}/products/categories", headers=headers) as response:
        assert response.status == 401
        assert (await response.json())["code"] == "woocommerce_rest_cannot_view"


async def test_the_namespace_index_is_public_and_system_status_is_not(shop: Client) -> None:
    async with shop.get(API) as response:
        index = await response.json()
    assert index["namespace"] == "wc/v3"
    assert "/wc/v3/products/categories" in index["routes"]
    async with shop.get(f"{API}/system_status") as response:
        assert response.status == 401
    status = await get(shop, "/system_status")
    assert status["environment"]["version"]


# --- categories --------------------------------------------------------------------------


async def test_paging_through_all_categories_sees_each_once(shop: Client) -> None:
    seen: list[int] = []
    page, total_pages = 1, None
    while total_pages is None or page <= total_pages:
        async with shop.get(
            f"{API}/products/categories", headers=AUTH, params={"per_page": 100, "page": page}
        ) as response:
            total, total_pages = (
                int(response.headers["X-WP-Total"]),
                int(response.headers["X-WP-TotalPages"]),
            )
            assert ('rel="next"' in response.headers.get("Link", "")) == (page < total_pages)
            seen += [c["id"] for c in await response.json()]
        page += 1
    assert 300 <= total <= 600 and total_pages == -(-total // 100)
    assert sorted(seen) == sorted(c.id for c in build_catalogue().categories)


async def test_the_default_page_size_is_ten(shop: Client) -> None:
    assert len(await get(shop, "/products/categories")) == 10


async def test_a_category_has_woocommerces_shape_with_escaped_names(shop: Client) -> None:
    phones = await get(shop, f"/products/categories/{catalogue_id('Electronics > Phones & Tablets')}")
    assert phones["name"] == "Phones &amp; Tablets"  # as WordPress stores term names
    assert phones["slug"] == "phones-tablets"
    assert phones["parent"] == catalogue_id("Electronics")
    assert {"description", "display", "image", "menu_order", "count", "_links"} <= phones.keys()


async def test_search_matches_name_or_slug_case_insensitively(shop: Client) -> None:
    found = await get(shop, "/products/categories", search="PHONE", per_page=100)
    assert found and all("phone" in c["name"].lower() or "phone" in c["slug"] for c in found)
    assert "Headphones" in {c["name"] for c in found}


async def test_parent_filter_and_orderby(shop: Client) -> None:
    top = await get(shop, "/products/categories", parent=0, per_page=100, orderby="id")
    assert [c["id"] for c in top] == sorted(c["id"] for c in top)
    assert {c["parent"] for c in top} == {0} and len(top) >= 10
    by_name = await get(shop, "/products/categories", parent=0, per_page=100)
    names = [c["name"].lower() for c in by_name]
    assert names == sorted(names)
    desc = await get(shop, "/products/categories", parent=0, per_page=100, order="desc", orderby="slug")
    assert [c["slug"] for c in desc] == sorted((c["slug"] for c in desc), reverse=True)


async def test_include_fetches_several_categories_at_once(shop: Client) -> None:
    found = await get(shop, "/products/categories", include="16,17,18", orderby="include")
    assert [c["id"] for c in found] == [16, 17, 18]


@pytest.mark.parametrize(
    "params, bad",
    [
        ({"per_page": "0"}, "per_page"),
        ({"per_page": "101"}, "per_page"),
        ({"per_page": "ten"}, "per_page"),
        ({"page": "0"}, "page"),
        ({"orderby": "price"}, "orderby"),
        ({"parent": "x"}, "parent"),
        ({"include": "1,a"}, "include"),
    ],
)
async def test_bad_query_values_get_rest_invalid_param_naming_them(
    shop: Client, params: dict[str, str], bad: str
) -> None:
    error = await get(shop, "/products/categories", 400, **params)
    assert error["code"] == "rest_invalid_param"
    assert error["message"] == f"Invalid parameter(s): {bad}"
    assert error["data"]["status"] == 400 and bad in error["data"]["params"]


async def test_an_unknown_category_is_woocommerces_404(shop: Client) -> None:
    error = await get(shop, "/products/categories/99999", 404)
    assert error == {
        "code": "woocommerce_rest_term_invalid",
        "message": "Resource does not exist.",
        "data": {"status": 404},
    }


# --- attributes and terms ----------------------------------------------------------------


async def test_all_attributes_and_the_category_extension(shop: Client) -> None:
    every = await get(shop, "/products/attributes")
    assert {"Brand", "Color", "Size", "Material", "Screen Size", "Storage"} <= {a["name"] for a in every}
    assert all(a["slug"].startswith("pa_") and a["type"] == "select" for a in every)
    smartphones = catalogue_id("Electronics > Phones & Tablets > Smartphones")
    applicable = await get(shop, "/products/attributes", category=smartphones)
    assert [a["name"] for a in applicable] == [
        "Brand",
        "Color",
        "Storage",
        "Screen Size",
        "Connectivity",
        "Memory",
    ]
    await get(shop, "/products/attributes", 404, category=99999)
    error = await get(shop, "/products/attributes", 400, category="phones")
    assert "category" in error["data"]["params"]


async def test_terms_are_paged_in_menu_order(shop: Client) -> None:
    sizes = next(a for a in build_catalogue().attributes if a.name == "Size")
    async with shop.get(
        f"{API}/products/attributes/{sizes.id}/terms", headers=AUTH, params={"per_page": 3}
    ) as response:
        assert response.headers["X-WP-Total"] == str(len(sizes.terms))
        assert [t["name"] for t in await response.json()] == ["XS", "S", "M"]
    error = await get(shop, "/products/attributes/999/terms", 404)
    assert error["code"] == "woocommerce_rest_taxonomy_invalid"


# --- products ----------------------------------------------------------------------------


async def test_products_of_a_department_include_its_subcategories(shop: Client) -> None:
    electronics = catalogue_id("Electronics")
    catalogue = build_catalogue()
    expected = [p for p in catalogue.products if p.category_id in catalogue.subtree(electronics)]
    async with shop.get(
        f"{API}/products", headers=AUTH, params={"category": electronics, "per_page": 5}
    ) as response:
        assert response.headers["X-WP-Total"] == str(len(expected))
        products = await response.json()
    assert len(products) == 5
    product = products[0]
    assert {
        "id",
        "name",
        "sku",
        "regular_price",
        "stock_quantity",
        "categories",
        "attributes",
        "permalink",
        "date_created",
    } <= product.keys()
    assert isinstance(product["regular_price"], str)
    assert product["attributes"][0]["name"] == "Brand" and product["attributes"][0]["options"]
    single = await get(shop, f"/products/{product['id']}")
    assert single["sku"] == product["sku"]
    assert (await get(shop, "/products/1", 404))["code"] == "woocommerce_rest_product_invalid_id"


async def test_products_are_deterministic_per_seed(aiohttp_client: MakeClient) -> None:
    pages = []
    for seed in (7, 7, 8):
        client = await aiohttp_client(create_demo_shop_app(DEMO_KEY, DEMO_SECRET, seed=seed))
        pages.append([p["name"] for p in await get(client, "/products", per_page=20, orderby="id")])
    assert pages[0] == pages[1] != pages[2]


# --- not a shop --------------------------------------------------------------------------


async def test_unknown_paths_answer_like_wordpress(shop: Client) -> None:
    async with shop.get(f"{API}/nothing-here", headers=AUTH) as response:
        assert response.status == 404
        assert (await response.json())["code"] == "rest_no_route"
    async with shop.get(f"{API}/products/categories/abc", headers=AUTH) as response:
        assert (await response.json())["code"] == "rest_no_route"
    async with shop.get("/blog/wp-json/wc/v3/products/categories") as response:
        assert response.status == 404 and response.content_type == "text/html"
    async with shop.get("/") as response:
        assert 'rel="https://api.w.org/"' in response.headers["Link"]


# --- the command -------------------------------------------------------------------------


def test_run_demo_shop_prints_how_to_connect_and_stops_on_sigterm() -> None:
    code = (
        "from connectord.connectors.shop.demo import run_demo_shop;"
        "run_demo_shop('127.0.0.1', 0, 'ck_cmdline_key', 'cs_cmdline_secret')"
    )
    with subprocess.Popen(
        [sys.executable, "-c", code],
        stdout=subprocess.PIPE,
        text=True,
        env=os.environ | {"PYTHONUNBUFFERED": "1"},
    ) as process:
        try:
            assert process.stdout is not None
            lines = [process.stdout.readline() for _ in range(6)]
            url = next(line.split()[-1] for line in lines if line.strip().startswith("url:"))
            assert any("cs_cmdline_secret" in line for line in lines)
            request = urllib.request.Request(
                f"{url}{API}/products/categories?per_page=1",
                headers=basic("ck_cmdline_key", "cs_cmdline_secret"),
            )
            with urllib.request.urlopen(request, timeout=10) as response:
                assert response.status == 200
            process.send_signal(signal.SIGTERM)
            assert process.wait(timeout=10) == 0
        finally:
            process.kill()
