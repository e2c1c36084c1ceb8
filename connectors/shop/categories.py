"""The ``categories`` dropdown: one page of the shop's categories, labelled with their path.

A page from the shop gives each category's parent id only, so the labels
("Electronics > Phones > Smartphones") need the ancestors: they are fetched level by
level, all missing parents of a level in one request, and kept for the rest of the call.
"""

from __future__ import annotations

import html
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from connectord.connectors.shop.client import MAX_PER_PAGE, ShopClient
from connectord.connectors.shop.credentials import ShopCredentials
from connectord.connectors.shop.cursor import decode_cursor, encode_cursor
from connectord.connectors.shop.errors import NotAShopError
from connectord.plugins.types import Option, SelectQuery, SelectResult

PATH_SEPARATOR = " > "
MAX_DEPTH = 20  # a shop with a parent cycle must not keep us fetching
#: Slugs are unique within WordPress's category taxonomy, names are not ("Accessories"
#: under several parents); a unique sort key keeps pages from skipping or repeating rows
#: (MySQL may order ties differently per page), and slugs still read almost alphabetically.
ORDER_BY = "slug"


@dataclass(frozen=True)
class CategoryRecord:
    id: int
    name: str  # unescaped: WordPress returns "Food &amp; Drink"
    parent: int


def parse_category(item: dict[str, Any]) -> CategoryRecord:
    cid, name, parent = item.get("id"), item.get("name"), item.get("parent", 0)
    if not isinstance(cid, int) or not isinstance(name, str) or not isinstance(parent, int):
        raise NotAShopError("the shop sent a category without a numeric id, a name and a "
                            "parent id; check url")
    return CategoryRecord(cid, html.unescape(name), parent)


class CategoryTree:
    """The categories seen during one call, by id, to build path labels."""

    def __init__(self, records: Iterable[CategoryRecord] = ()) -> None:
        self._by_id: dict[int, CategoryRecord] = {}
        self._absent: set[int] = set()  # parents the shop did not return; not asked twice
        self.add(records)

    def add(self, records: Iterable[CategoryRecord]) -> None:
        self._by_id.update((r.id, r) for r in records)

    def missing_parents(self) -> set[int]:
        parents = {r.parent for r in self._by_id.values() if r.parent}
        return parents - self._by_id.keys() - self._absent

    async def fetch_ancestors(self, client: ShopClient) -> None:
        for _ in range(MAX_DEPTH):
            missing = self.missing_parents()
            if not missing:
                return
            found = [parse_category(i) for i in await client.categories_by_id(missing)]
            self.add(found)
            self._absent |= missing - {r.id for r in found}

    def path(self, category_id: int) -> list[str]:
        names: list[str] = []
        current = self._by_id.get(category_id)
        while current is not None and len(names) < MAX_DEPTH:
            names.append(current.name)
            current = self._by_id.get(current.parent)
        return names[::-1]

    def label(self, category_id: int) -> str:
        return PATH_SEPARATOR.join(self.path(category_id))


def page_size(limit: int) -> int:
    return max(1, min(limit, MAX_PER_PAGE))


async def select_categories(shop: ShopCredentials, query: SelectQuery) -> SelectResult:
    search = (query.search or "").strip() or None
    if query.cursor:
        page, per_page = decode_cursor(query.cursor, search)
    else:
        page, per_page = 1, page_size(query.limit)
    async with ShopClient.connect(shop) as client:
        listed = await client.categories(page=page, per_page=per_page, search=search,
                                         orderby=ORDER_BY)
        records = [parse_category(item) for item in listed.items]
        tree = CategoryTree(records)
        await tree.fetch_ancestors(client)
    options = [Option(value=str(r.id), label=tree.label(r.id)) for r in records]
    more = listed.has_more(page, per_page) and bool(records)
    return SelectResult(options, encode_cursor(page + 1, per_page, search) if more else None)
