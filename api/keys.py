"""Typed keys for what the application holds (aiohttp's AppKey), in one place."""

from typing import Protocol

from aiohttp import web

from connectord.plugins.manager import Catalog
from connectord.runtime.config import Settings
from connectord.runtime.store import Store


class Connectors(Protocol):
    """Where the API learns which connectors exist: the sandbox supervisor in a server
    (its zygote loaded them; this process never imports connector code)."""

    @property
    def catalog(self) -> Catalog: ...

    async def start(self) -> None: ...

    async def close(self) -> None: ...


SETTINGS = web.AppKey("settings", Settings)
CONNECTORS = web.AppKey("connectors", Connectors)
STORE = web.AppKey("store", Store)
