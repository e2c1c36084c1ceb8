"""Turns the credentials into the headers that authenticate a request.

Secrets go into headers only; every error names the credential field, never its value.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Mapping
from typing import Any

from connectord.connectors.webservice.schemas import (
    AUTH_TYPES,
    DEFAULT_API_KEY_HEADER,
    HEADER_NAME_PATTERN,
)
from connectord.plugins.errors import ConfigError

#: The credential field holding the secret of each auth type: the field at fault when the
#: service refuses the credentials.
SECRET_FIELD = {"basic": "password", "bearer": "token", "api_key": "api_key"}


def auth_type(credentials: Mapping[str, Any]) -> str:
    kind = credentials.get("auth") or "none"
    if kind not in AUTH_TYPES:
        raise ConfigError(f"auth must be one of {', '.join(AUTH_TYPES)}", "auth")
    return str(kind)


def secret_field(credentials: Mapping[str, Any]) -> str:
    """The field to blame when the service refuses: the secret, or ``auth`` when none is set."""
    return SECRET_FIELD.get(auth_type(credentials), "auth")


def auth_headers(credentials: Mapping[str, Any]) -> dict[str, str]:
    """The headers that carry the credentials (empty for ``auth: none``)."""
    kind = auth_type(credentials)
    if kind == "basic":
        username = _text(credentials, "username", kind)
        if ":" in username:
            raise ConfigError("username must not contain ':' (basic auth separator)", "username")
        password = _text(credentials, "password", kind, allow_empty=True)
        return {"Authorization": basic_authorization(username, password)}
    if kind == "bearer":
        return {"Authorization": f"Bearer {_text(credentials, 'token', kind)}"}
    if kind == "api_key":
        name = credentials.get("header_name") or DEFAULT_API_KEY_HEADER
        if not isinstance(name, str) or not re.fullmatch(HEADER_NAME_PATTERN, name):
            raise ConfigError("header_name is not a valid HTTP header name", "header_name")
        return {name: _text(credentials, "api_key", kind)}
    return {}


def basic_authorization(username: str, password: str) -> str:
    """RFC 7617 with UTF-8. Written out because aiohttp's BasicAuth is deprecated from 3.14
    on and its replacement, encode_basic_auth, does not exist in the older versions we allow."""
    token = base64.b64encode(f"{username}:{password}".encode()).decode("ascii")
    return f"Basic {token}"


def _text(credentials: Mapping[str, Any], field: str, kind: str, allow_empty: bool = False) -> str:
    value = credentials.get(field)
    if not isinstance(value, str) or (not value and not allow_empty):
        raise ConfigError(f"{field} is required for {kind} auth", field)
    if any(c in value for c in "\r\n\0"):
        # Would split the header; the check stops aiohttp from reporting the value.
        raise ConfigError(f"{field} contains a line break or NUL", field)
    return value
