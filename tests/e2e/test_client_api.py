"""Every call of both clients (``Client`` and ``AsyncClient``) against a real ``connectord
serve``: each entry of the operations table is called and its answer checked, and a test says
which entry no walk called."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from connectord.client import AsyncClient, Client, ExecutionRejected, NotFound, Ready, WaitTimeout
from connectord.client.operations import OPERATIONS

from .napper import SOURCE
from .server import Served, running_server, server_env

pytestmark = pytest.mark.e2e

TOKEN = "good-token-1"
#: Entries called in a test of their own.
PENDING = {"verify_account"}
Call = Callable[..., Awaitable[Any]]


@pytest.fixture(scope="module")
def served(
    install_connector: Callable[..., Path], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Served]:
    site = install_connector("napper", SOURCE)
    with running_server(
        server_env(tmp_path_factory.mktemp("client") / "data", site), "py@acme.test"
    ) as served:
        yield served


async def walk(call: Call, tag: str) -> set[str]:
    """Calls every operation through ``call(name, *args, **keywords)``; the names called."""
    called: set[str] = set()

    async def c(name: str, *args: Any, **keywords: Any) -> Any:
        called.add(name)
        return await call(name, *args, **keywords)

    assert "napper" in [x["id"] for x in (await c("list_components"))["data"]]
    assert (await c("get_component", "napper"))["title"] == "Napper"
    assert isinstance((await c("reload_components"))["loaded"], list)

    keys = {"user": "ann", "token": TOKEN}
    account = await c("create_account", body={"name": tag, "component": "napper", "keys": keys})
    assert account["keys"]["token"] == "**********"
    assert account["id"] in [a["id"] for a in (await c("list_accounts", limit=500, offset=0))["data"]]
    assert (await c("get_account", account["id"]))["name"] == tag
    body = {"name": f"{tag}-2", "component": "napper", "keys": account["keys"]}  # the secret stays masked
    replaced = await c("replace_account", account["id"], body=body)
    assert replaced["name"] == f"{tag}-2"
    assert await c("delete_account", account["id"]) is None
    with pytest.raises(NotFound):
        await c("get_account", account["id"])

    assert "nap" in [t["code"] for t in (await c("list_job_types"))["data"]]
    assert (await c("get_job_type", "nap"))["needsAccount"] is False
    job_id = (await c("execute_job_type", "nap", body={"params": {"seconds": 30}}))["jobId"]
    assert (await c("get_job", job_id))["jobId"] == job_id
    listed = await c("list_jobs", job_definition_code=None, status="WAITING", limit=500)
    assert all(j["status"] == "WAITING" for j in listed["data"])
    assert (await c("cancel_job", job_id))["status"] == "CANCELLED"

    code = f"{tag}-def"
    definition = {"jobDefinitionCode": code, "jobType": "nap", "params": {"seconds": 0},
                  "schedule": {"every": 1, "unit": "hour", "timezone": "UTC"}}  # fmt: skip
    created = await c("create_job_definition", body={"jobDefinition": definition})
    assert created["jobDefinition"]["state"] == "INITIALIZED"
    patched = await c("update_job_definition", code, body={"jobDefinition": {"name": "hourly"}})
    assert patched["jobDefinition"]["name"] == "hourly"
    assert code in [d["jobDefinitionCode"] for d in (await c("list_job_definitions", limit=500))["data"]]
    assert (await c("get_job_definition", code))["jobDefinition"]["jobType"] == "nap"
    assert len((await c("next_fire_times", code, n=2))["nextFireTimes"]) == 2
    assert (await c("start_job_definition", code))["jobDefinition"]["state"] == "STARTED"
    assert (await c("stop_job_definition", code))["jobDefinition"]["state"] == "STOPPED"
    run = (await c("execute_job_definition", code))["jobId"]
    seen: list[str] = []
    done = await c("wait_job", run, timeout=60, on_progress=lambda job: seen.append(job["status"]))
    assert done["status"] == "COMPLETED" and seen[-1] == "COMPLETED"
    assert (await c("list_jobs", job_definition_code=code))["data"][0]["jobId"] == run
    assert await c("delete_job_definition", code) is None

    execution = await c(
        "schedule", "verify_credentials", "napper", account_data={"user": "ann", "token": TOKEN}
    )
    await c("poll", execution.id, 0)
    assert await c("wait", execution.id, timeout=60) == {"verified": True, "message": "welcome ann"}
    again = await c("schedule", "verify_credentials", "napper", account_data={"user": "ann", "token": TOKEN})
    slow = await c("schedule", "verify_credentials", "napper", account_data={"user": "ann", "sleep": 30})
    with pytest.raises(WaitTimeout):
        await c("wait", slow.id, timeout=0.1)
    await c("cancel", slow.id)
    with pytest.raises(ExecutionRejected) as rejected:
        await c("wait", slow.id, timeout=60)
    assert rejected.value.reason["kind"] == "cancelled"
    while not isinstance(await c("poll", again.id, 10), Ready):  # the server holds each poll until ready
        pass
    assert (await c("result", again.id, True)).data["verified"] is True
    listed_executions = await c("list_executions", component="napper", limit=500)
    assert again.id in [e["id"] for e in listed_executions["data"]]
    assert (await c("get_execution", again.id))["status"] == "delivered"
    return called


def test_the_blocking_client_calls_everything(served: Served) -> None:
    with Client(served.url, email=served.email, api_key=served.api_key) as client:

        async def call(name: str, *args: Any, **keywords: Any) -> Any:
            return getattr(client, name)(*args, **keywords)

        called = asyncio.run(walk(call, "sync"))
    assert_all_called(called)


def test_the_async_client_calls_everything(served: Served) -> None:
    async def main() -> set[str]:
        async with AsyncClient(served.url, email=served.email, api_key=served.api_key) as client:

            async def call(name: str, *args: Any, **keywords: Any) -> Any:
                return await getattr(client, name)(*args, **keywords)

            return await walk(call, "async")

    assert_all_called(asyncio.run(main()))


def assert_all_called(called: set[str]) -> None:
    assert {op.name for op in OPERATIONS} - PENDING | {"wait", "wait_job"} <= called


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_verify_account(served: Served, kind: str) -> None:
    async def verify() -> Any:
        body = {"name": f"verify-{kind}", "component": "napper", "keys": {"user": "ann", "token": TOKEN}}
        if kind == "sync":
            with Client(served.url, api_key=served.api_key) as client:
                return client.verify_account(client.create_account(body=body)["id"])  # type: ignore[attr-defined]
        async with AsyncClient(served.url, api_key=served.api_key) as aclient:
            account = await aclient.create_account(body=body)  # type: ignore[attr-defined]
            return await aclient.verify_account(account["id"])  # type: ignore[attr-defined]

    assert "welcome ann" in str(asyncio.run(verify()))
