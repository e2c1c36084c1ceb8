"""Why a call to an endpoint failed, as types callers can tell apart.

All are :class:`connectord.UpstreamError`: the connector itself worked, the endpoint did not
answer usably. Bad input is :class:`connectord.ConfigError` instead.
"""

from __future__ import annotations

from connectord.plugins.errors import UpstreamError


class EndpointUnreachableError(UpstreamError):
    """No answer at all: connection refused, DNS failure, TLS failure or timeout."""


class EndpointTimeoutError(EndpointUnreachableError):
    """The endpoint did not answer (or finish its body) within the request's timeout."""


class ResponseTooLargeError(UpstreamError):
    """The response body is larger than the cap the caller allowed."""


class EndpointStatusError(UpstreamError):
    """The endpoint answered with an error status (400 or above); ``status`` is that status."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status
