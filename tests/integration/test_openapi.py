"""api/openapi.json against the running server (pytest-aiohttp's loopback server).

``GET /v1/openapi.json`` serves the file to anyone; the app's routes are the document's
operations; and a tour of every endpoint checks each answer against the document (a
documented status, its required headers, a body valid against its schema) and that every
documented status (and media type) of every operation was seen. Executions and jobs run
nowhere here (a catalog-only connectors object): the tour cancels them, or claims them and
writes their outcome into the store as the dispatchers would.
"""

from __future__ import annotations

import asyncio
import base64
import json
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec
import pytest
from aiohttp import ClientResponse, web
from aiohttp.test_utils import TestClient
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

import connectord
from connectord.api import openapi
from connectord.api.app import create_app
from connectord.api.keys import EXECUTIONS, NODE, STORE, STORE_RUNNER
from connectord.plugins.manager import Catalog, PluginSource, Selection, load_connectors
from connectord.runtime.config import Settings
from connectord.runtime.executions.results import encode_logs, encode_outcome, rejection_reason
from connectord.runtime.node import Node
from connectord.runtime.secrets import MASK, hash_api_key, load_secret_box, new_api_key
from connectord.runtime.store import open_store
from connectord.runtime.store.records import ExecutionEnd, JobEnd, JobStatus, StoreUnavailableError
from connectord.sandbox.logs import LogLine
from connectord.sandbox.outcomes import Rejected, Succeeded
from connectord.sandbox.supervisor import Reloaded

pytestmark = pytest.mark.integration

FILE = Path(openapi.__file__).with_name("openapi.json")
DOC: dict[str, Any] = json.loads(FILE.read_text())
METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
BASE = "urn:connectord:openapi"
REGISTRY: Registry = Registry().with_resource(BASE, Resource.from_contents(DOC, DRAFT202012))
#: Documented but not provoked: serving a static document does not fail.
NOT_PROVOKED = {
    ("/v1/openapi.json", "get", "500"),
    ("/metrics", "get", "500"),
    # this server has no metrics token: tests/integration/test_metrics.py asks for one
    ("/metrics", "get", "401"),
}
SECRET = "s3cret-value-91"


class Tiny:
    @connectord.hookimpl
    def describe_connector(self) -> connectord.ConnectorInfo:
        return connectord.ConnectorInfo(
            id="tiny",
            title="Tiny",
            version="0.1",
            credentials_schema={
                "type": "object",
                "properties": {"key": {"type": "string", "secret": True}, "region": {"type": "string"}},
            },
            actions=[
                connectord.Operation(
                    name="send", title="Send", dynamic_metadata=True, model_methods=["colors"]
                )
            ],
            job_types=[
                connectord.JobType(
                    code="ping",
                    title="Ping",
                    params_schema={
                        "type": "object",
                        "properties": {
                            "host": {"type": "string"},
                            "token": {"type": "string", "secret": True},
                        },
                    },
                ),
                connectord.JobType(code="whoami", title="Who am I", needs_account=True),
            ],
        )

    @connectord.hookimpl
    def verify_credentials(self, credentials: dict[str, Any]) -> connectord.VerifyResult:
        return connectord.verified()

    @connectord.hookimpl
    def select_model(self, method: str, cfg: dict[str, Any], query: Any) -> connectord.SelectResult:
        return connectord.SelectResult(options=[])

    @connectord.hookimpl
    def get_meta_model(self, action: str, credentials: dict[str, Any], cfg: dict[str, Any]) -> Any:
        return connectord.MetaModel(in_={}, out={})

    @connectord.hookimpl
    def run_job(self, job_type: str, params: dict[str, Any], credentials: dict[str, Any]) -> Any:
        return connectord.JobResult(data={"pinged": params.get("host")})


def broken() -> object:
    raise SyntaxError("invalid syntax (tiny2.py, line 3)")


class CatalogOnly:
    """Connectors known by their catalog; nothing runs, so cancelling finishes an execution
    at once. ``failing`` makes every use of the catalog raise (a 500)."""

    def __init__(self, catalog: Catalog) -> None:
        self._catalog = catalog
        self.failing = False

    @property
    def catalog(self) -> Catalog:
        if self.failing:
            raise RuntimeError("catalog broken for the test")
        return self._catalog

    async def start(self) -> None:
        pass

    async def reload(self) -> Reloaded:
        return Reloaded(added=[], removed=[], changed=[])

    async def close(self) -> None:
        pass

    def cancel(self, execution_id: str) -> bool:
        return False


@dataclass
class Clock:
    offset: float = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset


@dataclass
class Server:
    client: TestClient
    app: web.Application
    settings: Settings
    clock: Clock
    connectors: CatalogOnly
    seen: set[tuple[str, str, str]] = field(default_factory=set)
    #: (template, method, status, media type) of the answers with a body
    media: set[tuple[str, str, str, str]] = field(default_factory=set)

    async def call(
        self, method: str, template: str, path: str | None = None, status: int | None = None, **kwargs: Any
    ) -> tuple[ClientResponse, Any]:
        """Request ``path`` (default: the template itself), check the answer against the
        document's ``template`` operation, and return it with its decoded body."""
        response = await self.client.request(method, path or template, allow_redirects=False, **kwargs)
        raw = await response.read()
        body = conform(method.lower(), template, response, raw)
        self.seen.add((template, method.lower(), str(response.status)))
        if raw:
            self.media.add((template, method.lower(), str(response.status), response.content_type))
        if status is not None:
            assert response.status == status, (method, path or template, raw)
        return response, body


def resolved(obj: dict[str, Any]) -> tuple[dict[str, Any], str | None]:
    """The object, following a ``$ref``, and the pointer it was found at (when followed)."""
    ref = None
    while "$ref" in obj:
        ref = obj["$ref"]
        node: Any = DOC
        for part in ref.removeprefix("#/").split("/"):
            node = node[part.replace("~1", "/").replace("~0", "~")]
        obj = node
    return obj, ref


def pointer(*parts: str) -> str:
    return "#/" + "/".join(p.replace("~", "~0").replace("/", "~1") for p in parts)


def conform(method: str, template: str, response: ClientResponse, raw: bytes) -> Any:
    """Check one answer against the document; return its body, decoded from JSON or as text
    (None without one)."""
    what = f"{method.upper()} {response.url.path} -> {response.status}: {raw[:300]!r}"
    responses = DOC["paths"][template][method]["responses"]
    status = str(response.status)
    assert status in responses, f"undocumented status: {what}"
    spec, ref = resolved(responses[status])
    for name in ("Location", "Retry-After", "WWW-Authenticate"):
        if name in response.headers:
            assert name in spec.get("headers", {}), f"undocumented header {name}: {what}"
    for name, header in spec.get("headers", {}).items():
        header, _ = resolved(header)
        value = response.headers.get(name)
        if header.get("required"):
            assert value is not None, f"missing header {name}: {what}"
        if value is not None:
            assert not list(Draft202012Validator(header["schema"]).iter_errors(value)), (name, value, what)
            if header["schema"].get("format") == "uri":
                assert re.match(r"^https?://[^/]+/", value), (name, value, what)
    if "content" not in spec:
        assert raw == b"", f"a body where none is documented: {what}"
        return None
    media = response.content_type
    assert media in spec["content"], f"undocumented media type {media}: {what}"
    body = json.loads(raw) if media == "application/json" else raw.decode()
    location = (ref or pointer("paths", template, method, "responses", status)) + pointer(
        "content", media, "schema"
    ).removeprefix("#")
    validator = Draft202012Validator({"$ref": BASE + location}, registry=REGISTRY)
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(body)]
    assert not errors, f"{what}\n" + "\n".join(errors)
    return body


def basic(email: str, key: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{email}:{key}".encode()).decode()}


@pytest.fixture
async def server(aiohttp_client: Any, tmp_path: Path) -> Server:
    settings = Settings(data_dir=tmp_path, max_body_bytes=4096, result_retention=600)
    registry = load_connectors(
        Selection(builtins=False, entry_points=False),
        [PluginSource("tiny", "test tiny", Tiny), PluginSource("broken", "test broken", broken)],
    )
    connectors = CatalogOnly(registry.catalog())
    clock = Clock()
    app = create_app(Node(settings, connectors, open_store(settings), load_secret_box(tmp_path, None), clock))
    return Server(await aiohttp_client(app), app, settings, clock, connectors)


def add_user(server: Server, email: str, tenant: str) -> tuple[dict[str, str], str]:
    store = open_store(server.settings)
    key = new_api_key()
    try:
        store.add_user(email, tenant, hash_api_key(key), time.time())
    finally:
        store.close()
    return basic(email, key), key


def job_attempt(number: int, at: float, error: dict[str, Any] | None = None) -> dict[str, Any]:
    """An attempt as the jobs dispatcher records it (times in Unix seconds)."""
    attempt: dict[str, Any] = {"attempt": number, "startedAt": at, "finishedAt": at + 0.5}
    if error is None:
        return {**attempt, "outcome": "succeeded"}
    return {**attempt, "outcome": "failed", "error": error}


def concrete(template: str) -> str:
    """A path of the template: the installed component, or an id that does not exist."""
    return re.sub(r"{\w+}", "x0", template.replace("{component_id}", "tiny"))


def all_operations() -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in DOC["paths"].items():
        for method, op in item.items():
            if method in METHODS:
                yield path, method, op


# -- (c) the document, served -------------------------------------------------------------


async def test_the_document_is_served_to_anyone_as_written(server: Server) -> None:
    response = await server.client.get("/v1/openapi.json")
    assert response.status == 200
    assert response.content_type == "application/json"
    assert await response.read() == FILE.read_bytes()
    assert await response.json() == DOC


async def test_the_apps_routes_are_the_documents_operations(server: Server) -> None:
    routed = {
        (route.resource.canonical, route.method.lower())
        for route in server.app.router.routes()
        if route.resource is not None and route.method != "HEAD"
        # the web console's pages are HTML for browsers, not the API (README: Web console)
        and not route.resource.canonical.startswith("/console")
    }
    documented = {(path, method) for path, method, _ in all_operations()}
    assert routed == documented


async def test_what_the_description_promises_for_unknown_paths_and_methods(server: Server) -> None:
    alice, _ = add_user(server, "alice@acme.test", "acme")
    error = Draft202012Validator({"$ref": BASE + "#/components/schemas/Error"}, registry=REGISTRY)
    unknown = await server.client.get("/v1/nothing-here", headers=alice)
    assert unknown.status == 404 and error.is_valid(await unknown.json())
    anonymous = await server.client.get("/v1/nothing-here")
    assert anonymous.status == 404  # no route: nothing to guard, so no credentials asked for
    wrong_method = await server.client.post("/v1/components")
    assert wrong_method.status == 405 and "GET" in wrong_method.headers["Allow"]
    assert error.is_valid(await wrong_method.json())
    assert (await server.client.head("/health")).status == 200


# -- the tour -----------------------------------------------------------------------------


async def test_every_answer_is_documented_and_every_documented_answer_is_given(
    server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    alice, key = add_user(server, "alice@acme.test", "acme")
    call = server.call

    # public
    await call("GET", "/health", status=200)
    await call("GET", "/v1/openapi.json", status=200)
    await call("GET", "/v1/components", status=200)
    for component, status in [("tiny", 200), ("nope", 404), ("broken", 404), ("Bad%20Id", 400)]:
        await call("GET", "/v1/components/{component_id}", f"/v1/components/{component}", status)
    await call("POST", "/v1/components/_reload", status=401)  # only reads are public
    _, reloaded = await call("POST", "/v1/components/_reload", status=200, headers=alice)
    assert reloaded["loaded"] == ["tiny"] and reloaded["errors"][0]["id"] == "broken"

    # accounts
    account_body = {"name": "main", "component": "tiny", "keys": {"key": SECRET, "region": "eu"}}
    created, account = await call("POST", "/v1/accounts", status=201, json=account_body, headers=alice)
    assert account["keys"] == {"key": MASK, "region": "eu"}
    assert created.headers["Location"].endswith(f"/v1/accounts/{account['id']}")
    one = f"/v1/accounts/{account['id']}"
    await call("POST", "/v1/accounts", status=400, json={**account_body, "component": "nope"}, headers=alice)
    await call("POST", "/v1/accounts", status=413, data=b"x" * 5000, headers=alice)
    _, page = await call("GET", "/v1/accounts", "/v1/accounts?limit=10", 200, headers=alice)
    assert [a["id"] for a in page["data"]] == [account["id"]]
    await call("GET", "/v1/accounts", "/v1/accounts?limit=0", 400, headers=alice)
    await call("GET", "/v1/accounts/{account_id}", one, 200, headers=alice)
    await call("GET", "/v1/accounts/{account_id}", "/v1/accounts/missing", 404, headers=alice)
    put = {**account_body, "name": "renamed", "keys": {"key": MASK, "region": "eu"}}
    await call("PUT", "/v1/accounts/{account_id}", one, 200, json=put, headers=alice)
    moved = {**put, "keys": {"key": MASK, "region": "us"}}  # a masked secret needs the rest as stored
    await call("PUT", "/v1/accounts/{account_id}", one, 400, json=moved, headers=alice)
    await call("PUT", "/v1/accounts/{account_id}", one, 400, json={**put, "name": ""}, headers=alice)
    await call("PUT", "/v1/accounts/{account_id}", one, 413, data=b"x" * 5000, headers=alice)
    await call("PUT", "/v1/accounts/{account_id}", "/v1/accounts/missing", 404, json=put, headers=alice)

    # schedule
    verify = {"execution_type": "verify_credentials", "component": "tiny", "account_data": {"key": SECRET}}
    meta = {
        "execution_type": "get_meta_model",
        "component": "tiny",
        "action_or_trigger": "send",
        "account_id": account["id"],
    }
    schedule = "/v1/exec/schedule"
    scheduled, first = await call("POST", schedule, status=202, json=verify, headers=alice)
    assert scheduled.headers["Location"].endswith(f"/v1/exec/poll/{first['id']}")
    bearer = {"Authorization": f"Bearer {key}"}
    await call("POST", schedule, status=202, json=meta, headers=bearer)
    for bad in [
        {},
        {**verify, "colour": 1},
        {**verify, "component": "nope"},
        {**meta, "action_or_trigger": "x"},
    ]:
        await call("POST", schedule, status=400, json=bad, headers=alice)
    await call("POST", schedule, status=400, data=b"{nope", headers=alice)
    await call("POST", schedule, status=400, json=verify, headers={**alice, "Idempotency-Key": "a b"})
    await call("POST", schedule, status=413, data=b"x" * 5000, headers=alice)
    once = {**alice, "Idempotency-Key": "order-42"}
    a, _ = await call("POST", schedule, status=202, json=verify, headers=once)
    b, _ = await call("POST", schedule, status=202, json=verify, headers=once)
    assert a.headers["Location"] == b.headers["Location"]
    await call("POST", schedule, status=409, json=meta, headers=once)

    async def new_execution() -> str:
        _, body = await call("POST", schedule, status=202, json=verify, headers=alice)
        return str(body["id"])

    poll, result, cancel = (
        "/v1/exec/poll/{execution_id}",
        "/v1/exec/result/{execution_id}",
        "/v1/exec/{execution_id}",
    )

    # not ready, then cancelled: 303 and a rejection (seed 001's flow)
    ex = first["id"]
    await call("GET", poll, f"/v1/exec/poll/{ex}", 200, headers=alice)
    await call("GET", poll, f"/v1/exec/poll/{ex}?wait=0.01", 200, headers=alice)
    await call("GET", poll, f"/v1/exec/poll/{ex}?wait=abc", 400, headers=alice)
    await call("GET", result, f"/v1/exec/result/{ex}", 404, headers=alice)
    await call("DELETE", cancel, f"/v1/exec/{ex}", 202, headers=alice)
    ready, _ = await call("GET", poll, f"/v1/exec/poll/{ex}", 303, headers=alice)
    assert ready.headers["Location"].endswith(f"/v1/exec/result/{ex}")
    _, rejected = await call("GET", result, f"/v1/exec/result/{ex}?logs=true", 400, headers=alice)
    assert rejected["reason"]["kind"] == "cancelled" and rejected["logs"] == []
    await call("GET", result, f"/v1/exec/result/{ex}", 404, headers=alice)
    await call("GET", poll, f"/v1/exec/poll/{ex}", 404, headers=alice)
    await call("DELETE", cancel, f"/v1/exec/{ex}", 404, headers=alice)

    # a success, with logs
    ex = await new_execution()
    now = server.clock()
    outcome = Succeeded({"verified": False, "failure": {"kind": "auth"}, "message": "refused"})
    logs = [LogLine(now, "INFO", "tiny", "verifying")]
    store, run = server.app[STORE], server.app[STORE_RUNNER]
    claimed = None
    while claimed is None or claimed.id != ex:  # the oldest queued ones come first
        claimed = await run(store.claim_execution, now, "test-node", now + 60)
        assert claimed is not None
    finished = ExecutionEnd(encode_outcome(outcome), encode_logs(logs), now, now + 600)
    assert await run(store.finish_execution, ex, claimed.fence, finished)
    _, success = await call("GET", result, f"/v1/exec/result/{ex}?logs=1", 200, headers=alice)
    assert success["logs"][0]["message"] == "verifying"

    # a bad logs flag
    ex = await new_execution()
    await call("DELETE", cancel, f"/v1/exec/{ex}", 202, headers=alice)
    await call("GET", result, f"/v1/exec/result/{ex}?logs=maybe", 400, headers=alice)

    # expired
    ex = await new_execution()
    await call("DELETE", cancel, f"/v1/exec/{ex}", 202, headers=alice)
    server.clock.offset = server.settings.result_retention + 1
    _, expired = await call("GET", poll, f"/v1/exec/poll/{ex}", 404, headers=alice)
    assert expired == {"message": "Expired."}
    await call("GET", result, f"/v1/exec/result/{ex}", 404, headers=alice)
    server.clock.offset = 0

    await tour_findable(server, alice, account["id"])
    await tour_jobs(server, alice, account["id"], monkeypatch)

    await call("DELETE", "/v1/accounts/{account_id}", one, 204, headers=alice)
    await call("DELETE", "/v1/accounts/{account_id}", one, 404, headers=alice)

    # without credentials: 401 exactly where the document asks for them
    for path, method, op in all_operations():
        response, _ = await call(
            method.upper(), path, concrete(path), json={} if "requestBody" in op else None
        )
        assert (response.status == 401) == (op.get("security") != []), (method, path)
        await call(method.upper(), path, concrete(path), headers={"Authorization": "Bearer wrong"})
        # seed 003's X-Customer-Code: another tenant's is refused wherever credentials count
        other = {**alice, "X-Customer-Code": "globex"}
        response, _ = await call(method.upper(), path, concrete(path), headers=other)
        assert (response.status == 403) == (op.get("security") != []), (method, path)

    # /v1/exec/schedule is no execution id: POST only, also for DELETE
    answer, _ = await call("DELETE", "/v1/exec/{execution_id}", "/v1/exec/schedule", 405, headers=alice)
    assert answer.headers["Allow"] == "POST"

    # the store fails: 503 with Retry-After (health says so itself); then anything else fails: 500
    def store_unavailable(*args: Any) -> None:
        raise StoreUnavailableError("database is locked")

    def store_broken(*args: Any) -> None:
        raise RuntimeError("boom")

    for failure, status in [(store_unavailable, 503), (store_broken, 500)]:
        server.app[NODE].principals.forget_all()  # alice's key is looked up in the store again
        with monkeypatch.context() as patch:
            patch.setattr(store, "principal", failure)
            patch.setattr(store, "ping", failure)
            for path, method, op in all_operations():
                if op.get("security") != []:
                    await call(method.upper(), path, concrete(path), status, json={}, headers=alice)
            await call("GET", "/health", status=503)
    server.connectors.failing = True
    for path in ("/health", "/v1/components", "/v1/components/{component_id}"):
        await call("GET", path, concrete(path), 500)
    server.connectors.failing = False

    documented = {
        (path, method, status) for path, method, op in all_operations() for status in op["responses"]
    }
    assert documented - server.seen - NOT_PROVOKED == set(), "documented but never answered"
    media = {
        (path, method, status, name)
        for path, method, op in all_operations()
        for status, response in op["responses"].items()
        for name in resolved(response)[0].get("content", {})
        if (path, method, status) not in NOT_PROVOKED
    }
    assert media - server.media == set(), "documented media types never answered"


async def tour_findable(server: Server, alice: dict[str, str], account_id: str) -> None:
    """Executions listed and looked up, an account verified, and the metrics."""
    call = server.call
    listing, one = "/v1/exec", "/v1/exec/{execution_id}"
    _, page = await call("GET", listing, "/v1/exec?limit=2", 200, headers=alice)
    assert len(page["data"]) == 2
    filtered = "/v1/exec?status=ready&execution_type=verify_credentials&component=tiny"
    await call("GET", listing, filtered, 200, headers=alice)
    await call("GET", listing, "/v1/exec?since=2026-01-01T00:00:00Z&until=2099-01-01", 200, headers=alice)
    for bad in ("status=done", "execution_type=run_job", "since=yesterday", "limit=0", "offset=-1"):
        await call("GET", listing, f"/v1/exec?{bad}", 400, headers=alice)
    await call("GET", one, f"/v1/exec/{page['data'][0]['id']}", 200, headers=alice)
    await call("GET", one, "/v1/exec/missing", 404, headers=alice)

    verify = "/v1/accounts/{account_id}/_verify"
    at_once = f"/v1/accounts/{account_id}/_verify?wait=0"
    still, running = await call("POST", verify, at_once, 202, headers=alice)
    assert still.headers["Location"].endswith(f"/v1/exec/poll/{running['id']}")
    await call("POST", verify, f"/v1/accounts/{account_id}/_verify?wait=-1", 400, headers=alice)
    await call("POST", verify, "/v1/accounts/missing/_verify", 404, headers=alice)
    # nothing runs executions here: finish the verification as the dispatcher would
    answer = asyncio.ensure_future(
        call("POST", verify, f"/v1/accounts/{account_id}/_verify?wait=20", 200, headers=alice)
    )
    queued = "/v1/exec?status=queued&execution_type=verify_credentials"
    waiting = {e["id"] for e in (await call("GET", listing, queued, 200, headers=alice))[1]["data"]}
    new: set[str] = set()
    while not new:
        await asyncio.sleep(0.01)  # until the verification's execution is committed
        new = {e["id"] for e in (await call("GET", listing, queued, 200, headers=alice))[1]["data"]} - waiting
    [execution_id] = new
    store, run, now = server.app[STORE], server.app[STORE_RUNNER], server.clock()
    claimed = None
    while claimed is None or claimed.id != execution_id:
        claimed = await run(store.claim_execution, now, "test-node", now + 60)
        assert claimed is not None
    verified = encode_outcome(Succeeded({"verified": True, "message": "ok"}))
    finished = ExecutionEnd(verified, encode_logs([]), now, now + 600)
    assert await run(store.finish_execution, execution_id, claimed.fence, finished, "succeeded")
    server.app[EXECUTIONS].ends.signal(execution_id)
    _, body = await answer
    assert body == {"id": execution_id, "outcome": "succeeded", "data": {"verified": True, "message": "ok"}}
    _, info = await call("GET", one, f"/v1/exec/{execution_id}", 200, headers=alice)
    assert (info["status"], info["outcome"]) == ("delivered", "succeeded")

    # Prefer: wait=N on schedule: the result in the answer (finished here by hand, as above),
    # or the rejection of one cancelled meanwhile
    verification = {"execution_type": "verify_credentials", "component": "tiny", "account_data": {}}
    prefer = {**alice, "Prefer": "wait=20"}
    for outcome, status in ((Succeeded({"verified": True, "message": "ok"}), 200), (None, 400)):

        async def queued_ids() -> set[str]:
            return {e["id"] for e in (await call("GET", listing, queued, 200, headers=alice))[1]["data"]}

        waiting = await queued_ids()
        inline = asyncio.ensure_future(
            call("POST", "/v1/exec/schedule", status=status, json=verification, headers=prefer)
        )
        new = set()
        while not new:
            await asyncio.sleep(0.01)  # until the scheduled execution is committed
            new = await queued_ids() - waiting
        [execution_id] = new
        if outcome is None:
            await call("DELETE", "/v1/exec/{execution_id}", f"/v1/exec/{execution_id}", 202, headers=alice)
        else:
            claimed = None
            while claimed is None or claimed.id != execution_id:
                claimed = await run(store.claim_execution, now, "test-node", now + 60)
                assert claimed is not None
            finished = ExecutionEnd(encode_outcome(outcome), encode_logs([]), now, now + 600)
            assert await run(store.finish_execution, execution_id, claimed.fence, finished, "succeeded")
            server.app[EXECUTIONS].ends.signal(execution_id)
        answered, _ = await inline
        assert answered.headers["Content-Location"].endswith(f"/v1/exec/result/{execution_id}")

    await call("GET", "/metrics", status=200)
    openmetrics = {"Accept": "application/openmetrics-text; version=1.0.0"}
    await call("GET", "/metrics", status=200, headers=openmetrics)


async def tour_jobs(
    server: Server, alice: dict[str, str], account_id: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Job types, job definitions, jobs and seed 004's processes: every documented answer.
    Jobs are run by hand here: claimed from the store and finished with an outcome."""
    call = server.call
    store, run = server.app[STORE], server.app[STORE_RUNNER]
    big = b"x" * 5000

    fences: dict[str, int] = {}

    async def claim(job_id: str, at: float | None = None) -> None:
        now = server.clock() if at is None else at
        claimed = await run(store.claim_job, now, "test-node", now + 60)
        assert claimed is not None and claimed.job.id == job_id, claimed
        fences[job_id] = claimed.fence

    async def finish(
        job_id: str, status: JobStatus, attempts: list[Any], data: Any = None, **outputs: Any
    ) -> None:
        result = msgspec.json.encode({"data": data, "outputs": outputs}) if status == "COMPLETED" else None
        logs = msgspec.json.encode([LogLine(server.clock(), "INFO", "tiny", "pinged example.org")])
        encoded = msgspec.json.encode(attempts)
        end = JobEnd(status, encoded, result, logs, server.clock())
        assert await run(store.finish_job, job_id, fences[job_id], end)

    # job types: Tiny's ping, and whoami that needs an account
    one_type, run_type = "/v1/job-types/{code}", "/v1/job-types/{code}/_execute"
    _, types = await call("GET", "/v1/job-types", status=200, headers=alice)
    assert [t["code"] for t in types["data"]] == ["ping", "whoami"]
    await call("GET", one_type, "/v1/job-types/ping", 200, headers=alice)
    await call("GET", one_type, "/v1/job-types/nope", 404, headers=alice)
    ping = {"params": {"host": "example.org", "token": SECRET}}
    accepted, adhoc = await call(
        "POST", run_type, "/v1/job-types/ping/_execute", 202, json=ping, headers=alice
    )
    assert accepted.headers["Location"].endswith(f"/v1/jobs/{adhoc['jobId']}")
    _, whoami = await call(
        "POST", run_type, "/v1/job-types/whoami/_execute", 202, json={"accountId": account_id}, headers=alice
    )
    _, bodyless = await call("POST", run_type, "/v1/job-types/ping/_execute", 202, headers=alice)
    for code, bad in [
        ("ping", {"params": {"host": 5}}),
        ("ping", {"params": {}, "extra": 1}),
        ("whoami", {}),
        ("whoami", {"accountId": "missing"}),
    ]:
        await call("POST", run_type, f"/v1/job-types/{code}/_execute", 400, json=bad, headers=alice)
    await call("POST", run_type, "/v1/job-types/ping/_execute", 400, data=b"{nope", headers=alice)
    await call("POST", run_type, "/v1/job-types/nope/_execute", 404, json={}, headers=alice)
    await call("POST", run_type, "/v1/job-types/ping/_execute", 413, data=big, headers=alice)

    # cancelling waiting jobs (nothing runs them)
    one_job = "/v1/jobs/{job_id}"
    for job in (adhoc, whoami, bodyless):
        _, cancelled = await call("DELETE", one_job, f"/v1/jobs/{job['jobId']}", 200, headers=alice)
        assert cancelled["status"] == "CANCELLED"
    await call("DELETE", one_job, f"/v1/jobs/{adhoc['jobId']}", 409, headers=alice)
    await call("DELETE", one_job, "/v1/jobs/missing", 404, headers=alice)

    # definitions
    definitions, one_def = "/v1/job-definitions", "/v1/job-definitions/{code}"
    start, stop = "/v1/job-definitions/{code}/_start", "/v1/job-definitions/{code}/_stop"
    run_def, nxt = "/v1/job-definitions/{code}/_execute", "/v1/job-definitions/{code}/next"
    nightly = {
        "jobDefinitionCode": "nightly",
        "jobType": "ping",
        "name": "Ping at noon",
        "params": {"host": "example.org", "token": SECRET},
        "schedule": {"cron": "0 0 12 * * ?", "timezone": "Europe/Berlin"},
        "maxRetries": 1,
        "options": {"sendFailureEmail": True, "webhooks": {"onFailure": ["https://hooks.example.com/x"]}},
    }
    created, answer = await call(
        "POST", definitions, status=201, json={"jobDefinition": nightly}, headers=alice
    )
    assert created.headers["Location"].endswith("/v1/job-definitions/nightly")
    assert answer["jobDefinition"]["params"]["token"] == MASK
    assert answer["jobDefinition"]["state"] == "INITIALIZED"
    quarterly = {"jobDefinitionCode": "every", "jobType": "ping", "schedule": {"every": 15, "unit": "minute"}}
    await call("POST", definitions, status=201, json={"jobDefinition": quarterly}, headers=alice)
    await call("POST", definitions, status=409, json={"jobDefinition": nightly}, headers=alice)
    for bad in [
        {"jobDefinitionCode": "nightly"},
        {"jobDefinition": {**nightly, "schedule": {"cron": "61 * * * *"}}},
        {"jobDefinition": {**nightly, "schedule": {"every": 1}}},
        {"jobDefinition": {**nightly, "jobType": "nope"}},
        {"jobDefinition": {**nightly, "params": {"host": 5}}},
    ]:
        await call("POST", definitions, status=400, json=bad, headers=alice)
    await call("POST", definitions, status=400, data=b"{nope", headers=alice)
    await call("POST", definitions, status=413, data=big, headers=alice)
    _, page = await call("GET", definitions, "/v1/job-definitions?limit=1&offset=1", 200, headers=alice)
    assert [d["jobDefinitionCode"] for d in page["data"]] == ["nightly"]
    await call("GET", definitions, "/v1/job-definitions?limit=0", 400, headers=alice)
    await call("GET", one_def, "/v1/job-definitions/nightly", 200, headers=alice)
    await call("GET", one_def, "/v1/job-definitions/missing", 404, headers=alice)
    # The params as read: a masked secret is kept only while the other params are as stored.
    patch = {"jobDefinition": {"name": "renamed", "params": {"host": "example.org", "token": MASK}}}
    await call("PATCH", one_def, "/v1/job-definitions/nightly", 200, json=patch, headers=alice)
    await call("PATCH", one_def, "/v1/job-definitions/every", 200, json={"jobDefinition": {}}, headers=alice)
    renamed = {"jobDefinition": {"jobDefinitionCode": "other"}}
    await call("PATCH", one_def, "/v1/job-definitions/nightly", 400, json=renamed, headers=alice)
    await call("PATCH", one_def, "/v1/job-definitions/missing", 404, json=patch, headers=alice)
    await call("PATCH", one_def, "/v1/job-definitions/nightly", 413, data=big, headers=alice)
    await call("DELETE", one_def, "/v1/job-definitions/every", 204, headers=alice)
    await call("DELETE", one_def, "/v1/job-definitions/every", 404, headers=alice)

    # the next fire times, as JSON and as text
    _, times = await call("GET", nxt, "/v1/job-definitions/nightly/next?n=3", 200, headers=alice)
    assert len(times["nextFireTimes"]) == 3
    as_text = {**alice, "Accept": "text/plain"}
    _, text = await call("GET", nxt, "/v1/job-definitions/nightly/next?n=2", 200, headers=as_text)
    assert text.splitlines() == times["nextFireTimes"][:2]
    await call("GET", nxt, "/v1/job-definitions/nightly/next?n=0", 400, headers=alice)
    await call("GET", nxt, "/v1/job-definitions/missing/next", 404, headers=alice)

    # start and stop (neither reads a body: a large one is no 413)
    _, started = await call("POST", start, "/v1/job-definitions/nightly/_start", 200, data=big, headers=alice)
    assert started["jobDefinition"]["state"] == "STARTED" and "jobId" not in started
    assert started["jobDefinition"]["nextFireTime"] == times["nextFireTimes"][0]
    with monkeypatch.context() as meanwhile:  # another request changed the definition first
        meanwhile.setattr(store, "replace_definition", lambda *args: False)
        await call("PATCH", one_def, "/v1/job-definitions/nightly", 409, json=patch, headers=alice)
        await call("POST", stop, "/v1/job-definitions/nightly/_stop", 409, headers=alice)
    _, stopped = await call("POST", stop, "/v1/job-definitions/nightly/_stop", 200, data=big, headers=alice)
    assert stopped["jobDefinition"]["state"] == "STOPPED" and stopped["jobDefinition"]["nextFireTime"] is None
    ended = {
        "jobDefinitionCode": "ended",
        "jobType": "ping",
        "schedule": {"cron": "* * * * *"},
        "endDate": "2020-01-01",
    }
    await call("POST", definitions, status=201, json={"jobDefinition": ended}, headers=alice)
    await call("POST", start, "/v1/job-definitions/ended/_start", 409, headers=alice)
    for path in (start, stop):
        await call("POST", path, path.replace("{code}", "missing"), 404, headers=alice)
    once = {"jobDefinitionCode": "once", "jobType": "ping", "runImmediately": True, "runOnce": True}
    await call("POST", definitions, status=201, json={"jobDefinition": once}, headers=alice)
    _, immediate = await call("POST", start, "/v1/job-definitions/once/_start", 200, headers=alice)
    assert immediate["jobDefinition"]["state"] == "COMPLETED"
    await call("DELETE", one_job, f"/v1/jobs/{immediate['jobId']}", 200, headers=alice)

    # a definition's job, run to completion
    accepted, ran = await call(
        "POST", run_def, "/v1/job-definitions/nightly/_execute", 202, json={}, headers=alice
    )
    assert accepted.headers["Location"].endswith(f"/v1/jobs/{ran['jobId']}")
    await call("POST", run_def, "/v1/job-definitions/missing/_execute", 404, json={}, headers=alice)
    await call("POST", run_def, "/v1/job-definitions/nightly/_execute", 400, data=b"[1]", headers=alice)
    await call("POST", run_def, "/v1/job-definitions/nightly/_execute", 413, data=big, headers=alice)
    job = f"/v1/jobs/{ran['jobId']}"
    _, waiting = await call("GET", one_job, job, 200, headers=alice)
    assert waiting["status"] == "WAITING" and waiting["logs"] == []
    await claim(ran["jobId"])
    _, running = await call("GET", one_job, f"{job}?wait=0.01", 200, headers=alice)
    assert running["status"] == "STARTED"
    await finish(ran["jobId"], "COMPLETED", [job_attempt(1, server.clock())], {"pinged": "example.com"}, x=1)
    _, completed = await call("GET", one_job, f"{job}?wait=5", 200, headers=alice)
    assert completed["result"] == {"pinged": "example.com"} and completed["logs"][0]["message"]
    await call("GET", one_job, f"{job}?wait=abc", 400, headers=alice)
    await call("GET", one_job, "/v1/jobs/missing", 404, headers=alice)

    # another one fails, is retried, and fails again
    _, retried = await call("POST", run_def, "/v1/job-definitions/nightly/_execute", 202, headers=alice)
    job_id = retried["jobId"]
    error = rejection_reason(Rejected("UpstreamError", "503 from upstream"))
    first = job_attempt(1, server.clock(), error)
    await claim(job_id)
    later = server.clock() + 3600
    assert await run(store.retry_job, job_id, fences[job_id], msgspec.json.encode([first]), later)
    _, again = await call("GET", one_job, f"/v1/jobs/{job_id}", 200, headers=alice)
    assert again["status"] == "WAITING" and again["runAt"] and again["error"] == error
    await claim(job_id, later)
    await finish(job_id, "FAILED", [first, job_attempt(2, later, error)])
    _, failed = await call("GET", one_job, f"/v1/jobs/{job_id}", 200, headers=alice)
    assert failed["status"] == "FAILED" and len(failed["attempts"]) == 2

    # the list of jobs
    query = "/v1/jobs?jobDefinitionCode=nightly&status=COMPLETED&since=2020-01-01T00:00:00&limit=10"
    _, listed = await call("GET", "/v1/jobs", query, 200, headers=alice)
    assert [j["jobId"] for j in listed["data"]] == [ran["jobId"]]
    for bad in ("status=DONE", "since=yesterday", "limit=0", "offset=x"):
        await call("GET", "/v1/jobs", f"/v1/jobs?{bad}", 400, headers=alice)

    # seed 004's processes, on both spellings of the start path
    status = "/scheduler/connector-api/process/status/{spid}"

    def status_of(spid: str) -> str:
        return status.replace("{spid}", spid)

    seed_004 = {
        "values": {"host": "example.org"},
        "quartzDef": "0 6 6 ? * FR",
        "startDate": "2020-11-16 16:56:00",
        "endDate": "2020-11-18 16:55:00",
        "runOnce": "N",
        "run immediately": "N,",
        "retryCount": "1",
        "name": "ping",
    }
    fridays = {"name": "ping", "quartzDef": "0 6 6 ? * FR", "values": {"host": "example.org"}}
    for path in ("/scheduler/connector-api/process/start", "/scheduler/connector-API/process/start"):
        _, saved = await call("POST", path, status=200, json=seed_004, headers=alice)
        assert "will not run" in saved["warning"]  # its window has passed
        _, never = await call("GET", status, status_of(saved["robustaSpid"]), 200, headers=alice)
        assert never["status"] == "WAITING" and never["nextFireTime"] is None
        _, saved = await call("POST", path, status=200, json=fridays, headers=alice)
        assert "warning" not in saved
        _, friday = await call("GET", status, status_of(saved["robustaSpid"]), 200, headers=alice)
        assert friday["status"] == "WAITING" and friday["nextFireTime"]
        for bad in [
            {"name": "nope"},
            {"name": "ping", "values": {"host": 5}},
            {"name": "ping", "quartzDef": "0 6 6 ? * XX"},
            {"name": "ping", "runOnce": "maybe"},
            {"name": "ping", "colour": 1},
        ]:
            await call("POST", path, status=400, json=bad, headers=alice)
        await call("POST", path, status=400, data=b"{nope", headers=alice)
        await call("POST", path, status=413, data=big, headers=alice)

    # processes without quartzDef run now: one succeeds with an output, one fails
    now = {"name": "ping", "values": {"host": "example.org"}, "retryCount": 0}
    for outcome in ("COMPLETED", "FAILED"):
        _, saved = await call(
            "POST", "/scheduler/connector-api/process/start", status=200, json=now, headers=alice
        )
        process = status_of(saved["robustaSpid"])
        _, pending = await call("GET", status, process, 200, headers=alice)
        assert pending["status"] == "WAITING" and pending["jobId"]
        await claim(pending["jobId"])
        _, busy = await call("GET", status, process, 200, headers=alice)
        assert busy["status"] == "RUNNING"
        if outcome == "COMPLETED":
            await finish(
                pending["jobId"], outcome, [job_attempt(1, server.clock())], "done", x="Ada Lovelace"
            )
            _, succeeded = await call("GET", status, process, 200, headers=alice)
            assert succeeded["status"] == "SUCCEEDED" and succeeded["__out_x"] == "Ada Lovelace"
        else:
            error = rejection_reason(Rejected("UpstreamError", "503 from upstream"))
            await finish(pending["jobId"], outcome, [job_attempt(1, server.clock(), error)])
            _, failed = await call("GET", status, process, 200, headers=alice)
            assert failed == {
                "status": "FAILED",
                "message": "The process failed: 503 from upstream",
                "jobId": pending["jobId"],
            }
    await call("GET", status, status_of("missing"), 404, headers=alice)
