"""The ``callWebserviceEndpoint`` job type: one HTTP request, its answer as the job's result.

The params (:data:`~connectord.connectors.webservice.schemas.JOB_PARAMS_SCHEMA`) become a
:class:`WebRequest` and go through :func:`call_endpoint`, like every request of this
connector. The job has no account: what authenticates the request travels in its headers,
whose values the schema marks secret.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping
from typing import Any

import msgspec

from connectord.connectors.webservice.body import CONTENT_TYPES
from connectord.connectors.webservice.client import call_endpoint
from connectord.connectors.webservice.errors import EndpointStatusError
from connectord.connectors.webservice.request import (
    WebRequest,
    WebResponse,
    merge_headers,
    parse_request,
    resolve_url,
    safe_url,
)
from connectord.connectors.webservice.schemas import BODY_METHODS, JOB_PARAMS_SCHEMA
from connectord.plugins.errors import ConfigError
from connectord.plugins.types import JobResult, JobType

log = logging.getLogger(__name__)

CALL_WEBSERVICE_ENDPOINT = JobType(
    code="callWebserviceEndpoint",
    title="Call a web service endpoint",
    description="Send one HTTP request (a JSON, XML or text body for POST, PUT and PATCH) and "
    "return the status, headers and body of the answer; an answer of 400 or above fails the job.",
    params_schema=JOB_PARAMS_SCHEMA,
)
#: How much of an error answer's body a failure message quotes.
EXCERPT_CHARS = 200
#: Param names as the WebRequest fields they set, to name the right one in errors.
_PARAM_OF_FIELD = {"body_type": "bodyType"}
_ABSOLUTE_HTTP = re.compile(JOB_PARAMS_SCHEMA["properties"]["url"]["pattern"])
#: Request header values shorter than this are not scrubbed from messages (as in redaction).
_MIN_SCRUBBED = 4


async def call_webservice_endpoint(params: Mapping[str, Any]) -> JobResult:
    """Run the job: send the request, fail on a status of 400 or above, else return
    ``data={"status", "headers", "body"}`` and ``outputs={"status", "body"}``."""
    request = job_request(params)
    response = await call_endpoint(request)
    where = f"{request.method} {safe_url(request.url)}"
    log.info("%s answered %d %s", where, response.status, response.reason)
    if response.status >= 400:
        answer = f"{where} answered {response.status} {response.reason}".rstrip()
        excerpt = body_excerpt(response, request.headers.values())
        raise EndpointStatusError(f"{answer}: {excerpt}" if excerpt else answer, response.status)
    data = {"status": response.status, "headers": response.headers, "body": response.body}
    return JobResult(data=data, outputs={"status": response.status, "body": response.body})


def job_request(params: Mapping[str, Any]) -> WebRequest:
    """The request the params describe; ConfigError naming the param (``params.body``).
    The runtime checked the params against the schema already; this holds for direct
    callers, and adds what a schema cannot say (no user info in the URL)."""
    unknown = sorted(set(params) - set(JOB_PARAMS_SCHEMA["properties"]))
    if unknown:
        raise ConfigError(
            f"'{unknown[0]}' is not a parameter of {CALL_WEBSERVICE_ENDPOINT.code}", f"params.{unknown[0]}"
        )
    fields = {k: params[k] for k in ("url", "method", "headers", "searchParams", "timeout") if k in params}
    if "bodyType" in params:
        fields["body_type"] = params["bodyType"]
    body = params.get("body")
    if body is not None:
        method = str(params.get("method") or "GET").upper()
        if method not in BODY_METHODS:
            raise ConfigError(
                f"a {method} request cannot have a body; only {', '.join(BODY_METHODS)} carry one",
                "params.body",
            )
        fields["body"] = body
        fields.setdefault("body_type", "text" if isinstance(body, str) else "json")
        given = params.get("headers") or {}
        if isinstance(body, str) and fields["body_type"] == "json" and isinstance(given, Mapping):
            # A string is sent as it is: here, JSON someone wrote (WebRequest would encode it
            # as a JSON string), so as text with the JSON content type.
            fields["body_type"] = "text"
            fields["headers"] = merge_headers({"Content-Type": CONTENT_TYPES["json"]}, given)
    try:
        request = parse_request(fields)
        if not _ABSOLUTE_HTTP.match(request.url):
            raise ConfigError("url must be an absolute http or https URL", "url")
        resolve_url(request.url)  # a host, and no user name or password
    except ConfigError as exc:
        field = _PARAM_OF_FIELD.get(exc.field or "", exc.field)
        message = str(exc).replace("body_type", "bodyType")
        raise ConfigError(message, f"params.{field}" if field else "params") from None
    return request


def body_excerpt(response: WebResponse, header_values: Iterable[str]) -> str:
    """The start of the answer's body on one line, without any of the request's header
    values (an endpoint may echo them back in its error)."""
    body = response.body
    if body is None:
        return ""
    text = body if isinstance(body, str) else msgspec.json.encode(body).decode()
    for value in sorted(header_values, key=len, reverse=True):
        if len(value) >= _MIN_SCRUBBED:
            for form in (value, msgspec.json.encode(value).decode()[1:-1]):
                text = text.replace(form, "***")
    text = re.sub(r"\s+", " ", text).strip()
    return text if len(text) <= EXCERPT_CHARS else text[:EXCERPT_CHARS] + "…"
