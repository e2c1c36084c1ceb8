"""The demo shop's request handlers: WooCommerce REST v3 read endpoints over the catalogue."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from aiohttp import web

from connectord.connectors.shop.demo.data import Attribute, Catalogue, Category, Product, Term
from connectord.connectors.shop.demo.errors import not_found, wc_error
from connectord.connectors.shop.demo.keys import CATALOGUE
from connectord.connectors.shop.demo.params import (
    PAGE,
    PER_PAGE,
    Param,
    boolean,
    id_list,
    integer,
    one_of,
    read_query,
    text,
)
from connectord.connectors.shop.demo.views import (
    attribute_json,
    category_json,
    product_json,
    term_json,
)

T = TypeVar("T")
SHOP_NAME = "connectord demo shop"
WOOCOMMERCE_VERSION = "9.0.0"

CATEGORY_PARAMS = {
    "page": PAGE,
    "per_page": PER_PAGE,
    "search": Param(text, ""),
    "parent": Param(integer(0)),
    "include": Param(id_list, []),
    "exclude": Param(id_list, []),
    "orderby": Param(one_of("id", "include", "name", "slug", "count"), "name"),
    "order": Param(one_of("asc", "desc"), "asc"),
    "hide_empty": Param(boolean, False),
}
TERM_PARAMS = {
    "page": PAGE,
    "per_page": PER_PAGE,
    "search": Param(text, ""),
    # WooCommerce lists attribute terms in the attribute's custom order unless told otherwise.
    "orderby": Param(one_of("id", "name", "slug", "count", "menu_order"), "menu_order"),
    "order": Param(one_of("asc", "desc"), "asc"),
    "hide_empty": Param(boolean, False),
}
ATTRIBUTE_PARAMS = {"category": Param(integer(1))}  # the demo's extension, see list_attributes
PRODUCT_PARAMS = {
    "page": PAGE,
    "per_page": PER_PAGE,
    "search": Param(text, ""),
    "category": Param(id_list, []),
    "sku": Param(text, ""),
    "orderby": Param(one_of("date", "id", "title", "slug", "price"), "date"),
    "order": Param(one_of("asc", "desc"), "desc"),
}


def _site(request: web.Request) -> str:
    return str(request.url.origin())


def _catalogue(request: web.Request) -> Catalogue:
    return request.app[CATALOGUE]


def paged(
    request: web.Request, items: Sequence[T], query: dict[str, Any], render: Callable[[T], Any]
) -> web.Response:
    """One page of ``items`` with WordPress's paging headers (and Link rel=next/prev)."""
    page, per_page = query["page"], query["per_page"]
    total_pages = math.ceil(len(items) / per_page)
    response = web.json_response([render(i) for i in items[(page - 1) * per_page:page * per_page]])
    response.headers["X-WP-Total"] = str(len(items))
    response.headers["X-WP-TotalPages"] = str(total_pages)
    links = [f'<{request.url.update_query(page=n)}>; rel="{rel}"'
             for rel, n in (("prev", page - 1), ("next", page + 1)) if 1 <= n <= total_pages]
    if links:
        response.headers["Link"] = ", ".join(links)
    return response


def _matches_text(search: str, *fields: str) -> bool:
    # WordPress searches terms with LIKE '%search%' on name and slug, case-insensitively.
    return not search or any(search.lower() in f.lower() for f in fields)


def _ordered(items: list[T], key: Callable[[T], Any], order: str) -> list[T]:
    return sorted(items, key=key, reverse=order == "desc")


# --- index and status --------------------------------------------------------------------

async def site_home(request: web.Request) -> web.Response:
    """The storefront; like WordPress, it advertises the REST API in a Link header."""
    html = f"<!doctype html><title>{SHOP_NAME}</title><h1>{SHOP_NAME}</h1>"
    response = web.Response(text=html, content_type="text/html")
    response.headers["Link"] = f'<{_site(request)}/wp-json/>; rel="https://api.w.org/"'
    return response


def _routes(request: web.Request, prefix: str) -> dict[str, Any]:
    resources = request.app.router.resources()
    paths = sorted({r.canonical.removeprefix("/wp-json").rstrip("/") for r in resources})
    return {p: {"namespace": "wc/v3", "methods": ["GET"]} for p in paths if p.startswith(prefix)}


async def wp_index(request: web.Request) -> web.Response:
    site = _site(request)
    return web.json_response({
        "name": SHOP_NAME, "description": "A WooCommerce-style demo shop", "url": site,
        "home": site, "gmt_offset": "0", "timezone_string": "UTC", "namespaces": ["wc/v3"],
        "routes": _routes(request, "/wc/v3"),
    })


async def wc_index(request: web.Request) -> web.Response:
    """The namespace index: public in WordPress, so it proves the API exists, not the key."""
    return web.json_response({"namespace": "wc/v3", "routes": _routes(request, "/wc/v3")})


async def system_status(request: web.Request) -> web.Response:
    site = _site(request)
    return web.json_response({
        "environment": {"home_url": site, "site_url": site, "version": WOOCOMMERCE_VERSION,
                        "wp_version": "6.6", "server_info": "aiohttp (connectord demo)"},
        "settings": {"api_enabled": True, "currency": "EUR", "currency_symbol": "&euro;"},
    })


# --- categories --------------------------------------------------------------------------

_CATEGORY_ORDER: dict[str, Callable[[Category], Any]] = {
    "id": lambda c: c.id,
    "name": lambda c: (c.name.lower(), c.id),
    "slug": lambda c: c.slug,
    "count": lambda c: (c.count, c.id),
}


async def list_categories(request: web.Request) -> web.Response:
    q = read_query(request.query, CATEGORY_PARAMS)
    include, exclude = q["include"], set(q["exclude"])
    found = [
        c for c in _catalogue(request).categories
        if _matches_text(q["search"], c.name, c.slug)
        and (q["parent"] is None or c.parent == q["parent"])
        and (not include or c.id in include)
        and c.id not in exclude
        and (c.count > 0 or not q["hide_empty"])
    ]
    key = _category_order(q["orderby"], include)
    site = _site(request)
    return paged(request, _ordered(found, key, q["order"]), q, lambda c: category_json(c, site))


def _category_order(orderby: str, include: list[int]) -> Callable[[Category], Any]:
    if orderby == "include" and include:
        return lambda c: include.index(c.id)  # the order the ids were asked in
    return _CATEGORY_ORDER.get(orderby, _CATEGORY_ORDER["name"])


async def get_category(request: web.Request) -> web.Response:
    category = _catalogue(request).category(int(request.match_info["id"]))
    if category is None:
        return not_found()
    return web.json_response(category_json(category, _site(request)))


# --- attributes and terms ----------------------------------------------------------------

async def list_attributes(request: web.Request) -> web.Response:
    """All global attributes, unpaged as in WooCommerce.

    Demo extension: ``?category={id}`` returns only the attributes that apply to products of
    that category (declared on it or inherited from its ancestors). WooCommerce has no such
    mapping and ignores the parameter, returning every attribute.
    """
    q = read_query(request.query, ATTRIBUTE_PARAMS)
    catalogue = _catalogue(request)
    attributes: Sequence[Attribute] = catalogue.attributes
    if q["category"] is not None:
        if catalogue.category(q["category"]) is None:
            return not_found()
        attributes = catalogue.applicable_attributes(q["category"])
    site = _site(request)
    return web.json_response([attribute_json(a, site) for a in attributes])


def _attribute(request: web.Request) -> Attribute | None:
    return _catalogue(request).attribute(int(request.match_info["id"]))


async def get_attribute(request: web.Request) -> web.Response:
    attribute = _attribute(request)
    if attribute is None:
        return not_found("woocommerce_rest_attribute_invalid")
    return web.json_response(attribute_json(attribute, _site(request)))


_TERM_ORDER: dict[str, Callable[[Term], Any]] = {
    "id": lambda t: t.id,
    "name": lambda t: (t.name.lower(), t.id),
    "slug": lambda t: t.slug,
    "count": lambda t: (t.count, t.id),
    "menu_order": lambda t: (t.menu_order, t.id),
}


async def list_terms(request: web.Request) -> web.Response:
    attribute = _attribute(request)
    if attribute is None:
        return wc_error(404, "woocommerce_rest_taxonomy_invalid", "Taxonomy does not exist.")
    q = read_query(request.query, TERM_PARAMS)
    found = [t for t in attribute.terms
             if _matches_text(q["search"], t.name, t.slug) and (t.count or not q["hide_empty"])]
    site = _site(request)
    return paged(request, _ordered(found, _TERM_ORDER[q["orderby"]], q["order"]), q,
                 lambda t: term_json(t, attribute.id, site))


# --- products ----------------------------------------------------------------------------

_PRODUCT_ORDER: dict[str, Callable[[Product], Any]] = {
    "date": lambda p: (p.created, p.id),
    "id": lambda p: p.id,
    "title": lambda p: (p.name.lower(), p.id),
    "slug": lambda p: p.slug,
    "price": lambda p: (float(p.sale_price or p.regular_price), p.id),
}


async def list_products(request: web.Request) -> web.Response:
    q = read_query(request.query, PRODUCT_PARAMS)
    catalogue = _catalogue(request)
    # Like WooCommerce, a category filter also matches products of its subcategories.
    allowed = set().union(*(catalogue.subtree(c) for c in q["category"]))
    found = [
        p for p in catalogue.products
        if (not q["category"] or p.category_id in allowed)
        and _matches_text(q["search"], p.name)
        and (not q["sku"] or p.sku == q["sku"])
    ]
    site = _site(request)
    return paged(request, _ordered(found, _PRODUCT_ORDER[q["orderby"]], q["order"]), q,
                 lambda p: product_json(p, catalogue, site))


async def get_product(request: web.Request) -> web.Response:
    catalogue = _catalogue(request)
    wanted = int(request.match_info["id"])
    product = next((p for p in catalogue.products if p.id == wanted), None)
    if product is None:
        return wc_error(404, "woocommerce_rest_product_invalid_id", "Invalid ID.")
    return web.json_response(product_json(product, catalogue, _site(request)))
