"""The ``select_model`` cursor: which page of the shop's list comes next.

Opaque to callers (URL-safe base64 of a small JSON array) but self-checking: it carries
the page size, so changing ``limit`` mid-way cannot skip or repeat options, and a digest of
the search term, so a cursor is not reused for a different search by mistake.
"""

from __future__ import annotations

import base64
import binascii
import hashlib

import msgspec

from connectord.connectors.shop.client import MAX_PER_PAGE
from connectord.plugins.errors import ConnectorError

VERSION = 1


class InvalidCursorError(ConnectorError):
    """The cursor was not returned by this connector for this search."""


class PageCursor(msgspec.Struct, array_like=True, frozen=True):
    version: int
    page: int
    per_page: int
    search: str  # digest of the search term, "" for none


def search_digest(search: str | None) -> str:
    return hashlib.sha256(search.encode()).hexdigest()[:16] if search else ""


def encode_cursor(page: int, per_page: int, search: str | None) -> str:
    raw = msgspec.json.encode(PageCursor(VERSION, page, per_page, search_digest(search)))
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def decode_cursor(cursor: str, search: str | None) -> tuple[int, int]:
    """(page, per_page) from a cursor this connector returned for the same ``search``."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        decoded = msgspec.json.decode(raw, type=PageCursor)
    except (binascii.Error, ValueError, msgspec.DecodeError):
        raise InvalidCursorError("the cursor is not one this connector returned; "
                                 "start again without a cursor") from None
    if (decoded.version != VERSION or decoded.page < 1
            or not 1 <= decoded.per_page <= MAX_PER_PAGE):
        raise InvalidCursorError("the cursor is not one this connector returned; "
                                 "start again without a cursor")
    if decoded.search != search_digest(search):
        raise InvalidCursorError("the cursor belongs to a different search term; "
                                 "start again without a cursor")
    return decoded.page, decoded.per_page
