"""Every request: a request id (the caller's, if sane, else a new one) in the log context
and the ``X-Request-Id`` answer header, one access-log line, and its count and duration
by route pattern (never the raw path: ids in paths would make a series per object)."""

from __future__ import annotations

import logging
import re
import time
import uuid

from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Histogram

from connectord.api.errors import Handler
from connectord.api.keys import METRICS, PRINCIPAL, SETTINGS
from connectord.runtime import log_context
from connectord.runtime.metrics import DURATION_BUCKETS

REQUEST_ID = "X-Request-Id"
#: An incoming id is kept only if it is short and plain (it goes into every log line).
SANE_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")
UNMATCHED = "unmatched"
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})

access_log = logging.getLogger("connectord.access")


class HttpMetrics:
    """The requests' metrics, in the node's registry (route patterns, never raw paths)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.requests = Counter(
            "connectord_http_requests",
            "HTTP requests answered, by route pattern, method and status",
            ("route", "method", "status"),
            registry=registry,
        )
        self.seconds = Histogram(
            "connectord_http_request_duration_seconds",
            "How long answering an HTTP request took, by route pattern",
            ("route",),
            buckets=DURATION_BUCKETS,
            registry=registry,
        )


HTTP_METRICS = web.AppKey("http_metrics", HttpMetrics)


def route_of(request: web.Request) -> str:
    """The route's pattern (``/v1/exec/poll/{execution_id}``), or ``unmatched``."""
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else UNMATCHED


@web.middleware
async def observe_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    incoming = request.headers.get(REQUEST_ID, "")
    request_id = incoming if SANE_ID.fullmatch(incoming) else uuid.uuid4().hex
    started = time.perf_counter()
    status = 500  # what the client gets if the handler raises past the error middleware
    with log_context.bound(request_id=request_id):
        try:
            response = await handler(request)
            status = response.status
            if not response.prepared:
                response.headers[REQUEST_ID] = request_id
            return response
        except web.HTTPException as answer:  # an answer raised (the console's redirects), not an error
            status = answer.status
            answer.headers[REQUEST_ID] = request_id
            raise
        finally:
            _record(request, request_id, status, time.perf_counter() - started)


@web.middleware
async def tenant_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Inside authentication: what the request logs names its tenant."""
    principal = request.get(PRINCIPAL)
    if principal is None:
        return await handler(request)
    with log_context.bound(tenant=principal.tenant_id):
        return await handler(request)


def _record(request: web.Request, request_id: str, status: int, seconds: float) -> None:
    route = route_of(request)
    metrics, http = request.app[METRICS], request.app[HTTP_METRICS]
    method = request.method if request.method in METHODS else "other"  # any token is a method
    metrics.child(http.requests, route, method, str(status)).inc()
    metrics.child(http.seconds, route).observe(seconds)
    if not request.app[SETTINGS].access_log:
        return
    principal = request.get(PRINCIPAL)
    access_log.info(
        "%s %s %d",
        request.method,
        route,
        status,
        extra={
            "event": "http.request",
            "method": request.method,
            "route": route,
            "status": status,
            "duration_ms": round(seconds * 1000, 1),
            **({"tenant": principal.tenant_id} if principal is not None else {}),
        },
    )
