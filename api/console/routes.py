"""The console's URL map (all under ``/console``)."""

from aiohttp import web

from connectord.api.console import pages, preview

ROUTES = [
    web.get("/console", pages.root),
    web.get("/console/", pages.root),
    web.get("/console/login", pages.login_form),
    web.post("/console/login", pages.login),
    web.post("/console/logout", pages.logout),
    web.get("/console/api/next-fires", preview.next_fire_times),
    web.get("/console/static/{name}", pages.static),
    web.get("/console/{page}", pages.page),
]
