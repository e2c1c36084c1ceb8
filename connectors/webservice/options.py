"""select_model dropdowns of ``call``: HTTP methods and body types, filtered and paged."""

from __future__ import annotations

from connectord.connectors.webservice.body import CONTENT_TYPES
from connectord.connectors.webservice.schemas import BODY_TYPES, METHODS
from connectord.plugins.errors import ConnectorError
from connectord.plugins.types import Option, SelectQuery, SelectResult

_BODY_TYPE_LABELS = {"json": "JSON", "xml": "XML", "text": "Text"}

OPTIONS: dict[str, list[Option]] = {
    "methods": [Option(m, m) for m in METHODS],
    "body_types": [
        Option(t, f"{_BODY_TYPE_LABELS[t]} ({CONTENT_TYPES[t].split(';')[0]})") for t in BODY_TYPES
    ],
}
MODEL_METHODS = tuple(OPTIONS)


def select_options(method: str, query: SelectQuery) -> SelectResult:
    """One page of the ``method`` dropdown; the cursor is the offset of the page."""
    if method not in OPTIONS:
        raise ConnectorError(f"unknown model method '{method}' (known: {', '.join(OPTIONS)})")
    return page(OPTIONS[method], query)


def page(options: list[Option], query: SelectQuery) -> SelectResult:
    """Filter by ``query.search`` (case-insensitive, value or label) and cut one page."""
    term = (query.search or "").lower()
    matching = [o for o in options if term in o.value.lower() or term in o.label.lower()]
    offset = _offset(query.cursor)
    end = offset + max(1, query.limit)
    return SelectResult(options=matching[offset:end], next_cursor=str(end) if end < len(matching) else None)


def _offset(cursor: str | None) -> int:
    if cursor is None:
        return 0
    if not (cursor.isascii() and cursor.isdigit()):
        raise ConnectorError("invalid cursor: pass back the next_cursor of the previous page")
    return int(cursor)
