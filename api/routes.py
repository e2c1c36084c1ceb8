"""The URL map, in one table."""

from aiohttp import web

from connectord.api import accounts, components, executions, health, jobs, metrics, openapi, process

ROUTES = [
    web.get("/health", health.health),
    web.get("/metrics", metrics.scrape),
    web.get("/v1/openapi.json", openapi.document),
    web.get("/v1/components", components.list_components),
    # not /v1/components/_reload: that path is POST only
    web.get("/v1/components/{component_id:(?!_reload$)[^/]+}", components.get_component),
    web.post("/v1/components/_reload", components.reload_components),
    web.post("/v1/exec/schedule", executions.schedule),
    web.get("/v1/exec/poll/{execution_id}", executions.poll),
    web.get("/v1/exec/result/{execution_id}", executions.result),
    web.get("/v1/exec", executions.listing),
    # not /v1/exec/schedule: that path is POST only (405 for GET and DELETE, as documented)
    web.get("/v1/exec/{execution_id:(?!schedule$)[^/]+}", executions.get),
    web.delete("/v1/exec/{execution_id:(?!schedule$)[^/]+}", executions.cancel),
    web.post("/v1/accounts", accounts.create),
    web.get("/v1/accounts", accounts.listing),
    web.get("/v1/accounts/{account_id}", accounts.get),
    web.put("/v1/accounts/{account_id}", accounts.replace),
    web.delete("/v1/accounts/{account_id}", accounts.delete),
    web.post("/v1/accounts/{account_id}/_verify", accounts.verify),
    web.get("/v1/job-types", jobs.list_job_types),
    web.get("/v1/job-types/{code}", jobs.get_job_type),
    web.post("/v1/job-types/{code}/_execute", jobs.execute_job_type),
    web.post("/v1/job-definitions", jobs.create_definition),
    web.get("/v1/job-definitions", jobs.list_definitions),
    web.get("/v1/job-definitions/{code}", jobs.get_definition),
    web.patch("/v1/job-definitions/{code}", jobs.update_definition),
    web.delete("/v1/job-definitions/{code}", jobs.delete_definition),
    web.post("/v1/job-definitions/{code}/_start", jobs.start_definition),
    web.post("/v1/job-definitions/{code}/_stop", jobs.stop_definition),
    web.post("/v1/job-definitions/{code}/_execute", jobs.execute_definition),
    web.get("/v1/job-definitions/{code}/next", jobs.next_fires),
    web.get("/v1/jobs", jobs.list_jobs),
    web.get("/v1/jobs/{job_id}", jobs.get_job),
    web.delete("/v1/jobs/{job_id}", jobs.cancel_job),
    # seed 004 writes the start path with "connector-API" and the status path in lower case
    web.post("/scheduler/connector-api/process/start", process.start),
    web.post("/scheduler/connector-API/process/start", process.start),
    web.get("/scheduler/connector-api/process/status/{spid}", process.status),
]
