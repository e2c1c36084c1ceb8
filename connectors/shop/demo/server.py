"""The demo shop: an aiohttp application that speaks WooCommerce's REST API v3 (read side).

Run it with ``connectord demo-shop`` (``run_demo_shop``) or build it for tests with
``create_demo_shop_app``. It serves a deterministic catalogue (see ``data.py``) to clients
that authenticate as WooCommerce expects (see ``auth.py``).
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Awaitable, Callable

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger
from yarl import URL

from connectord.connectors.shop.demo import handlers
from connectord.connectors.shop.demo.auth import auth_middleware
from connectord.connectors.shop.demo.data import build_catalogue
from connectord.connectors.shop.demo.errors import no_route
from connectord.connectors.shop.demo.keys import CATALOGUE
from connectord.connectors.shop.demo.params import InvalidParamsError
from connectord.connectors.shop.demo.views import API_PATH

DEMO_HOST = "127.0.0.1"
DEMO_PORT = 8780
DEMO_KEY = "ck_demo_4f1c2a9e7b3d5f60a8c1e2d3b4a59687c0ffee00"
DEMO_SECRET = "cs_demo_9a8b7c6d5e4f30211f2e3d4c5b6a7980deadbeef"

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

#: The URL map in one table: (path, handler). Ids are digits only, as in WordPress's
#: route patterns, so ``/products/categories/abc`` is "no route", not a 400.
ROUTES: tuple[tuple[str, Handler], ...] = (
    ("/", handlers.site_home),
    ("/wp-json", handlers.wp_index),
    ("/wp-json/", handlers.wp_index),
    (API_PATH, handlers.wc_index),
    (f"{API_PATH}/", handlers.wc_index),
    (f"{API_PATH}/system_status", handlers.system_status),
    (f"{API_PATH}/products", handlers.list_products),
    (API_PATH + r"/products/{id:\d+}", handlers.get_product),
    (f"{API_PATH}/products/categories", handlers.list_categories),
    (API_PATH + r"/products/categories/{id:\d+}", handlers.get_category),
    (f"{API_PATH}/products/attributes", handlers.list_attributes),
    (API_PATH + r"/products/attributes/{id:\d+}", handlers.get_attribute),
    (API_PATH + r"/products/attributes/{id:\d+}/terms", handlers.list_terms),
)

NOT_FOUND_PAGE = "<!doctype html><title>Page not found</title><h1>Page not found</h1>"


@web.middleware
async def wordpress_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Answer bad parameters and unknown paths as WordPress does: JSON under /wp-json, the
    theme's HTML 404 page elsewhere (what a client sees when the URL is not a shop)."""
    try:
        return await handler(request)
    except InvalidParamsError as exc:
        return exc.response()
    except (web.HTTPNotFound, web.HTTPMethodNotAllowed):
        if request.path == "/wp-json" or request.path.startswith("/wp-json/"):
            return no_route()
        return web.Response(status=404, text=NOT_FOUND_PAGE, content_type="text/html")


class PathOnlyAccessLogger(AbstractAccessLogger):
    """Logs the path without the query string: clients may send the consumer secret there."""

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        self.logger.info("%s %s %s %d %.1fms", request.remote, request.method, request.path,
                         response.status, time * 1000)


def create_demo_shop_app(consumer_key: str, consumer_secret: str, seed: int = 7) -> web.Application:
    """The demo shop, accepting exactly this consumer key and secret."""
    if not consumer_key or not consumer_secret:
        raise ValueError("the demo shop needs a consumer key and a consumer secret")
    app = web.Application(
        middlewares=[wordpress_errors, auth_middleware(consumer_key, consumer_secret)]
    )
    app[CATALOGUE] = build_catalogue(seed)
    for path, handler in ROUTES:
        app.router.add_get(path, handler)
    return app


async def start_app(app: web.Application, host: str, port: int) -> tuple[web.AppRunner, str]:
    """Serve ``app`` on host:port (0 picks a free port); return the runner and base URL."""
    runner = web.AppRunner(app, access_log_class=PathOnlyAccessLogger)
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port).start()
    except BaseException:
        await runner.cleanup()
        raise
    bound_port = runner.addresses[0][1]
    # A wildcard address is not one a client can use; point the user at loopback instead.
    shown = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(host, host)
    return runner, str(URL.build(scheme="http", host=shown, port=bound_port))


def run_demo_shop(host: str, port: int, consumer_key: str, consumer_secret: str) -> None:
    """Serve the demo shop until Ctrl+C or SIGTERM, after printing how to connect to it."""
    app = create_demo_shop_app(consumer_key, consumer_secret)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve_until_stopped(app, host, port, consumer_key, consumer_secret))


async def _serve_until_stopped(
    app: web.Application, host: str, port: int, consumer_key: str, consumer_secret: str
) -> None:
    runner, base_url = await start_app(app, host, port)
    stop = asyncio.Event()
    with contextlib.suppress(NotImplementedError, RuntimeError):  # not on Windows/other threads
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    print(_banner(base_url, consumer_key, consumer_secret), flush=True)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()


def _banner(base_url: str, consumer_key: str, consumer_secret: str) -> str:
    return "\n".join((
        f"Demo shop (WooCommerce REST API v3) running at {base_url}",
        f"  API root:        {base_url}{API_PATH}",
        "Credentials for the 'shop' connector:",
        f"  url:             {base_url}",
        f"  consumer_key:    {consumer_key}",
        f"  consumer_secret: {consumer_secret}",
        "Press Ctrl+C to stop.",
    ))
