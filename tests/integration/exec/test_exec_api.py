"""Seed 001's exec API, through a real HTTP server and the real sandbox."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from connectord.api.keys import EXECUTIONS, NODE
from connectord.runtime.executions.results import encode_outcome
from connectord.runtime.secrets import hash_api_key
from connectord.runtime.store import open_store
from connectord.runtime.store.records import ExecutionEnd
from connectord.sandbox.outcomes import Cancelled
from connectord.sandbox.redact import MASK

from .conftest import Api, basic

SECRET = "tok-secret-value-1"


async def schedule(api: Api, headers: dict[str, str], body: dict[str, Any], **extra: str) -> Any:
    return await api.client.post("/v1/exec/schedule", json=body, headers={**headers, **extra})


def verify(mode: str = "ok") -> dict[str, Any]:
    return {
        "execution_type": "verify_credentials",
        "component": "echo",
        "account_data": {"token": SECRET, "mode": mode},
    }


def path_of(location: str) -> str:
    return "/" + location.split("/", 3)[3]


async def test_schedule_poll_303_result_once(api: Api) -> None:
    alice = api.add_user("alice@acme.test", "acme")
    scheduled = await schedule(api, alice, verify())
    assert scheduled.status == 202
    assert (await scheduled.json())["message"] == "ok"
    location = scheduled.headers["Location"]
    assert location.startswith("http://127.0.0.1:") and "/v1/exec/poll/" in location

    poll = await api.client.get(path_of(location) + "?wait=20", headers=alice, allow_redirects=False)
    assert poll.status == 303
    assert await poll.json() == {"message": "Ready."}
    result_location = poll.headers["Location"]
    assert "/v1/exec/result/" in result_location

    result = await api.client.get(path_of(result_location), headers=alice)
    assert result.status == 200
    assert await result.json() == {"data": {"verified": True, "message": "token of 18 characters"}}

    again = await api.client.get(path_of(result_location), headers=alice)
    assert again.status == 404 and await again.json() == {"message": "Result does not exist."}
    after = await api.client.get(path_of(location), headers=alice, allow_redirects=False)
    assert after.status == 404 and await after.json() == {"message": "Result does not exist."}


async def test_a_client_that_follows_the_303_lands_on_the_result(api: Api) -> None:
    alice = api.add_user("alice@acme.test", "acme")
    location = (await schedule(api, alice, verify())).headers["Location"]
    followed = await api.client.get(path_of(location) + "?wait=20", headers=alice)
    assert followed.status == 200
    assert (await followed.json())["data"]["verified"] is True


async def test_not_ready_then_cancelled(api: Api) -> None:
    alice = api.add_user("alice@acme.test", "acme")
    location = (await schedule(api, alice, verify("sleep"))).headers["Location"]
    poll = await api.client.get(path_of(location), headers=alice, allow_redirects=False)
    assert poll.status == 200
    assert await poll.json() == {"message": "Result not ready yet."}
    assert poll.headers["Retry-After"] == "1"
    execution_id = location.rsplit("/", 1)[1]
    cancelled = await api.client.delete(f"/v1/exec/{execution_id}", headers=alice)
    assert cancelled.status == 202
    ready = await api.client.get(path_of(location) + "?wait=20", headers=alice, allow_redirects=False)
    assert ready.status == 303
    result = await api.client.get(f"/v1/exec/result/{execution_id}", headers=alice)
    assert result.status == 400
    assert await result.json() == {
        "message": "Rejected.",
        "reason": {"kind": "cancelled", "message": "the execution was cancelled"},
    }


@pytest.mark.settings(lease_seconds=1.5)
async def test_a_running_execution_cancelled_through_the_store_is_stopped_at_the_next_renewal(
    api: Api, caplog: pytest.LogCaptureFixture
) -> None:
    """Another node cancelled it and the event never arrived: the lease renewal finds the
    claim gone and kills the worker (it would sleep for 60 s)."""
    alice = api.add_user("alice@acme.test", "acme")
    location = (await schedule(api, alice, verify("sleep"))).headers["Location"]
    execution_id = location.rsplit("/", 1)[1]
    executions = api.client.app[NODE].execution_dispatcher
    store = open_store(api.settings)
    try:
        async with asyncio.timeout(20):
            while execution_id not in executions.held():  # claimed, its worker starting
                await asyncio.sleep(0.05)
        principal = store.principal(hash_api_key(api.users["alice@acme.test"]))
        assert principal is not None
        record = store.execution(principal.tenant_id, execution_id)
        assert record is not None and record.state == "running"
        now = api.clock()
        cancelled = encode_outcome(Cancelled())
        assert store.cancel_execution(
            record.tenant_id, execution_id, ExecutionEnd(cancelled, b"[]", now, now + 600)
        )
    finally:
        store.close()
    async with asyncio.timeout(20):  # a renewal every 0.5 s; the worker sleeps for 60 s
        while execution_id in executions.held():
            await asyncio.sleep(0.05)
    assert f"execution {execution_id}: no longer this node's claim; stopped" in caplog.text
    result = await api.client.get(f"/v1/exec/result/{execution_id}", headers=alice)
    assert result.status == 400
    assert (await result.json())["reason"]["kind"] == "cancelled"


async def test_a_failing_connector_is_rejected_with_a_reason_and_no_secret(api: Api) -> None:
    alice = api.add_user("alice@acme.test", "acme")
    location = (await schedule(api, alice, verify("raise"))).headers["Location"]
    execution_id = location.rsplit("/", 1)[1]
    await api.client.get(path_of(location) + "?wait=20", headers=alice, allow_redirects=False)
    result = await api.client.get(f"/v1/exec/result/{execution_id}?logs=true", headers=alice)
    assert result.status == 400
    body = await result.json()
    assert body["message"] == "Rejected."
    assert body["reason"] == {
        "kind": "rejected",
        "error_type": "RuntimeError",
        "message": "upstream refused token **********",
    }
    assert [line["message"] for line in body["logs"]] == ["verifying with token **********"]
    assert SECRET not in await result.text()


async def test_a_secret_a_connector_puts_in_a_config_errors_field_is_neither_stored_nor_returned(
    api: Api,
) -> None:
    alice = api.add_user("alice@acme.test", "acme")
    location = (await schedule(api, alice, verify("config"))).headers["Location"]
    execution_id = location.rsplit("/", 1)[1]
    ready = await api.client.get(path_of(location) + "?wait=20", headers=alice, allow_redirects=False)
    assert ready.status == 303
    stored = b"".join(path.read_bytes() for path in api.settings.data_dir.glob("*.sqlite3*"))
    assert stored and SECRET.encode() not in stored  # the call is sealed, the outcome masked
    result = await api.client.get(f"/v1/exec/result/{execution_id}", headers=alice)
    assert result.status == 400
    assert (await result.json())["reason"] == {
        "kind": "rejected",
        "error_type": "ConfigError",
        "message": "the token is malformed",
        "field": MASK,
    }
    assert SECRET not in await result.text()


async def test_select_model_and_get_meta_model_with_a_stored_account(api: Api) -> None:
    alice = api.add_user("alice@acme.test", "acme")
    account = api.add_account(alice, {"token": SECRET})
    for body, expected in [
        (
            {
                "execution_type": "select_model",
                "component": "echo",
                "action_or_trigger": "put",
                "model_method": "colors",
                "account_id": account,
                "query": {"search": "re"},
            },
            {
                "options": [{"value": "red", "label": "Red"}, {"value": "green", "label": "Green"}],
                "next_cursor": None,
            },
        ),
        (
            {
                "execution_type": "get_meta_model",
                "component": "echo",
                "action_or_trigger": "put",
                "account_id": account,
                "cfg": {"title": "order"},
            },
            {"in": {"type": "object", "title": "order"}, "out": {"type": "object"}},
        ),
    ]:
        location = (await schedule(api, alice, body)).headers["Location"]
        result = await api.client.get(path_of(location) + "?wait=20", headers=alice)
        assert result.status == 200, await result.text()
        assert await result.json() == {"data": expected}


async def test_a_stored_account_is_used_only_by_its_own_component(api: Api) -> None:
    alice = api.add_user("alice@acme.test", "acme")
    account = api.add_account(alice, {"token": SECRET}, component="webservice")
    body = {
        "execution_type": "get_meta_model",
        "component": "echo",
        "action_or_trigger": "put",
        "account_id": account,
    }
    refused = await api.client.post("/v1/exec/schedule", json=body, headers=alice)
    assert refused.status == 400
    assert await refused.json() == {
        "message": f"account '{account}' belongs to component 'webservice', not 'echo'",
        "field": "account_id",
    }


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ({"component": "echo"}, "execution_type", "parameter 'execution_type' is required"),
        ({**verify(), "colour": 1}, "colour", "unknown parameter 'colour'"),
        ({**verify(), "cfg": "x"}, "cfg", "parameter 'cfg': Expected `object`, got `str`"),
        (
            {**verify(), "execution_type": "run"},
            "execution_type",
            "parameter 'execution_type': Invalid enum value 'run'",
        ),
        (
            {"execution_type": "verify_credentials", "component": "echo"},
            "account_data",
            "parameter 'account_data' is required for execution_type 'verify_credentials'",
        ),
        (
            {"execution_type": "get_meta_model", "component": "echo", "action_or_trigger": "put"},
            "account_id",
            "parameter 'account_id' is required for execution_type 'get_meta_model'",
        ),
        (
            {
                "execution_type": "select_model",
                "component": "echo",
                "action_or_trigger": "put",
                "account_id": "a",
            },
            "model_method",
            "parameter 'model_method' is required",
        ),
        ({**verify(), "component": "nope"}, "component", "unknown connector 'nope' (installed: echo)"),
        (
            {
                "execution_type": "get_meta_model",
                "component": "echo",
                "action_or_trigger": "get",
                "account_id": "missing",
            },
            "account_id",
            "account 'missing' does not exist",
        ),
    ],
)
async def test_bad_schedule_requests_name_the_parameter(
    api: Api, body: dict[str, Any], field: str, message: str
) -> None:
    alice = api.add_user("alice@acme.test", "acme")
    response = await schedule(api, alice, body)
    assert response.status == 400
    answer = await response.json()
    assert message in answer["message"] and answer["field"] == field


async def test_unknown_action_and_model_method_are_400(api: Api) -> None:
    alice = api.add_user("alice@acme.test", "acme")
    account = api.add_account(alice, {"token": SECRET})
    base = {"execution_type": "select_model", "component": "echo", "account_id": account}
    unknown_action = await schedule(
        api, alice, {**base, "action_or_trigger": "delete", "model_method": "colors"}
    )
    assert unknown_action.status == 400
    assert (await unknown_action.json())["field"] == "action_or_trigger"
    unknown_method = await schedule(api, alice, {**base, "action_or_trigger": "put", "model_method": "sizes"})
    assert (await unknown_method.json()) == {
        "message": "'put' of connector 'echo' has no model method 'sizes' (it has: colors)",
        "field": "model_method",
    }


async def test_cfg_is_checked_against_the_config_schema_before_the_connector_runs(api: Api) -> None:
    alice = api.add_user("alice@acme.test", "acme")
    account = api.add_account(alice, {"token": SECRET})
    base = {"component": "echo", "account_id": account, "action_or_trigger": "post"}
    meta = {**base, "execution_type": "get_meta_model"}
    missing = await schedule(api, alice, {**meta, "cfg": {}})
    assert missing.status == 400
    assert await missing.json() == {
        "message": "configuration field 'title' of 'post' is required",
        "field": "cfg.title",
    }
    mistyped = await schedule(api, alice, {**meta, "cfg": {"title": 7}})
    assert mistyped.status == 400
    assert (await mistyped.json())["field"] == "cfg.title"
    # A dropdown is filled while the form is incomplete: a missing field is no problem there,
    # nor is the runtime's own force_refresh.
    dropdown = {**base, "execution_type": "select_model", "model_method": "colors"}
    assert (await schedule(api, alice, {**dropdown, "cfg": {"force_refresh": True}})).status == 202
    wrong = await schedule(api, alice, {**dropdown, "cfg": {"title": ""}})
    assert wrong.status == 400 and (await wrong.json())["field"] == "cfg.title"


async def test_malformed_and_oversized_bodies(api: Api) -> None:
    alice = api.add_user("alice@acme.test", "acme")
    broken = await api.client.post("/v1/exec/schedule", data=b"{nope", headers=alice)
    assert broken.status == 400 and (await broken.json())["field"] == "body"
    huge = await api.client.post("/v1/exec/schedule", data=b"x" * (65 * 1024), headers=alice)
    assert huge.status == 413
    assert "message" in await huge.json()


async def test_authentication(api: Api) -> None:
    alice = api.add_user("alice@acme.test", "acme")
    key = api.users["alice@acme.test"]
    for headers in [
        {},
        basic("alice@acme.test", "wrong"),
        basic("bob@acme.test", key),
        {"Authorization": "Bearer nope"},
        {"Authorization": "Basic %%%"},
    ]:
        response = await schedule(api, headers, verify())
        assert response.status == 401
        assert response.headers["WWW-Authenticate"].startswith("Basic")
        assert key not in await response.text()
    bearer = await schedule(api, {"Authorization": f"Bearer {key}"}, verify())
    assert bearer.status == 202
    assert (await schedule(api, alice, verify())).status == 202


async def test_another_tenant_sees_nothing(api: Api) -> None:
    alice = api.add_user("alice@acme.test", "acme")
    mallory = api.add_user("mallory@evil.test", "evil")
    location = (await schedule(api, alice, verify())).headers["Location"]
    execution_id = location.rsplit("/", 1)[1]
    await api.client.get(path_of(location) + "?wait=20", headers=alice, allow_redirects=False)
    for method, path in [
        ("GET", f"/v1/exec/poll/{execution_id}"),
        ("GET", f"/v1/exec/result/{execution_id}"),
        ("DELETE", f"/v1/exec/{execution_id}"),
    ]:
        response = await api.client.request(method, path, headers=mallory, allow_redirects=False)
        assert response.status == 404, (method, path)
    account = api.add_account(alice, {"token": SECRET})
    stolen = await schedule(
        api,
        mallory,
        {
            "execution_type": "get_meta_model",
            "component": "echo",
            "action_or_trigger": "put",
            "account_id": account,
        },
    )
    assert stolen.status == 400 and (await stolen.json())["message"] == f"account '{account}' does not exist"
    # alice still gets her result
    assert (await api.client.get(f"/v1/exec/result/{execution_id}", headers=alice)).status == 200


async def test_idempotency_key(api: Api) -> None:
    alice = api.add_user("alice@acme.test", "acme")
    first = await schedule(api, alice, verify(), **{"Idempotency-Key": "order-42"})
    again = await schedule(api, alice, verify(), **{"Idempotency-Key": "order-42"})
    assert first.status == again.status == 202
    assert first.headers["Location"] == again.headers["Location"]
    other = await schedule(api, alice, verify("raise"), **{"Idempotency-Key": "order-42"})
    assert other.status == 409
    assert "order-42" in (await other.json())["message"]
    fresh = await schedule(api, alice, verify(), **{"Idempotency-Key": "order-43"})
    assert fresh.headers["Location"] != first.headers["Location"]


async def test_results_expire(api: Api) -> None:
    alice = api.add_user("alice@acme.test", "acme")
    location = (await schedule(api, alice, verify())).headers["Location"]
    assert (
        await api.client.get(path_of(location) + "?wait=20", headers=alice, allow_redirects=False)
    ).status == 303
    api.clock.offset = api.settings.result_retention + 1
    expired = await api.client.get(path_of(location), headers=alice, allow_redirects=False)
    assert expired.status == 404 and await expired.json() == {"message": "Expired."}
    result = await api.client.get(path_of(location).replace("poll", "result"), headers=alice)
    assert result.status == 404 and await result.json() == {"message": "Expired."}


@pytest.mark.parametrize(
    ("query", "message"), [("wait=abc", "wait must be a number"), ("wait=-1", "0 or more")]
)
async def test_bad_wait(api: Api, query: str, message: str) -> None:
    alice = api.add_user("alice@acme.test", "acme")
    response = await api.client.get(f"/v1/exec/poll/x?{query}", headers=alice)
    assert response.status == 400 and message in (await response.json())["message"]


async def test_cacheable_answers_are_reused_until_refreshed(api: Api) -> None:
    alice = api.add_user("alice@acme.test", "acme")
    account = api.add_account(alice, {"token": SECRET})
    other = api.add_account(alice, {"token": SECRET + "-2"})

    async def made_at(account_id: str, **cfg: Any) -> int:
        body = {
            "execution_type": "get_meta_model",
            "component": "echo",
            "action_or_trigger": "get",
            "account_id": account_id,
            "cfg": cfg,
        }
        scheduled = await schedule(api, alice, body)
        assert scheduled.status == 202, await scheduled.text()
        location = scheduled.headers["Location"]
        result = await api.client.get(path_of(location) + "?wait=20", headers=alice)
        assert result.status == 200, await result.text()
        return int((await result.json())["data"]["out"]["x-made-at"])

    first = await made_at(account)
    assert await made_at(account) == first  # answered from the cache, nothing ran
    refreshed = await made_at(account, force_refresh=True)
    assert refreshed != first
    assert await made_at(account) == refreshed  # the refreshed answer replaced the cached one
    assert await made_at(other) != refreshed  # another account, another key
    assert await made_at(account, title="x") != refreshed  # another cfg, another key


async def test_old_executions_are_purged_after_they_expired(api: Api) -> None:

    alice = api.add_user("alice@acme.test", "acme")
    location = (await schedule(api, alice, verify())).headers["Location"]
    assert (
        await api.client.get(path_of(location) + "?wait=20", headers=alice, allow_redirects=False)
    ).status == 303
    executions = api.client.app[NODE].execution_dispatcher
    assert await executions.purge_once() == 0  # fresh: kept
    api.clock.offset = api.settings.result_retention + 1
    assert await (await api.client.get(path_of(location), headers=alice)).json() == {"message": "Expired."}
    api.clock.offset = api.settings.result_retention + api.client.app[EXECUTIONS].settings.remember + 2
    assert await executions.purge_once() == 1
    gone = await api.client.get(path_of(location), headers=alice)
    assert gone.status == 404 and await gone.json() == {"message": "Result does not exist."}


async def test_cancelling_an_execution_that_waits_for_a_sandbox_slot(api: Api) -> None:
    alice = api.add_user("alice@acme.test", "acme")
    # one slot per (tenant, connector) here: the second waits for the first
    first = (await schedule(api, alice, verify("sleep"))).headers["Location"].rsplit("/", 1)[1]
    second = (await schedule(api, alice, verify("sleep"))).headers["Location"].rsplit("/", 1)[1]
    assert (await api.client.delete(f"/v1/exec/{second}", headers=alice)).status == 202
    ready = await api.client.get(f"/v1/exec/poll/{second}?wait=10", headers=alice, allow_redirects=False)
    assert ready.status == 303
    result = await api.client.get(f"/v1/exec/result/{second}", headers=alice)
    assert (await result.json())["reason"]["kind"] == "cancelled"
    still = await api.client.get(f"/v1/exec/poll/{first}", headers=alice, allow_redirects=False)
    assert still.status == 200  # the first one is untouched
    assert (await api.client.delete(f"/v1/exec/{first}", headers=alice)).status == 202


async def test_inputs_that_cannot_be_carried_are_400_not_500(api: Api) -> None:
    alice = api.add_user("alice@acme.test", "acme")
    huge = await schedule(api, alice, {**verify(), "cfg": {"n": 2**70}})
    assert huge.status == 400 and "64 bits" in (await huge.json())["message"]
    deep = await api.client.post(
        "/v1/exec/schedule", data=b'{"cfg": {"a": ' + b"[" * 3000 + b"]" * 3000 + b"}}", headers=alice
    )
    assert deep.status == 400 and (await deep.json())["field"] == "body"
    odd = await schedule(api, {"Authorization": "Basic é"}, verify())
    assert odd.status == 401
    account = await api.client.post(
        "/v1/accounts", json={"name": "x", "component": "echo", "keys": {"mode": 2**70}}, headers=alice
    )
    assert account.status == 400


async def test_the_dispatcher_outlives_a_store_that_fails_for_a_while(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    from connectord.api.keys import STORE
    from connectord.runtime import dispatch
    from connectord.runtime.store.records import StoreUnavailableError

    alice = api.add_user("alice@acme.test", "acme")
    monkeypatch.setattr(dispatch, "STORE_RETRY", 0.05)
    store = api.client.app[STORE]
    real_claim = store.claim_executions
    failures = {"left": 3}

    def flaky_claim(*args: Any) -> Any:
        # The real disk cannot be made to fail for exactly three claims; this stands in for it.
        if failures["left"]:
            failures["left"] -= 1
            raise StoreUnavailableError("database is locked")
        return real_claim(*args)

    monkeypatch.setattr(store, "claim_executions", flaky_claim)
    api.client.app[NODE].execution_dispatcher.wake()
    location = (await schedule(api, alice, verify())).headers["Location"]
    result = await api.client.get(path_of(location) + "?wait=20", headers=alice)
    assert result.status == 200 and failures["left"] == 0


async def test_idempotency_ignores_the_order_of_keys(api: Api) -> None:
    alice = api.add_user("alice@acme.test", "acme")
    body = verify()
    reordered = {
        "account_data": {"mode": "ok", "token": SECRET},
        "component": "echo",
        "execution_type": "verify_credentials",
    }
    first = await schedule(api, alice, body, **{"Idempotency-Key": "k-1"})
    again = await schedule(api, alice, reordered, **{"Idempotency-Key": "k-1"})
    assert again.status == 202 and again.headers["Location"] == first.headers["Location"]


async def test_a_public_url_is_used_for_locations(
    aiohttp_client: Any, tmp_path: Any, echo_on_path: None
) -> None:
    from connectord.api.app import create_app
    from connectord.plugins.manager import Selection
    from connectord.runtime.config import Settings
    from connectord.runtime.node import Node
    from connectord.runtime.secrets import hash_api_key, load_secret_box, new_api_key
    from connectord.runtime.store import open_store
    from connectord.sandbox.supervisor import Supervisor

    settings = Settings(data_dir=tmp_path, public_url="https://api.example.test/base")
    store = open_store(settings)
    key = new_api_key()
    store.add_user("alice@acme.test", "acme", hash_api_key(key), 0.0)
    supervisor = Supervisor(Selection(allow=frozenset({"echo"})))
    node = Node(settings, supervisor, store, load_secret_box(tmp_path, None))
    client = await aiohttp_client(create_app(node))
    scheduled = await client.post("/v1/exec/schedule", json=verify(), headers=basic("alice@acme.test", key))
    assert scheduled.status == 202
    assert scheduled.headers["Location"].startswith("https://api.example.test/base/v1/exec/poll/")
