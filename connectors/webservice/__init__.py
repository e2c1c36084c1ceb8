"""The bundled ``webservice`` connector: calls HTTP endpoints.

This module is the pluggy plugin; the hooks below only delegate. The request machinery
(:class:`WebRequest`, :func:`parse_request`, :func:`with_overrides`, :func:`call_endpoint`)
is re-exported here; the ``callWebserviceEndpoint`` job type (:mod:`.job`) runs on it.
"""

from __future__ import annotations

from typing import Any

from connectord.connectors.webservice.client import MAX_BODY_BYTES, call_endpoint
from connectord.connectors.webservice.describe import CALL, connector_info
from connectord.connectors.webservice.errors import (
    EndpointStatusError,
    EndpointTimeoutError,
    EndpointUnreachableError,
    ResponseTooLargeError,
)
from connectord.connectors.webservice.job import CALL_WEBSERVICE_ENDPOINT, call_webservice_endpoint
from connectord.connectors.webservice.meta import call_meta_model, infer_schema
from connectord.connectors.webservice.options import select_options
from connectord.connectors.webservice.request import (
    WebRequest,
    WebResponse,
    parse_request,
    with_overrides,
)
from connectord.connectors.webservice.verify import verify
from connectord.plugins.errors import ConfigError
from connectord.plugins.markers import hookimpl
from connectord.plugins.types import (
    ConnectorInfo,
    JobResult,
    MetaModel,
    SelectQuery,
    SelectResult,
    VerifyResult,
)

__all__ = [
    "MAX_BODY_BYTES",
    "EndpointStatusError",
    "EndpointTimeoutError",
    "EndpointUnreachableError",
    "ResponseTooLargeError",
    "WebRequest",
    "WebResponse",
    "call_endpoint",
    "infer_schema",
    "parse_request",
    "with_overrides",
]


@hookimpl
def describe_connector() -> ConnectorInfo:
    return connector_info()


@hookimpl
async def verify_credentials(credentials: dict[str, Any]) -> VerifyResult:
    return await verify(credentials)


@hookimpl
def get_meta_model(action: str, cfg: dict[str, Any]) -> MetaModel:
    _require_call(action)
    return call_meta_model(cfg)


@hookimpl
def select_model(action: str, method: str, query: SelectQuery) -> SelectResult:
    _require_call(action)
    return select_options(method, query)


@hookimpl
async def run_job(job_type: str, params: dict[str, Any]) -> JobResult:
    if job_type != CALL_WEBSERVICE_ENDPOINT.code:
        raise ConfigError(f"the webservice connector has no job type '{job_type}'", "jobType")
    return await call_webservice_endpoint(params)


def _require_call(action: str) -> None:
    # The runtime checks the action exists; this guards direct callers.
    if action != CALL.name:
        raise ConfigError(f"the webservice connector has no action '{action}'", "action")
