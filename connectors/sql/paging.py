"""Keyset paging of dropdown options: opaque cursors that carry the last key of a page.

Paging on the key (not an offset) keeps each page one index range scan however deep the
caller pages, and does not skip or repeat options when objects are created meanwhile.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Sequence
from typing import TypeVar

from connectord.plugins.errors import ConfigError

T = TypeVar("T")

#: Larger pages are cut to this size; the caller still gets a cursor for the rest.
MAX_PAGE = 1000
_VERSION = 1


def page_size(limit: int) -> int:
    """The page size to serve for the caller's ``limit``."""
    if limit < 1:
        raise ConfigError(f"limit must be at least 1 (got {limit})", field="limit")
    return min(limit, MAX_PAGE)


def encode_cursor(method: str, key: Sequence[str]) -> str:
    """A cursor for the page after ``key``; it names ``method`` so it cannot be replayed
    against another dropdown."""
    raw = json.dumps([_VERSION, method, *key], ensure_ascii=False, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(method: str, cursor: str | None, arity: int) -> tuple[str, ...] | None:
    """The key a cursor of ``method`` carries (``None`` for the first page)."""
    if cursor is None:
        return None
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        data = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")).decode())
    except (ValueError, UnicodeError, binascii.Error):
        data = None
    ok = (
        isinstance(data, list)
        and data[:2] == [_VERSION, method]
        and len(data) == arity + 2
        and all(isinstance(part, str) for part in data[2:])
    )
    if not ok:
        raise ConfigError(
            f"cursor is not one this '{method}' dropdown issued; ask for the first page again",
            field="cursor",
        )
    return tuple(data[2:])


def split_page(
    rows: Sequence[T], limit: int, method: str, key: Callable[[T], Sequence[str]]
) -> tuple[list[T], str | None]:
    """Cut ``rows`` (fetched with ``limit + 1`` so a further page shows itself) to a page
    and the cursor of the next one, ``None`` on the last page."""
    page = list(rows[:limit])
    if len(rows) <= limit or not page:
        return page, None
    return page, encode_cursor(method, key(page[-1]))
