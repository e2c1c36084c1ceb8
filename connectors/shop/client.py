"""A small WooCommerce REST API v3 client over aiohttp, for one connector call.

One session per call (``async with ShopClient.connect(...)``), closed when the call ends.
Credentials travel as HTTP Basic auth, never as query parameters: URLs end up in aiohttp's
exception texts and in proxies' logs, headers do not. Every request has a timeout, at most
a few run at once (shops are often small servers), and bodies are size-capped.
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator, Awaitable, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

import aiohttp
from yarl import URL

from connectord.connectors.shop.credentials import ShopCredentials
from connectord.connectors.shop.errors import NotAShopError
from connectord.connectors.shop.responses import (
    ShopResponse,
    int_header,
    interpret,
    record,
    records,
    transport_error,
)
from connectord.plugins import egress

REQUEST_TIMEOUT = aiohttp.ClientTimeout(total=20, connect=5, sock_read=15)
MAX_BODY_BYTES = 8 * 1024 * 1024
MAX_PARALLEL_REQUESTS = 4
MAX_PER_PAGE = 100  # WooCommerce refuses larger pages
MAX_PAGES = 50  # bound for "fetch all pages": 5,000 records
USER_AGENT = "connectord-shop/0.1"

T = TypeVar("T")
Params = Mapping[str, str | int]


@dataclass(frozen=True)
class Page:
    items: list[dict[str, Any]]
    total: int | None  # X-WP-Total, when the shop (or its proxy) sends it
    total_pages: int | None  # X-WP-TotalPages, likewise

    def has_more(self, page: int, per_page: int) -> bool:
        if self.total_pages is not None:
            return page < self.total_pages
        return len(self.items) >= per_page  # headers stripped: a full page may have a next


class ShopClient:
    def __init__(self, session: aiohttp.ClientSession, shop: ShopCredentials) -> None:
        self._session = session
        self._shop = shop
        self._slots = asyncio.Semaphore(MAX_PARALLEL_REQUESTS)

    @classmethod
    @asynccontextmanager
    async def connect(cls, shop: ShopCredentials) -> AsyncIterator[ShopClient]:
        headers = {"Accept": "application/json", "User-Agent": USER_AGENT,
                   "Authorization": basic_auth(shop.consumer_key, shop.consumer_secret)}
        # aiohttp drops the Authorization header when a redirect leaves the shop's origin;
        # every connection, redirects included, follows the egress policy.
        async with egress.http_session(headers=headers, timeout=REQUEST_TIMEOUT) as session:
            yield cls(session, shop)

    # --- resources -----------------------------------------------------------------------

    async def categories(
        self, *, page: int = 1, per_page: int = 10, search: str | None = None,
        include: Sequence[int] = (), orderby: str = "name",
    ) -> Page:
        params: dict[str, str | int] = {"page": page, "per_page": per_page, "orderby": orderby}
        if search:
            params["search"] = search
        if include:
            params["include"] = ",".join(map(str, include))
        return await self.get_page("products/categories", params)

    async def categories_by_id(self, ids: Iterable[int]) -> list[dict[str, Any]]:
        """The categories with these ids, in pages of the largest size, one request per 100."""
        wanted = sorted(set(ids))
        chunks = [wanted[i:i + MAX_PER_PAGE] for i in range(0, len(wanted), MAX_PER_PAGE)]
        pages = await gather_all(
            self.categories(include=chunk, per_page=MAX_PER_PAGE, orderby="id") for chunk in chunks
        )
        return [item for page in pages for item in page.items]

    async def category(self, category_id: int) -> dict[str, Any]:
        return record(await self.get_json(f"products/categories/{int(category_id)}"), "category")

    async def products(self, *, page: int = 1, per_page: int = 10, category: int | None = None) -> Page:
        """A page of products by ascending id (stable while paging); a category includes its
        subcategories, as in WooCommerce."""
        params: dict[str, str | int] = {"page": page, "per_page": per_page, "orderby": "id", "order": "asc"}
        if category is not None:
            params["category"] = int(category)
        return await self.get_page("products", params)

    async def attributes(self, *, category: int | None = None) -> list[dict[str, Any]]:
        # ``category`` is the demo shop's extension; WooCommerce ignores it and lists all.
        params = {} if category is None else {"category": int(category)}
        return records(await self.get_json("products/attributes", params), "attribute list")

    async def attribute_terms(self, attribute_id: int) -> list[dict[str, Any]]:
        return await self.get_all(f"products/attributes/{int(attribute_id)}/terms")

    # --- plumbing ------------------------------------------------------------------------

    async def get_json(self, path: str, params: Params | None = None) -> Any:
        return interpret(await self._get(path, params), self._shop.display)

    async def get_page(self, path: str, params: Params) -> Page:
        response = await self._get(path, params)
        items = records(interpret(response, self._shop.display), "list")
        return Page(items, int_header(response, "X-WP-Total"),
                    int_header(response, "X-WP-TotalPages"))

    async def get_all(self, path: str, params: Params | None = None) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        for number in range(1, MAX_PAGES + 1):
            page = await self.get_page(path, {**(params or {}), "page": number,
                                              "per_page": MAX_PER_PAGE})
            items += page.items
            if not page.has_more(number, MAX_PER_PAGE):
                break
        return items

    async def _get(self, path: str, params: Params | None) -> ShopResponse:
        url = self._shop.api_root.join(URL(path))
        async with self._slots:
            try:
                async with self._session.get(url, params=params) as response:
                    body = await _read_capped(response, self._shop.display)
                    return ShopResponse(response.status, response.content_type, body,
                                        response.headers)
            except (aiohttp.ClientError, TimeoutError) as exc:
                raise transport_error(exc, self._shop, REQUEST_TIMEOUT) from None


def basic_auth(key: str, secret: str) -> str:
    """The Authorization header value. Built here rather than with aiohttp.BasicAuth, which
    aiohttp 3.14 deprecates; UTF-8 so that any key a shop issued can be sent."""
    return "Basic " + base64.b64encode(f"{key}:{secret}".encode()).decode("ascii")


async def gather_all(awaitables: Iterable[Awaitable[T]]) -> list[T]:
    """Like asyncio.gather, but the first failure cancels the rest, so nothing is left
    running against a session that is about to close."""
    tasks = [asyncio.ensure_future(a) for a in awaitables]
    try:
        return list(await asyncio.gather(*tasks))
    except BaseException:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise


async def _read_capped(response: aiohttp.ClientResponse, where: str) -> bytes:
    # A wrong url can point at a large file; read no more than a shop's answer can be.
    if (response.content_length or 0) > MAX_BODY_BYTES:
        raise NotAShopError(f"{where} answered with {response.content_length} bytes, "
                            "more than any WooCommerce API answer; check url")
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.content.iter_chunked(64 * 1024):
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise NotAShopError(f"{where} answered with more than {MAX_BODY_BYTES} bytes, "
                                "more than any WooCommerce API answer; check url")
        chunks.append(chunk)
    return b"".join(chunks)
