"""The web console at ``/console/``: sign-in sessions, page shells and static files.

``install`` adds its routes and session store to an application whose middlewares include
:func:`connectord.api.console.middleware.console_middleware` (before the API's auth)."""

from __future__ import annotations

import time

from aiohttp import web

from connectord.api.console.middleware import SESSIONS, console_middleware
from connectord.api.console.routes import ROUTES
from connectord.api.console.sessions import Sessions

__all__ = ["console_middleware", "install"]


def install(app: web.Application) -> None:
    """Serve the console from ``app``. Sessions age by this machine's monotonic clock."""
    app[SESSIONS] = Sessions(time.monotonic)
    app.add_routes(ROUTES)
