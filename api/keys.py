"""Typed keys for what the application holds (aiohttp's AppKey), in one place."""

from aiohttp import web

from connectord.plugins.manager import ConnectorRegistry
from connectord.runtime.config import Settings
from connectord.runtime.store import Store

SETTINGS = web.AppKey("settings", Settings)
REGISTRY = web.AppKey("registry", ConnectorRegistry)
STORE = web.AppKey("store", Store)
