"""Executions findable (GET /v1/exec, GET /v1/exec/{id}), stored accounts verified again
(POST /v1/accounts/{id}/_verify), request ids, and /metrics scraped after real
executions: a real loopback server, the echo connector in the sandbox, a SQLite store."""

from __future__ import annotations

import os
import signal
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from connectord.api.keys import CONNECTORS

from .conftest import Api

SECRET = "tok-findable-secret-31"
TOKEN = "metrics-token-0123456789abcdef"


async def call(api: Api, method: str, path: str, status: int, headers: dict[str, str], **kw: Any) -> Any:
    response = await api.client.request(method, path, headers=headers, **kw)
    text = await response.text()
    assert response.status == status, text
    return await response.json() if response.content_type == "application/json" else text


async def run(api: Api, headers: dict[str, str], body: dict[str, Any]) -> str:
    """Schedule an execution and wait until it has finished (its result left unread)."""
    scheduled = await call(api, "POST", "/v1/exec/schedule", 202, headers, json=body)
    response = await api.client.get(
        f"/v1/exec/poll/{scheduled['id']}?wait=20", headers=headers, allow_redirects=False
    )
    assert response.status == 303, await response.text()
    return str(scheduled["id"])


def verify(mode: str) -> dict[str, Any]:
    data = {"token": SECRET, "mode": mode}
    return {"execution_type": "verify_credentials", "component": "echo", "account_data": data}


async def test_executions_are_listed_filtered_paged_and_looked_up_without_their_result(api: Api) -> None:
    alice = api.add_user("alice@acme.test", "acme")
    good = await run(api, alice, verify("ok"))
    bad = await run(api, alice, verify("raise"))
    account = api.add_account(alice, {"token": SECRET})
    colors = {"execution_type": "select_model", "component": "echo", "action_or_trigger": "put",
              "account_id": account, "model_method": "colors"}
    select = await run(api, alice, colors)

    page = await call(api, "GET", "/v1/exec", 200, alice)
    assert [e["id"] for e in page["data"]] == [select, bad, good]  # newest first
    assert page["meta"] == {"limit": 100, "offset": 0}
    assert SECRET not in str(page)
    second = await call(api, "GET", "/v1/exec?limit=1&offset=1", 200, alice)
    assert [e["id"] for e in second["data"]] == [bad]
    kinds = await call(api, "GET", "/v1/exec?execution_type=verify_credentials&component=echo", 200, alice)
    assert [e["id"] for e in kinds["data"]] == [bad, good]
    assert (await call(api, "GET", "/v1/exec?component=other", 200, alice))["data"] == []
    ready = await call(api, "GET", "/v1/exec?status=ready", 200, alice)
    assert len(ready["data"]) == 3
    # ISO 8601, to the second (a fraction is dropped)
    newest = page["data"][0]["created_at"]
    since = await call(api, "GET", "/v1/exec", 200, alice, params={"since": newest})
    assert select in [e["id"] for e in since["data"]]
    since = await call(api, "GET", "/v1/exec", 200, alice, params={"since": "2000-01-01T00:00:00+01:00"})
    assert len(since["data"]) == 3
    until = await call(api, "GET", "/v1/exec?until=2000-01-01T00:00:00Z", 200, alice)
    assert until["data"] == []

    info = await call(api, "GET", f"/v1/exec/{bad}", 200, alice)
    assert info["status"] == "ready" and info["outcome"] == "rejected"
    assert (info["component"], info["execution_type"], info["action_or_trigger"]) == (
        "echo", "verify_credentials", None
    )
    assert info["result"].endswith(f"/v1/exec/result/{bad}")
    assert info == await call(api, "GET", f"/v1/exec/{bad}", 200, alice)  # nothing consumed
    selected = await call(api, "GET", f"/v1/exec/{select}", 200, alice)
    assert (selected["execution_type"], selected["action_or_trigger"], selected["outcome"]) == (
        "select_model", "put", "succeeded"
    )
    result = await call(api, "GET", f"/v1/exec/result/{good}", 200, alice)  # still there, once
    assert result["data"]["verified"] is True
    delivered = await call(api, "GET", f"/v1/exec/{good}", 200, alice)
    assert (delivered["status"], delivered["outcome"]) == ("delivered", "succeeded")
    assert "result" not in delivered
    only = await call(api, "GET", "/v1/exec?status=delivered", 200, alice)
    assert [e["id"] for e in only["data"]] == [good]


@pytest.mark.parametrize(
    ("query", "field"),
    [("status=done", "status"), ("execution_type=run_job", "execution_type"), ("since=yesterday", "since"),
     ("until=2026-13-01", "until"), ("limit=501", "limit"), ("offset=x", "offset")],
)
async def test_bad_filters_are_refused_naming_them(api: Api, query: str, field: str) -> None:
    alice = api.add_user("alice@acme.test", "acme")
    answer = await call(api, "GET", f"/v1/exec?{query}", 400, alice)
    assert answer["field"] == field


async def test_another_tenants_executions_and_accounts_are_not_found(api: Api) -> None:
    alice = api.add_user("alice@acme.test", "acme")
    bob = api.add_user("bob@beta.test", "beta")
    mine = await run(api, alice, verify("ok"))
    account = api.add_account(alice, {"token": SECRET, "mode": "ok"})
    assert (await call(api, "GET", "/v1/exec", 200, bob))["data"] == []
    await call(api, "GET", f"/v1/exec/{mine}", 404, bob)
    await call(api, "POST", f"/v1/accounts/{account}/_verify", 404, bob)
    await call(api, "GET", f"/v1/exec/{mine}", 200, alice)


async def test_a_stored_account_is_verified_through_the_sandbox(api: Api) -> None:
    alice = api.add_user("alice@acme.test", "acme")
    good = api.add_account(alice, {"token": SECRET, "mode": "ok"})
    answer = await call(api, "POST", f"/v1/accounts/{good}/_verify", 200, alice)
    assert answer["outcome"] == "succeeded"
    assert answer["data"]["verified"] is True
    assert answer["data"]["message"] == f"token of {len(SECRET)} characters"
    # an execution like any other: listed with its outcome, its result already delivered
    info = await call(api, "GET", f"/v1/exec/{answer['id']}", 200, alice)
    assert (info["status"], info["outcome"], info["execution_type"]) == (
        "delivered", "succeeded", "verify_credentials"
    )

    bad = api.add_account(alice, {"token": SECRET, "mode": "raise"})
    answer = await call(api, "POST", f"/v1/accounts/{bad}/_verify", 200, alice)
    assert answer["outcome"] == "rejected" and answer["reason"]["kind"] == "rejected"
    assert "upstream refused token" in answer["reason"]["message"]
    assert SECRET not in str(answer)  # the connector put it in its message: masked

    slow = api.add_account(alice, {"token": SECRET, "mode": "slow"})
    response = await api.client.post(f"/v1/accounts/{slow}/_verify?wait=0", headers=alice)
    assert response.status == 202
    assert response.headers["Location"].endswith(f"/v1/exec/poll/{(await response.json())['id']}")
    await call(api, "POST", "/v1/accounts/missing/_verify", 404, alice)
    await call(api, "POST", f"/v1/accounts/{good}/_verify?wait=-1", 400, alice)


async def test_every_answer_carries_a_request_id_and_a_sane_one_is_kept(api: Api) -> None:
    response = await api.client.get("/health")
    assert len(response.headers["X-Request-Id"]) == 32
    response = await api.client.get("/v1/exec/missing", headers={"X-Request-Id": "req-42.a:b"})
    assert response.status == 401 and response.headers["X-Request-Id"] == "req-42.a:b"
    for insane in ("x" * 129, "a b", "<script>"):
        response = await api.client.get("/health", headers={"X-Request-Id": insane})
        assert response.headers["X-Request-Id"] not in (insane, "")


Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(text: str) -> Samples:
    """Every sample of a scrape (parsed with prometheus-client's parser), by name and labels."""
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float | None:
    return samples.get((name, frozenset(labels.items())))


async def test_metrics_count_executions_requests_and_the_sandbox(api: Api) -> None:
    alice = api.add_user("alice@acme.test", "acme")
    executions = "connectord_executions_total"
    verifying = {"connector": "echo", "kind": "verify_credentials"}
    before = scrape(await (await api.client.get("/metrics")).text())
    assert value(before, executions, **verifying, outcome="succeeded") is None
    ids = [await run(api, alice, verify(mode)) for mode in ("ok", "ok", "raise")]
    response = await api.client.get("/metrics")
    assert response.status == 200 and response.content_type == "text/plain"
    text = await response.text()
    after = scrape(text)
    assert value(after, executions, **verifying, outcome="succeeded") == 2
    assert value(after, executions, **verifying, outcome="rejected") == 1
    assert value(after, "connectord_execution_duration_seconds_count", **verifying) == 3
    requests = "connectord_http_requests_total"
    polls = value(after, requests, method="GET", route="/v1/exec/poll/{execution_id}", status="303")
    assert polls == 3
    assert value(after, requests, method="POST", route="/v1/exec/schedule", status="202") == 3
    assert value(after, requests, method="GET", route="/metrics", status="200") == 1  # the first scrape
    assert value(after, "connectord_sandbox_slots_busy") == 0
    assert value(after, "connectord_queue_depth", queue="executions") == 0
    timed = "connectord_store_call_duration_seconds_count"
    store_calls = [v for (name, _), v in after.items() if name == timed]
    assert sum(store_calls) > 0
    # SQLite commits in groups: at most one transaction per store call, and some for these runs
    committed = "connectord_store_transactions_total"
    assert value(before, committed) < value(after, committed) <= sum(store_calls)
    # no raw path, tenant id, or secret in any label
    labels = " ".join(str(sorted(key[1])) for key in after)
    assert not any(i in labels for i in ids) and SECRET not in text and "acme" not in labels


@pytest.mark.settings(metrics_token=TOKEN)
async def test_a_metrics_token_is_required_when_configured(api: Api) -> None:
    wrong = ({}, {"Authorization": "Bearer wrong-token-0123456789"}, {"Authorization": f"Basic {TOKEN}"})
    for headers in wrong:
        response = await api.client.get("/metrics", headers=headers)
        assert response.status == 401 and response.headers["WWW-Authenticate"].startswith("Bearer")
    response = await api.client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status == 200 and "connectord_http_requests_total" in await response.text()


@pytest.mark.settings(metrics_tenant_labels=True)
async def test_tenant_labels_only_when_asked_for(api: Api) -> None:
    alice = api.add_user("alice@acme.test", "acme")
    await run(api, alice, verify("ok"))
    after = scrape(await (await api.client.get("/metrics")).text())
    [labels] = [dict(found) for (name, found) in after if name == "connectord_executions_total"]
    assert labels["tenant"] and labels["connector"] == "echo"


async def test_a_lost_zygote_is_counted_as_restarted(api: Api) -> None:
    alice = api.add_user("alice@acme.test", "acme")
    await run(api, alice, verify("ok"))
    zygote = api.client.app[CONNECTORS].zygote_for("echo")  # type: ignore[attr-defined]
    assert zygote.pid is not None
    os.kill(zygote.pid, signal.SIGKILL)
    await run(api, alice, verify("ok"))  # started again for this call
    found = scrape(await (await api.client.get("/metrics")).text())
    assert value(found, "connectord_zygote_restarts_total", connector="echo") == 1
