"""The URL map, in one table."""

from aiohttp import web

from connectord.api import components, health

ROUTES = [
    web.get("/health", health.health),
    web.get("/v1/components", components.list_components),
    web.get("/v1/components/{component_id}", components.get_component),
]
