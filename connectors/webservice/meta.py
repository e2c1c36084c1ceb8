"""get_meta_model for ``call``: what the node takes at run time and what it gives out."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import msgspec

from connectord.connectors.webservice.schemas import (
    BODY_SCHEMAS,
    BODY_TYPES,
    BODYLESS_METHODS,
    HEADERS_SCHEMA,
    METHODS,
    SEARCH_PARAMS_SCHEMA,
)
from connectord.plugins.errors import ConfigError
from connectord.plugins.types import MetaModel

#: Deeper samples get an open schema: the bound keeps recursion far from Python's limit.
MAX_INFER_DEPTH = 32


def call_meta_model(cfg: Mapping[str, Any]) -> MetaModel:
    """The ``in`` and ``out`` schemas of ``call`` for a configuration; only the fields that
    shape them (method, body_type, response_sample) are read, so an unfinished node works."""
    method = _choice(cfg, "method", METHODS, "GET", upper=True)
    body_type = _choice(cfg, "body_type", BODY_TYPES, "json")
    return MetaModel(in_=input_schema(method, body_type), out=output_schema(method, cfg))


def input_schema(method: str, body_type: str) -> dict[str, Any]:
    """Run-time overrides: headers and searchParams merged into the configured ones, and a
    body (none for GET and HEAD) replacing the configured body."""
    properties: dict[str, Any] = {"headers": HEADERS_SCHEMA, "searchParams": SEARCH_PARAMS_SCHEMA}
    if method not in BODYLESS_METHODS:
        properties["body"] = BODY_SCHEMAS[body_type]
    return {"type": "object", "properties": properties, "additionalProperties": False}


def output_schema(method: str, cfg: Mapping[str, Any]) -> dict[str, Any]:
    body: dict[str, Any] = {"description": "Parsed JSON for a JSON response, else the text."}
    if method == "HEAD":
        body = {"type": "null"}
    elif "response_sample" in cfg:
        body = infer_schema(_sample(cfg["response_sample"]))
    return {
        "type": "object",
        "properties": {
            "status": {"type": "integer", "minimum": 100, "maximum": 599},
            "reason": {"type": "string"},
            "headers": {"type": "object", "additionalProperties": {"type": "string"}},
            "body": body,
        },
        "required": ["status", "reason", "headers", "body"],
    }


def infer_schema(value: Any, depth: int = 0) -> dict[str, Any]:
    """A JSON schema that ``value`` (a JSON value) satisfies, inferring nested objects and
    arrays (from their first element). Nothing is required: a sample shows which fields can
    appear, not which always do."""
    if depth >= MAX_INFER_DEPTH:
        return {}
    if value is None:
        return {"type": "null"}
    if isinstance(value, bool):  # before int: bool is an int subclass
        return {"type": "boolean"}
    if isinstance(value, int):
        return {"type": "integer"}
    if isinstance(value, float):
        return {"type": "number"}
    if isinstance(value, str):
        return {"type": "string"}
    if isinstance(value, list):
        return {"type": "array", "items": infer_schema(value[0], depth + 1)} if value else {"type": "array"}
    if isinstance(value, Mapping):
        props = {str(k): infer_schema(v, depth + 1) for k, v in value.items()}
        return {"type": "object", "properties": props}
    raise ConfigError(f"response_sample holds a {type(value).__name__}, not JSON", "response_sample")


def _sample(raw: Any) -> Any:
    # A UI text field delivers JSON as a string: parse it. A JSON string sample must
    # therefore be quoted ("\"text\"").
    if not isinstance(raw, str):
        return raw
    try:
        return msgspec.json.decode(raw)
    except msgspec.DecodeError as exc:
        raise ConfigError(f"response_sample is not valid JSON: {exc}", "response_sample") from None


def _choice(
    cfg: Mapping[str, Any], field: str, allowed: tuple[str, ...], default: str, upper: bool = False
) -> str:
    value = cfg.get(field) or default
    if isinstance(value, str) and upper:
        value = value.upper()
    if value not in allowed:
        raise ConfigError(f"{field} must be one of {', '.join(allowed)}", field)
    return str(value)
