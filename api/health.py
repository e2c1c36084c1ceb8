"""``/health``: is this node able to serve? (503 when its store is unusable)."""

from __future__ import annotations

import logging

from aiohttp import web

from connectord import __version__
from connectord.api.keys import CONNECTORS, NODE, STORE, STORE_RUNNER
from connectord.api.responses import json_response

log = logging.getLogger(__name__)


async def health(request: web.Request) -> web.Response:
    catalog = request.app[CONNECTORS].catalog
    try:
        await request.app[STORE_RUNNER](request.app[STORE].ping)
        store = "ok"
    except Exception as exc:
        log.warning("health: store unusable: %s", exc)
        store = "unavailable"
    body = {
        "status": "ok" if store == "ok" else "unavailable",
        "version": __version__,
        "node": request.app[NODE].member.id,
        "store": store,
        "connectors": {"loaded": len(catalog.connectors), "failed": len(catalog.errors)},
    }
    return json_response(body, 200 if store == "ok" else 503)
