"""The URL map, in one table."""

from aiohttp import web

from connectord.api import accounts, components, executions, health, openapi

ROUTES = [
    web.get("/health", health.health),
    web.get("/v1/openapi.json", openapi.document),
    web.get("/v1/components", components.list_components),
    web.get("/v1/components/{component_id}", components.get_component),
    web.post("/v1/exec/schedule", executions.schedule),
    web.get("/v1/exec/poll/{execution_id}", executions.poll),
    web.get("/v1/exec/result/{execution_id}", executions.result),
    web.delete("/v1/exec/{execution_id}", executions.cancel),
    web.post("/v1/accounts", accounts.create),
    web.get("/v1/accounts", accounts.listing),
    web.get("/v1/accounts/{account_id}", accounts.get),
    web.put("/v1/accounts/{account_id}", accounts.replace),
    web.delete("/v1/accounts/{account_id}", accounts.delete),
]
