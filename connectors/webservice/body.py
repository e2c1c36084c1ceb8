"""Encoding request bodies and decoding response bodies: pure functions over bytes."""

from __future__ import annotations

import codecs
from typing import Any

import msgspec

from connectord.connectors.webservice.request import WebRequest
from connectord.plugins.errors import ConfigError, UpstreamError

#: The Content-Type sent for each body_type when the request's headers give none.
CONTENT_TYPES = {
    "json": "application/json",
    "xml": "application/xml; charset=utf-8",
    "text": "text/plain; charset=utf-8",
}


def encode_body(request: WebRequest) -> bytes | None:
    """The bytes to send, or ``None`` when the request has no body."""
    if request.body is None:
        return None
    if request.body_type != "json":
        return str(request.body).encode("utf-8")
    try:
        return msgspec.json.encode(request.body)
    except (TypeError, msgspec.EncodeError) as exc:
        raise ConfigError(f"body cannot be encoded as JSON: {exc}", "body") from None


def is_json_type(content_type: str) -> bool:
    """application/json and the ``+json`` family (problem+json, vnd.api+json, ...)."""
    mime = content_type.split(";", 1)[0].strip().lower()
    return mime == "application/json" or mime.endswith("+json")


def decode_body(raw: bytes, content_type: str, charset: str | None = None) -> Any:
    """JSON responses parsed (``None`` when empty), anything else as text.

    Text is decoded with the declared charset (UTF-8 when none or an unknown one is
    declared), replacing undecodable bytes rather than failing the call.
    """
    if is_json_type(content_type):
        if not raw.strip():
            return None
        try:
            return msgspec.json.decode(raw)
        except msgspec.DecodeError as exc:
            raise UpstreamError(f"the response declares JSON but is not valid JSON: {exc}") from None
    return raw.decode(_codec(charset), errors="replace")


def _codec(charset: str | None) -> str:
    if charset:
        try:
            return codecs.lookup(charset).name
        except LookupError:
            pass  # a server's typo in its charset should not lose the body
    return "utf-8"
