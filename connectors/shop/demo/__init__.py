"""A local shop that speaks WooCommerce's REST API v3, for trying and testing the connector.

``connectord demo-shop`` runs it (``run_demo_shop``); tests build it with
``create_demo_shop_app`` or run it beside the runtime with ``demo_shop_in_thread``.
"""

from connectord.connectors.shop.demo.background import demo_shop_in_thread, serve_in_thread
from connectord.connectors.shop.demo.server import (
    DEMO_HOST,
    DEMO_KEY,
    DEMO_PORT,
    DEMO_SECRET,
    create_demo_shop_app,
    run_demo_shop,
)

__all__ = [
    "DEMO_HOST",
    "DEMO_KEY",
    "DEMO_PORT",
    "DEMO_SECRET",
    "create_demo_shop_app",
    "demo_shop_in_thread",
    "run_demo_shop",
    "serve_in_thread",
]
