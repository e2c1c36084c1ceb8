"""Secret params of a job definition sent back masked on PATCH: kept only while every other
param is as stored, lest a stored secret (a webservice job's Authorization header) follow
a changed URL to a host of the sender's choosing. Through a real HTTP server, the jobs
calling receivers on loopback that record what they were sent."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from connectord.runtime.secrets import MASK, hash_api_key

from .conftest import JobsApi

SECRET = "Bearer s3cret-tok-4711"
NEW_SECRET = "Bearer n3w-tok-0815"
AUTH_FIELD = "jobDefinition.params.headers.Authorization"


class Receiver:
    """An HTTP server on loopback recording the Authorization header of each request."""

    def __init__(self, server: TestServer, seen: list[tuple[str, str | None]]) -> None:
        self.server, self.seen = server, seen

    def url(self, path: str) -> str:
        return str(self.server.make_url(path))


async def _receiver() -> AsyncIterator[Receiver]:
    seen: list[tuple[str, str | None]] = []

    async def record(request: web.Request) -> web.Response:
        seen.append((request.path, request.headers.get("Authorization")))
        return web.json_response({"ok": True})

    app = web.Application()
    app.router.add_route("*", "/{path:.*}", record)
    async with TestServer(app, host="127.0.0.1") as server:
        yield Receiver(server, seen)


@pytest.fixture
async def service() -> AsyncIterator[Receiver]:
    """The web service the definition was made for."""
    async for receiver in _receiver():
        yield receiver


@pytest.fixture
async def attacker() -> AsyncIterator[Receiver]:
    """Another host, which a PATCH tries to point the definition at."""
    async for receiver in _receiver():
        yield receiver


def web_definition(url: str) -> dict[str, Any]:
    return {
        "jobDefinition": {
            "jobDefinitionCode": "web",
            "jobType": "callWebserviceEndpoint",
            "name": "Call the service",
            "params": {
                "url": url,
                "method": "GET",
                "headers": {"Authorization": SECRET, "Accept": "application/json"},
            },
        }
    }


async def run(jobs_api: JobsApi) -> dict[str, Any]:
    answer = await jobs_api.call("POST", "/v1/job-definitions/web/_execute", 202)
    job = await jobs_api.finished(answer["jobId"])
    assert job["status"] == "COMPLETED", job
    return job


async def stored_params(jobs_api: JobsApi) -> dict[str, Any]:
    principal = jobs_api.jobs.store.principal(hash_api_key(jobs_api.keys["ops@example.com"]))
    assert principal is not None
    record = await jobs_api.jobs.definition(principal, "web")
    return jobs_api.box.open_json(record.sealed_params)


async def test_a_masked_secret_param_cannot_follow_a_change_of_the_other_params(
    jobs_api: JobsApi, service: Receiver, attacker: Receiver
) -> None:
    created = await jobs_api.call("POST", "/v1/job-definitions", 201, json=web_definition(service.url("/in")))
    shown = created["jobDefinition"]
    read = shown["params"]
    assert read["headers"] == {"Authorization": MASK, "Accept": "application/json"}

    # (a) Re-pointed with the secret sent back masked: refused naming the secret, nothing changed.
    masked_headers = {"Authorization": MASK, "Accept": "application/json"}
    for params, changed in (
        ({"url": attacker.url("/steal"), "method": "GET", "headers": masked_headers}, "'url'"),
        ({**read, "method": "POST", "body": {"a": 1}}, "'method', 'body.a'"),
        ({**read, "headers": {**masked_headers, "Accept": "text/plain"}}, "'headers.Accept'"),
        ({**read, "headers": {"Authorization": MASK}}, "'headers.Accept'"),  # dropped
        ({**read, "searchParams": {"to": "elsewhere"}}, "'searchParams.to'"),
    ):
        patch = {"jobDefinition": {"params": params}}
        refused = await jobs_api.call("PATCH", "/v1/job-definitions/web", 400, json=patch)
        assert refused["field"] == AUTH_FIELD, (params, refused)
        assert (
            f"param 'headers.Authorization' was sent masked ({MASK}) but {changed} changed: "
            "secrets must be sent again when the other params change"
        ) == refused["message"]
        assert "s3cret" not in str(refused) and "steal" not in str(refused)
    assert (await jobs_api.call("GET", "/v1/job-definitions/web", 200))["jobDefinition"] == shown
    assert (await stored_params(jobs_api))["url"] == service.url("/in")
    await run(jobs_api)
    assert service.seen == [("/in", SECRET)] and attacker.seen == []

    # (b) Only fields beside params change, the params sent back as read: the secret is kept.
    patch = {
        "jobDefinition": {
            "name": "renamed",
            "description": "now described",
            "schedule": {"cron": "0 0 12 * * ?", "timezone": "Europe/Berlin"},
            "params": read,
        }
    }
    patched = (await jobs_api.call("PATCH", "/v1/job-definitions/web", 200, json=patch))["jobDefinition"]
    assert (patched["name"], patched["params"]) == ("renamed", read)
    assert (await stored_params(jobs_api))["headers"]["Authorization"] == SECRET
    await run(jobs_api)
    assert service.seen[-1] == ("/in", SECRET)

    # (c) Re-pointed with the secret sent again: accepted, and the new secret goes there.
    moved = {"url": service.url("/moved"), "method": "GET", "headers": {"Authorization": NEW_SECRET}}
    patched = (
        await jobs_api.call(
            "PATCH", "/v1/job-definitions/web", 200, json={"jobDefinition": {"params": moved}}
        )
    )["jobDefinition"]
    assert patched["params"]["headers"] == {"Authorization": MASK}
    await run(jobs_api)
    assert service.seen[-1] == ("/moved", NEW_SECRET) and attacker.seen == []


async def test_a_new_definition_with_a_masked_param_is_refused_naming_it(jobs_api: JobsApi) -> None:
    """Nothing is stored for the mask to stand for: storing it would make the secret ten
    asterisks (a definition copied from an answer)."""
    body = web_definition("https://example.com/x")
    body["jobDefinition"]["params"]["headers"]["Authorization"] = MASK
    refused = await jobs_api.call("POST", "/v1/job-definitions", 400, json=body)
    assert refused["field"] == AUTH_FIELD
    assert "has no stored value" in refused["message"]
    await jobs_api.call("GET", "/v1/job-definitions/web", 404)


async def test_a_password_in_a_url_param_is_masked_and_kept_only_for_that_url(
    jobs_api: JobsApi, service: Receiver, attacker: Receiver
) -> None:
    """``http://user:password@host`` in a param: the password is masked in every answer,
    kept when the URL comes back as read, and refused (naming the param) when the masked
    URL points elsewhere or nothing is stored for it. (The webservice job type itself
    refuses such a URL when it runs; a job type of another connector may take one.)"""
    password = "pw-in-url-9931"
    url = service.url("/in").replace("http://", f"http://bot:{password}@")
    body = web_definition(url)
    body["jobDefinition"]["params"]["headers"] = {"Accept": "application/json"}
    created = (await jobs_api.call("POST", "/v1/job-definitions", 201, json=body))["jobDefinition"]
    read = created["params"]
    assert read["url"] == service.url("/in").replace("http://", f"http://bot:{MASK}@")
    listed = await jobs_api.call("GET", "/v1/job-definitions", 200)
    assert password not in str(created) and password not in str(listed)

    sent_back = {"jobDefinition": {"name": "renamed", "params": read}}
    patched = (await jobs_api.call("PATCH", "/v1/job-definitions/web", 200, json=sent_back))["jobDefinition"]
    assert patched["params"] == read and (await stored_params(jobs_api))["url"] == url

    elsewhere = {**read, "url": attacker.url("/steal").replace("http://", f"http://bot:{MASK}@")}
    refused = await jobs_api.call(
        "PATCH", "/v1/job-definitions/web", 400, json={"jobDefinition": {"params": elsewhere}}
    )
    assert refused["field"] == "jobDefinition.params.url"
    assert "send its password again" in refused["message"] and password not in str(refused)
    assert (await stored_params(jobs_api))["url"] == url

    body = web_definition(elsewhere["url"])
    body["jobDefinition"]["jobDefinitionCode"] = "copied"
    body["jobDefinition"]["params"]["headers"] = {}
    refused = await jobs_api.call("POST", "/v1/job-definitions", 400, json=body)
    assert refused["field"] == "jobDefinition.params.url"
    await jobs_api.call("GET", "/v1/job-definitions/copied", 404)
