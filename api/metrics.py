"""``GET /metrics``: Prometheus' text format, open or behind a bearer token
(``[metrics] token``, CONNECTORD_METRICS_TOKEN)."""

from __future__ import annotations

import hmac

from aiohttp import web
from prometheus_client.exposition import choose_encoder

from connectord.api.keys import CLOCK, METRICS, SETTINGS, STORE, STORE_RUNNER
from connectord.api.responses import json_response
from connectord.runtime.store.records import StoreUnavailableError

CHALLENGE = 'Bearer realm="connectord metrics"'


async def scrape(request: web.Request) -> web.Response:
    token = request.app[SETTINGS].metrics_token
    if token is not None and not _authorized(request.headers.get("Authorization", ""), token):
        return json_response(
            {"message": "A bearer token is required for /metrics."},
            401,
            {"WWW-Authenticate": CHALLENGE},
        )
    metrics = request.app[METRICS]
    try:  # read now rather than kept up to date on every change: a scrape is rare
        executions, jobs = await request.app[STORE_RUNNER](
            request.app[STORE].queue_depth, request.app[CLOCK]()
        )
    except StoreUnavailableError:
        pass  # the last values stay; the store's errors are counted
    else:
        metrics.queue_depth.labels("executions").set(executions)
        metrics.queue_depth.labels("jobs").set(jobs)
    # Prometheus' text format, or OpenMetrics where the scraper asks for it
    encode, content_type = choose_encoder(request.headers.get("Accept", ""))
    return web.Response(body=encode(metrics.registry), headers={"Content-Type": content_type})


def _authorized(header: str, token: str) -> bool:
    scheme, _, value = header.partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(value.strip().encode(), token.encode())
