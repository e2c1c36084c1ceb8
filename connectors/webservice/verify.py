"""verify_credentials: call ``check_url`` with the credentials and judge the status."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from connectord.connectors.webservice.auth import auth_type, secret_field
from connectord.connectors.webservice.client import call_endpoint
from connectord.connectors.webservice.errors import EndpointUnreachableError
from connectord.connectors.webservice.request import (
    WebRequest,
    WebResponse,
    parse_request,
    resolve_url,
    safe_url,
)
from connectord.plugins.egress import EgressRefused
from connectord.plugins.errors import ConfigError
from connectord.plugins.types import VerifyResult, not_verified, verified

DEFAULT_CHECK_TIMEOUT = 10.0
#: Request fields as the credential fields that set them, to name the right one to the user.
_CREDENTIAL_FIELD = {"url": "check_url", "method": "check_method", "timeout": "check_timeout"}


async def verify(credentials: Mapping[str, Any]) -> VerifyResult:
    check_url = credentials.get("check_url")
    if not check_url:
        return not_verified(
            "config",
            "check_url is not set: give the URL of an endpoint that needs these credentials "
            "(a 2xx answer means they work)",
            "check_url",
        )
    try:
        request = check_request(credentials)
        # The status is the answer; a huge body at check_url must not fail the check.
        response = await call_endpoint(request, credentials, read_body=False)
    except ConfigError as exc:
        return not_verified("config", str(exc), _CREDENTIAL_FIELD.get(exc.field or "", exc.field))
    except EndpointUnreachableError as exc:
        return not_verified("network", str(exc), "check_url")
    except EgressRefused as exc:
        return not_verified("config", str(exc), "check_url")
    where = safe_url(resolve_url(check_url, credentials.get("base_url")))
    return judge(response, request.method, where, credentials)


def check_request(credentials: Mapping[str, Any]) -> WebRequest:
    """The request that checks the credentials, from the check_* fields."""
    return parse_request(
        {
            "url": credentials.get("check_url"),
            "method": credentials.get("check_method") or "GET",
            "timeout": credentials.get("check_timeout") or DEFAULT_CHECK_TIMEOUT,
            # A redirect is judged, not followed: an app sending unauthenticated clients
            # to a login page that answers 200 would otherwise "verify".
            "follow_redirects": False,
        }
    )


def judge(
    response: WebResponse, method: str, where: str, credentials: Mapping[str, Any]
) -> VerifyResult:
    """The verdict for the check's response (the URL in ``where`` is already message-safe)."""
    answer = f"{method} {where} answered {response.status} {response.reason}".rstrip()
    if response.ok:
        return verified(f"{answer}: credentials accepted")
    if response.status in (401, 403):
        kind = auth_type(credentials)
        if kind == "none":
            return not_verified("auth", f"{answer}: it needs authentication but auth is 'none'", "auth")
        field = secret_field(credentials)
        return not_verified("auth", f"{answer}: the {kind} credentials were refused", field)
    if 300 <= response.status < 400:
        target = safe_url(response.headers.get("Location", "")) or "an unknown location"
        return not_verified(
            "config",
            f"{answer}: it redirects to {target}; set check_url to an endpoint that answers "
            "directly (a redirect may lead to a login page)",
            "check_url",
        )
    if 400 <= response.status < 500:
        # The service is there but check_url does not name a checkable endpoint.
        return not_verified("config", f"{answer}; check_url should answer 2xx", "check_url")
    return not_verified("network", f"{answer}: the service failed", "check_url")
