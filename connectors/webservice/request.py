"""The request and response of one endpoint call, as plain validated data (no I/O here).

``WebRequest`` takes the parameters of the ``callWebserviceEndpoint`` job type (url, method,
headers, searchParams, body) plus ``body_type``, ``timeout`` and ``follow_redirects``.
Every problem is raised as :class:`connectord.ConfigError` naming the offending field.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Annotated, Any, Literal

import msgspec
from yarl import URL

from connectord.connectors.webservice.schemas import BODYLESS_METHODS, HEADER_NAME_PATTERN
from connectord.plugins.errors import ConfigError

HttpMethod = Literal["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]
BodyType = Literal["json", "xml", "text"]
QueryScalar = str | int | float | bool
QueryValue = QueryScalar | list[QueryScalar]

#: The parts of a request that a caller may override at run time (see :func:`with_overrides`).
OVERRIDABLE = ("headers", "searchParams", "body")


class WebRequest(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """One HTTP request. ``body=None`` sends no body; for xml and text it is a string."""

    url: Annotated[str, msgspec.Meta(min_length=1)]
    method: HttpMethod = "GET"
    headers: dict[str, str] = {}
    search_params: dict[str, QueryValue] = msgspec.field(default_factory=dict, name="searchParams")
    body: Any = None
    body_type: BodyType = "json"
    timeout: Annotated[float, msgspec.Meta(gt=0, le=300)] = 30.0
    follow_redirects: bool = True

    def __post_init__(self) -> None:
        # Runs on construction, msgspec.convert and structs.replace alike, so no WebRequest
        # with these mistakes can exist. ConfigError is not wrapped by msgspec.
        _check_headers(self.headers)
        if self.body is None:
            return
        if self.method in BODYLESS_METHODS:
            raise ConfigError(f"a {self.method} request cannot have a body", "body")
        if self.body_type != "json" and not isinstance(self.body, str):
            raise ConfigError(f"with body_type '{self.body_type}' the body must be a string", "body")


class WebResponse(msgspec.Struct, frozen=True, kw_only=True):
    """What the endpoint answered: ``body`` is parsed JSON for a JSON response, else text
    (``None`` for an empty JSON or HEAD response)."""

    status: int
    reason: str
    headers: dict[str, str]
    body: Any = None

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


def parse_request(data: Mapping[str, Any]) -> WebRequest:
    """Validate ``data`` (job parameters, a node's configuration) into a WebRequest."""
    if not isinstance(data, Mapping):
        raise ConfigError("the request must be an object", None)
    fields = dict(data)
    if isinstance(fields.get("method"), str):
        fields["method"] = fields["method"].upper()  # "get" is a common, harmless spelling
    try:
        return msgspec.convert(fields, WebRequest)
    except msgspec.ValidationError as exc:
        raise ConfigError(f"invalid request: {exc}", _field_of(str(exc))) from None


def with_overrides(request: WebRequest, overrides: Mapping[str, Any]) -> WebRequest:
    """The request with run-time input applied: headers and searchParams are merged into the
    configured ones (header names case-insensitively), a given body replaces the body."""
    unknown = sorted(set(overrides) - set(OVERRIDABLE))
    if unknown:
        raise ConfigError(f"cannot override '{unknown[0]}' (only {', '.join(OVERRIDABLE)})", unknown[0])
    fields = msgspec.to_builtins(request)
    for name in ("headers", "searchParams"):
        extra = overrides.get(name) or {}
        if not isinstance(extra, Mapping):
            raise ConfigError(f"{name} must be an object", name)
        merge = merge_headers if name == "headers" else _merge_params
        fields[name] = merge(fields[name], extra)
    if "body" in overrides:
        fields["body"] = overrides["body"]
    return parse_request(fields)


def merge_headers(base: Mapping[str, str], extra: Mapping[str, str]) -> dict[str, str]:
    """``base`` with ``extra`` on top; header names compare case-insensitively."""
    replaced = {name.lower() for name in extra}
    return {k: v for k, v in base.items() if k.lower() not in replaced} | dict(extra)


def _merge_params(base: Mapping[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    return {**base, **extra}


def resolve_url(url: str, base_url: str | None = None, field: str = "url") -> URL:
    """The absolute http(s) URL to call: ``url`` itself, or appended to ``base_url``.

    ``base_url`` "https://api.example.com/v1" with url "orders" gives ".../v1/orders"
    (plain appending, unlike RFC 3986 joining, which would drop "v1").
    """
    if not _has_scheme(url):
        if not base_url:
            raise ConfigError(
                f"{field} is a relative URL; give an http(s) URL or set base_url in the credentials",
                field,
            )
        _parse_http_url(base_url, "base_url")
        url = base_url.rstrip("/") + "/" + url.lstrip("/")
    return _parse_http_url(url, field)


def safe_url(url: URL | str) -> str:
    """The URL for messages: scheme, host, port and path; never user info or the query,
    which often carry keys."""
    try:
        parsed = URL(str(url))
    except ValueError:
        return "(an invalid URL)"
    if not parsed.absolute:
        return parsed.path
    return str(parsed.with_user(None).with_query(None).with_fragment(None))


def _parse_http_url(url: str, field: str) -> URL:
    try:
        parsed = URL(url)
    except (ValueError, TypeError):
        raise ConfigError(f"{field} is not a valid URL", field) from None
    if parsed.scheme not in ("http", "https"):
        # Only the scheme is echoed: the rest of the URL may hold credentials.
        raise ConfigError(f"{field} must be an http or https URL, not '{parsed.scheme}:'", field)
    if not parsed.host:
        raise ConfigError(f"{field} has no host", field)
    if parsed.user is not None or parsed.password is not None:
        # Credentials belong in the credentials, where they are encrypted and redacted.
        raise ConfigError(f"{field} must not contain a user name or password", field)
    return parsed


def _has_scheme(url: str) -> bool:
    return re.match(r"^[A-Za-z][A-Za-z0-9+.-]*:", url) is not None


def _check_headers(headers: Mapping[str, str]) -> None:
    for name, value in headers.items():
        if not re.fullmatch(HEADER_NAME_PATTERN, name):
            raise ConfigError(f"header name {name!r} is not a valid HTTP header name", "headers")
        if any(c in value for c in "\r\n\0"):
            # Never echo the value: it may be an Authorization header.
            raise ConfigError(f"header '{name}' contains a line break or NUL", "headers")


def _field_of(message: str) -> str | None:
    """The top-level field a msgspec validation message points at."""
    match = re.search(r"field `([^`]+)`", message) or re.search(r"at `\$\.([A-Za-z_]\w*)", message)
    return match.group(1) if match else None
