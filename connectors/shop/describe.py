"""What the shop connector is and offers (``describe_connector``): no I/O, built on demand."""

from __future__ import annotations

from connectord.connectors.shop.client import MAX_PAGES, MAX_PER_PAGE
from connectord.plugins.types import ConnectorInfo, JobType, JSONSchema, Operation

CONNECTOR_ID = "shop"
VERSION = "0.1.0"
UPSERT_PRODUCT = "upsert_product"
GET_PRODUCTS = "get_products"
CATEGORIES = "categories"  # the select_model method of the category dropdown

#: Both API fields are secret. WooCommerce itself treats the key like a password: it stores
#: only a hash, shows it once, and later displays its last seven characters. And a
#: leaked key would let anyone try secrets against the shop, so it is encrypted at rest,
#: masked and redacted like the secret.
CREDENTIALS_SCHEMA: JSONSchema = {
    "type": "object",
    "properties": {
        "url": {
            "type": "string",
            "title": "Shop URL",
            "description": "The shop's WordPress address, such as https://shop.example.com "
                           "(the REST API path /wp-json/wc/v3 is added by the connector)",
            "pattern": "^https?://",
            "examples": ["https://shop.example.com"],
        },
        "consumer_key": {
            "type": "string",
            "title": "Consumer key",
            "description": "From WooCommerce > Settings > Advanced > REST API; starts with ck_",
            "minLength": 8,
            "secret": True,
        },
        "consumer_secret": {
            "type": "string",
            "title": "Consumer secret",
            "description": "Shown once with the consumer key; starts with cs_",
            "minLength": 8,
            "secret": True,
        },
    },
    "required": ["url", "consumer_key", "consumer_secret"],
    "additionalProperties": False,
}

#: The node configuration both operations share: the category decides the product schema.
CATEGORY_CONFIG: JSONSchema = {
    "type": "object",
    "properties": {
        "category": {
            "type": ["string", "integer"],
            "title": "Category",
            "description": "Product category id; options come from select_model 'categories'",
            "x-model": CATEGORIES,
        },
    },
    "required": ["category"],
}


DEFAULT_EXPORT_LIMIT = 1000
#: What one export reads at most: as many pages of the largest size as the client fetches.
MAX_EXPORT_LIMIT = MAX_PAGES * MAX_PER_PAGE

EXPORT_PARAMS_SCHEMA: JSONSchema = {
    "type": "object",
    "title": "Export products",
    "properties": {
        "category": {
            "type": ["string", "integer"],
            "pattern": "^[1-9][0-9]*$",
            "minimum": 1,
            "title": "Category",
            "description": "A category id (as the categories dropdown gives it); its "
            "subcategories' products are included. Leave it out for every product.",
            "x-model": CATEGORIES,
        },
        "limit": {
            "type": "integer",
            "minimum": 1,
            "maximum": MAX_EXPORT_LIMIT,
            "default": DEFAULT_EXPORT_LIMIT,
            "title": "Most products",
        },
    },
    "additionalProperties": False,
}

EXPORT_PRODUCTS = JobType(
    code="exportProducts",
    title="Export products",
    description="Read the shop's products, of one category and its subcategories or all of "
    "them, in the shop's own JSON (WooCommerce REST API v3), by ascending id.",
    params_schema=EXPORT_PARAMS_SCHEMA,
    needs_account=True,
)


def connector_info() -> ConnectorInfo:
    return ConnectorInfo(
        id=CONNECTOR_ID,
        title="WooCommerce shop",
        version=VERSION,
        description="Products and categories of a WooCommerce shop through its REST API v3. "
                    "Try it with the bundled demo shop: connectord demo-shop.",
        credentials_schema=CREDENTIALS_SCHEMA,
        actions=[Operation(
            name=UPSERT_PRODUCT,
            title="Create or update product",
            description="Creates a product in the chosen category, or updates the product "
                        "with the same SKU; the category's attributes are fields.",
            dynamic_metadata=True,
            model_methods=[CATEGORIES],
            config_schema=CATEGORY_CONFIG,
        )],
        triggers=[Operation(
            name=GET_PRODUCTS,
            title="Get products",
            description="Emits the products of the chosen category and its subcategories.",
            dynamic_metadata=True,
            model_methods=[CATEGORIES],
            config_schema=CATEGORY_CONFIG,
        )],
        job_types=[EXPORT_PRODUCTS],
    )
