"""WooCommerce REST v3 JSON representations of the demo catalogue's records."""

from __future__ import annotations

from typing import Any

from connectord.connectors.shop.demo.data import Attribute, Catalogue, Category, Product, Term

API_PATH = "/wp-json/wc/v3"


def wp_text(value: str) -> str:
    """Escape like WordPress stores term names (``_wp_specialchars``: & < > only), so the
    demo returns ``Food &amp; Drink`` as a real shop does and clients must unescape."""
    return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _links(site: str, path: str, collection: str, **extra: str) -> dict[str, list[dict[str, str]]]:
    links = {"self": [{"href": f"{site}{API_PATH}/{path}"}],
             "collection": [{"href": f"{site}{API_PATH}/{collection}"}]}
    return links | {rel: [{"href": f"{site}{API_PATH}/{href}"}] for rel, href in extra.items()}


def category_json(category: Category, site: str) -> dict[str, Any]:
    up = {"up": f"products/categories/{category.parent}"} if category.parent else {}
    return {
        "id": category.id,
        "name": wp_text(category.name),
        "slug": category.slug,
        "parent": category.parent,
        "description": category.description,
        "display": "default",
        "image": None,
        "menu_order": 0,
        "count": category.count,
        "_links": _links(site, f"products/categories/{category.id}", "products/categories", **up),
    }


def attribute_json(attribute: Attribute, site: str) -> dict[str, Any]:
    return {
        "id": attribute.id,
        "name": attribute.name,
        "slug": attribute.slug,
        "type": "select",
        "order_by": "menu_order",
        "has_archives": False,
        "_links": _links(site, f"products/attributes/{attribute.id}", "products/attributes"),
    }


def term_json(term: Term, attribute_id: int, site: str) -> dict[str, Any]:
    collection = f"products/attributes/{attribute_id}/terms"
    return {
        "id": term.id,
        "name": wp_text(term.name),
        "slug": term.slug,
        "description": "",
        "menu_order": term.menu_order,
        "count": term.count,
        "_links": _links(site, f"{collection}/{term.id}", collection),
    }


def product_json(product: Product, catalogue: Catalogue, site: str) -> dict[str, Any]:
    created = product.created.isoformat(timespec="seconds")
    category = catalogue.category(product.category_id)
    assert category is not None  # products are generated from the catalogue's categories
    return {
        "id": product.id,
        "name": product.name,
        "slug": product.slug,
        "permalink": f"{site}/product/{product.slug}/",
        "date_created": created,
        "date_created_gmt": created,
        "date_modified": created,
        "date_modified_gmt": created,
        "type": "simple",
        "status": "publish",
        "featured": False,
        "catalog_visibility": "visible",
        "description": f"<p>{product.name}, from our {wp_text(category.name)} range.</p>",
        "short_description": "",
        "sku": product.sku,
        "price": product.sale_price or product.regular_price,
        "regular_price": product.regular_price,
        "sale_price": product.sale_price,
        "on_sale": bool(product.sale_price),
        "purchasable": True,
        "manage_stock": True,
        "stock_quantity": product.stock_quantity,
        "stock_status": "instock" if product.stock_quantity > 0 else "outofstock",
        "categories": [{"id": category.id, "name": wp_text(category.name), "slug": category.slug}],
        "tags": [],
        "images": [],
        "attributes": [_product_attribute(catalogue, position, attribute_id, value)
                       for position, (attribute_id, value) in enumerate(product.attributes)],
        "_links": _links(site, f"products/{product.id}", "products"),
    }


def _product_attribute(
    catalogue: Catalogue, position: int, attribute_id: int, value: str
) -> dict[str, Any]:
    attribute = catalogue.attribute(attribute_id)
    assert attribute is not None
    return {"id": attribute.id, "name": attribute.name, "slug": attribute.slug,
            "position": position, "visible": True, "variation": False, "options": [value]}
