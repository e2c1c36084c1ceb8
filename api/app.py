"""The aiohttp application around a node (runtime/node.py), and the blocking ``serve``
entry."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable

from aiohttp import web
from aiohttp.web_runner import GracefulExit

from connectord.api import console
from connectord.api.auth import auth_middleware
from connectord.api.errors import error_middleware
from connectord.api.http_log import HandlerLogger
from connectord.api.keys import (
    ACCOUNTS,
    CLOCK,
    CONNECTORS,
    EXECUTIONS,
    JOBS,
    METRICS,
    NODE,
    SECRET_BOX,
    SETTINGS,
    STORE,
    STORE_RUNNER,
)
from connectord.api.observe import HTTP_METRICS, HttpMetrics, observe_middleware, tenant_middleware
from connectord.api.routes import ROUTES
from connectord.runtime.config import Settings
from connectord.runtime.node import Node


def create_app(node: Node) -> web.Application:
    """The application serving ``node``, which starts and stops with it."""
    app = web.Application(
        middlewares=[
            observe_middleware,
            error_middleware,
            console.console_middleware,
            auth_middleware,
            tenant_middleware,
        ],
        client_max_size=node.settings.max_body_bytes,
        # read_body decodes Content-Encoding itself; malformed HTTP is one warning line
        handler_args={"auto_decompress": False, "logger": HandlerLogger()},
    )
    app[NODE] = node
    app[SETTINGS] = node.settings
    app[CONNECTORS] = node.connectors
    app[STORE] = node.store
    app[SECRET_BOX] = node.box
    app[STORE_RUNNER] = node.run
    app[CLOCK] = node.clock
    app[METRICS] = node.metrics
    app[HTTP_METRICS] = HttpMetrics(node.metrics.registry)
    app[EXECUTIONS] = node.executions
    app[JOBS] = node.jobs
    app[ACCOUNTS] = node.accounts
    app.add_routes(ROUTES)
    console.install(app)
    app.cleanup_ctx.append(_node_context)
    return app


async def _node_context(app: web.Application) -> AsyncIterator[None]:
    async with app[NODE]:
        yield


def serve(app: web.Application, settings: Settings, ready: Callable[[str], None]) -> None:
    """Run until SIGINT or SIGTERM. ``ready`` gets the base URL once the socket listens
    (with port 0, the port the system chose). The access log is ours (api/observe.py),
    with route patterns and request ids: aiohttp's own is off."""
    with contextlib.suppress(GracefulExit, KeyboardInterrupt):
        asyncio.run(_serve(app, settings.host, settings.port, ready))


async def _serve(app: web.Application, host: str, port: int, ready: Callable[[str], None]) -> None:
    runner = web.AppRunner(app, handle_signals=True, access_log=None)
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port)
        await site.start()
        bound_host, bound_port = runner.addresses[0][:2]
        shown = f"[{bound_host}]" if ":" in bound_host else bound_host
        ready(f"http://{shown}:{bound_port}")
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()
