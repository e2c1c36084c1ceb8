"""The JSON schemas of the webservice connector: its credentials and a request's configuration.

They are hand-written rather than generated from the Structs so that UIs get flat schemas
with titles and conditionals; tests check that they agree with :class:`WebRequest`.
"""

from __future__ import annotations

import re
from typing import Any, Final

METHODS: Final = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")
#: Methods that carry no request body in the ``call`` action (DELETE and OPTIONS may carry
#: one there; the ``callWebserviceEndpoint`` job type allows one for BODY_METHODS only).
BODYLESS_METHODS: Final = ("GET", "HEAD")
#: The methods a ``callWebserviceEndpoint`` job may send a body with.
BODY_METHODS: Final = ("POST", "PUT", "PATCH")
BODY_TYPES: Final = ("json", "xml", "text")
AUTH_TYPES: Final = ("none", "basic", "bearer", "api_key")
DEFAULT_API_KEY_HEADER: Final = "X-API-Key"
#: RFC 9110 token: what a header name may consist of.
HEADER_NAME_PATTERN: Final = r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$"

_SCALAR: dict[str, Any] = {"type": ["string", "number", "boolean"]}

HEADERS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "title": "Headers",
    "propertyNames": {"pattern": HEADER_NAME_PATTERN},
    "additionalProperties": {"type": "string"},
}

SEARCH_PARAMS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "title": "Query parameters",
    "description": "Added to the URL's query; a list repeats the parameter.",
    "additionalProperties": {"anyOf": [_SCALAR, {"type": "array", "items": _SCALAR}]},
}

#: The schema of ``body`` for each ``body_type``: XML and text are sent as written.
BODY_SCHEMAS: dict[str, dict[str, Any]] = {
    "json": {"title": "Body", "description": "Any JSON value, sent as application/json."},
    "xml": {"type": "string", "title": "Body", "description": "An XML document."},
    "text": {"type": "string", "title": "Body", "description": "Plain text."},
}

REQUEST_SCHEMA: dict[str, Any] = {
    "type": "object",
    "title": "Web service request",
    "properties": {
        "url": {
            "type": "string",
            "minLength": 1,
            "title": "URL",
            "description": "An http(s) URL, or a path appended to the credentials' base_url.",
        },
        "method": {"enum": list(METHODS), "default": "GET", "title": "Method"},
        "headers": HEADERS_SCHEMA,
        "searchParams": SEARCH_PARAMS_SCHEMA,
        "body": BODY_SCHEMAS["json"],
        "body_type": {
            "enum": list(BODY_TYPES),
            "default": "json",
            "title": "Body type",
            "description": "Sets Content-Type (application/json, application/xml, text/plain) "
            "unless the headers give one.",
        },
        "timeout": {
            "type": "number",
            "exclusiveMinimum": 0,
            "maximum": 300,
            "default": 30,
            "title": "Timeout (seconds)",
        },
        "follow_redirects": {"type": "boolean", "default": True, "title": "Follow redirects"},
    },
    "required": ["url"],
    "additionalProperties": False,
    "allOf": [
        # A missing method means GET, so the "if" deliberately matches when it is absent.
        {
            "if": {"properties": {"method": {"enum": list(BODYLESS_METHODS)}}},
            "then": {"not": {"required": ["body"]}},
        },
        {
            "if": {
                "properties": {"body_type": {"enum": ["xml", "text"]}},
                "required": ["body_type"],
            },
            "then": {"properties": {"body": {"type": "string"}}},
        },
    ],
}

#: The ``call`` action's configuration: a request, plus a sample of the response.
CALL_CONFIG_SCHEMA: dict[str, Any] = {
    **REQUEST_SCHEMA,
    "properties": {
        **REQUEST_SCHEMA["properties"],
        "response_sample": {
            "title": "Response sample",
            "description": "An example JSON response (a JSON value, or a string holding JSON); "
            "the output body's schema is inferred from it.",
        },
    },
}


def _requires(auth: str, *fields: str) -> dict[str, Any]:
    # "required": ["auth"] in the "if": without it an absent auth would match every branch.
    return {
        "if": {"properties": {"auth": {"const": auth}}, "required": ["auth"]},
        "then": {"required": list(fields)},
    }


CREDENTIALS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "auth": {
            "enum": list(AUTH_TYPES),
            "default": "none",
            "title": "Authentication",
            "description": "none, basic (username/password), bearer (token) or api_key "
            "(a key sent in a header).",
        },
        "username": {"type": "string", "minLength": 1, "title": "Username"},
        # Empty passwords are legitimate for basic auth (some APIs put the key in username).
        "password": {"type": "string", "title": "Password", "secret": True},
        "token": {"type": "string", "minLength": 1, "title": "Bearer token", "secret": True},
        "header_name": {
            "type": "string",
            "pattern": HEADER_NAME_PATTERN,
            "default": DEFAULT_API_KEY_HEADER,
            "title": "API key header",
        },
        "api_key": {"type": "string", "minLength": 1, "title": "API key", "secret": True},
        "base_url": {
            "type": "string",
            "pattern": "^[Hh][Tt][Tt][Pp][Ss]?://",
            "title": "Base URL",
            "description": "Relative request URLs are appended to it.",
        },
        "check_url": {
            "type": "string",
            "minLength": 1,
            "title": "Check URL",
            "description": "Called to verify the credentials; a 2xx answer means they work.",
        },
        "check_method": {"enum": list(METHODS), "default": "GET", "title": "Check method"},
        "check_timeout": {
            "type": "number",
            "exclusiveMinimum": 0,
            "maximum": 120,
            "default": 10,
            "title": "Check timeout (seconds)",
        },
    },
    "additionalProperties": False,
    "allOf": [
        _requires("basic", "username", "password"),
        _requires("bearer", "token"),
        _requires("api_key", "api_key"),
    ],
}


def any_case(*names: str) -> str:
    """A regular expression matching exactly these header names (letters, digits and ``-``)
    in any letter case, written with character classes so that every JSON Schema
    implementation reads it alike."""
    assert all(re.fullmatch(r"[A-Za-z0-9-]+", name) for name in names)
    spelled = ("".join(f"[{c.upper()}{c.lower()}]" if c.isalpha() else c for c in name) for name in names)
    return f"^({'|'.join(spelled)})$"


#: Headers whose values describe the body rather than grant access: not treated as secret.
PUBLIC_HEADERS: Final = ("Accept", "Content-Type")

#: The headers of a job: every value but those of PUBLIC_HEADERS is treated as a secret
#: (jobs have no account, so a token travels in a header of the params).
JOB_HEADERS_SCHEMA: dict[str, Any] = {
    **HEADERS_SCHEMA,
    "description": "Header values are treated as secrets (redacted from logs, messages and "
    "results), but for Accept and Content-Type.",
    "secret": True,
    "patternProperties": {any_case(*PUBLIC_HEADERS): {"type": "string", "secret": False}},
}

#: The params of the ``callWebserviceEndpoint`` job type (seed 003's url, method, headers,
#: body, searchParams; seed 002's JSON, XML and text bodies).
JOB_PARAMS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "title": "Call a web service endpoint",
    "properties": {
        "url": {
            "type": "string",
            "pattern": "^[Hh][Tt][Tt][Pp][Ss]?://",
            "title": "URL",
            "description": "An absolute http(s) URL, without user name or password.",
        },
        "method": {"enum": list(METHODS), "default": "GET", "title": "Method"},
        "headers": JOB_HEADERS_SCHEMA,
        "searchParams": SEARCH_PARAMS_SCHEMA,
        "body": {
            "title": "Body",
            "description": "POST, PUT and PATCH only. An object or array is sent as JSON, a "
            "string as it is.",
        },
        "bodyType": {
            "enum": list(BODY_TYPES),
            "title": "Body type",
            "description": "json, xml or text: the Content-Type sent (application/json, "
            "application/xml, text/plain) unless the headers give one. Default: json for an "
            "object or array, text for a string; xml and text need a string body.",
        },
        "timeout": {
            "type": "number",
            "exclusiveMinimum": 0,
            "maximum": 300,
            "default": 30,
            "title": "Timeout (seconds)",
        },
    },
    "required": ["url"],
    "additionalProperties": False,
    "allOf": [
        # A missing method means GET, so the "if" deliberately matches when it is absent.
        {
            "if": {"not": {"properties": {"method": {"enum": list(BODY_METHODS)}}, "required": ["method"]}},
            "then": {
                "not": {"required": ["body"]},
                "description": "only POST, PUT and PATCH requests carry a body",
            },
        },
        {
            "if": {"properties": {"bodyType": {"enum": ["xml", "text"]}}, "required": ["bodyType"]},
            "then": {"properties": {"body": {"type": "string"}}},
        },
    ],
}
