"""The ``shop`` connector: a WooCommerce shop's categories and products (REST API v3), and
the ``exportProducts`` job type.

This module is the plugin: its ``@hookimpl`` functions are the connector's hooks, each a
thin entry that reads the credentials and hands over to the module that does the work.
``demo/`` holds a local shop that speaks the same API (``connectord demo-shop``).
"""

from __future__ import annotations

from typing import Any

from connectord.connectors.shop.categories import select_categories
from connectord.connectors.shop.credentials import ShopCredentials
from connectord.connectors.shop.describe import CATEGORIES, EXPORT_PRODUCTS, connector_info
from connectord.connectors.shop.export import export_products
from connectord.connectors.shop.metadata import product_meta_model
from connectord.connectors.shop.verify import verify
from connectord.plugins.errors import ConnectorError
from connectord.plugins.markers import hookimpl
from connectord.plugins.types import (
    ConnectorInfo,
    JobResult,
    MetaModel,
    SelectQuery,
    SelectResult,
    VerifyResult,
)


@hookimpl
def describe_connector() -> ConnectorInfo:
    return connector_info()


@hookimpl
async def verify_credentials(credentials: dict[str, Any]) -> VerifyResult:
    return await verify(credentials)


@hookimpl
async def select_model(method: str, credentials: dict[str, Any], query: SelectQuery) -> SelectResult:
    if method != CATEGORIES:
        raise ConnectorError(f"the shop connector has no model method '{method}'")
    return await select_categories(ShopCredentials.from_fields(credentials), query)


@hookimpl
async def get_meta_model(action: str, credentials: dict[str, Any], cfg: dict[str, Any]) -> MetaModel:
    return await product_meta_model(ShopCredentials.from_fields(credentials), action, cfg)


@hookimpl
async def run_job(job_type: str, params: dict[str, Any], credentials: dict[str, Any]) -> JobResult:
    if job_type != EXPORT_PRODUCTS.code:
        raise ConnectorError(f"the shop connector has no job type '{job_type}'")
    return await export_products(ShopCredentials.from_fields(credentials), params)
