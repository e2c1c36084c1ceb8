"""The connector's credentials, read once per call into what the API client needs."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from yarl import URL

from connectord.connectors.shop.errors import ShopUrlError

API_ROOT = "wp-json/wc/v3/"
#: Suffixes people paste along with the shop address; the API root is appended again.
_PASTED_SUFFIXES = ("/wp-json/wc/v3", "/wp-json")


@dataclass(frozen=True)
class ShopCredentials:
    api_root: URL  # ends with /wp-json/wc/v3/, so relative paths resolve beneath it
    display: str  # the shop's address for messages: no user info, no query
    consumer_key: str = field(repr=False)
    consumer_secret: str = field(repr=False)

    @classmethod
    def from_fields(cls, credentials: Mapping[str, Any]) -> ShopCredentials:
        """Read the (schema-checked) credential fields; ShopUrlError if ``url`` is unusable."""
        site = shop_site(str(credentials["url"]))
        return cls(
            api_root=site.with_path(f"{site.path.rstrip('/')}/{API_ROOT}"),
            display=str(site).rstrip("/"),
            consumer_key=str(credentials["consumer_key"]),
            consumer_secret=str(credentials["consumer_secret"]),
        )


def shop_site(url: str) -> URL:
    """The WordPress site root from what a person typed: scheme and host required, no user
    info (credentials go in their own fields), query and fragment dropped, and a pasted
    ``/wp-json/...`` suffix removed."""
    try:
        parsed = URL(url.strip())
    except (ValueError, TypeError):
        raise ShopUrlError("url is not a valid URL; use the shop's address, "
                           "such as https://shop.example.com") from None
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise ShopUrlError("url must start with https:// (or http://) and name a host, "
                           "such as https://shop.example.com")
    if parsed.user is not None or parsed.password is not None:
        raise ShopUrlError("url must not contain a user name or password; "
                           "put the API key in consumer_key and consumer_secret")
    path = parsed.path.rstrip("/")
    for suffix in _PASTED_SUFFIXES:
        path = path.removesuffix(suffix)
    return parsed.with_query(None).with_fragment(None).with_path(path or "/")
