"""The demo shop's application keys, in one place (aiohttp's typed AppKey)."""

from __future__ import annotations

from aiohttp import web

from connectord.connectors.shop.demo.data import Catalogue

CATALOGUE = web.AppKey("catalogue", Catalogue)
