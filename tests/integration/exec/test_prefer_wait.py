"""``Prefer: wait=N`` on schedule (RFC 7240), an opt-in shortcut: a result ready within N
seconds comes back in the schedule's own answer, as its ``/result`` would (and is used up
by it); else the answer is seed 001's 202 + ``Location``, as without the header."""

from __future__ import annotations

import pytest

from .conftest import Api
from .test_exec_api import SECRET, path_of, schedule, verify


async def test_a_result_ready_in_time_is_the_answer_and_is_read_once(api: Api) -> None:
    alice = api.add_user("alice@acme.test", "acme")
    answer = await schedule(api, alice, verify(), Prefer="wait=20")
    assert answer.status == 200
    assert await answer.json() == {"data": {"verified": True, "message": "token of 18 characters"}}
    assert answer.headers["Preference-Applied"] == "wait=20"
    result = answer.headers["Content-Location"]
    assert "/v1/exec/result/" in result
    again = await api.client.get(path_of(result), headers=alice)
    assert again.status == 404 and await again.json() == {"message": "Result does not exist."}


async def test_a_rejection_ready_in_time_is_answered_as_its_result_would_be(api: Api) -> None:
    alice = api.add_user("alice@acme.test", "acme")
    answer = await schedule(api, alice, verify("raise"), Prefer="respond-async, wait=20")
    assert answer.status == 400
    refused = "upstream refused token **********"
    reason = {"kind": "rejected", "error_type": "RuntimeError", "message": refused}
    assert await answer.json() == {"message": "Rejected.", "reason": reason}
    assert "Preference-Applied" in answer.headers
    assert SECRET not in await answer.text()


@pytest.mark.settings(max_poll_wait=0.5)
async def test_a_result_not_ready_in_time_is_scheduled_as_always(api: Api) -> None:
    """The wait is capped at the longest poll (here 0.5 s; the call sleeps 60 s)."""
    alice = api.add_user("alice@acme.test", "acme")
    answer = await schedule(api, alice, verify("sleep"), Prefer="wait=3600")
    assert answer.status == 202 and "Preference-Applied" not in answer.headers
    location = answer.headers["Location"]
    poll = await api.client.get(path_of(location), headers=alice, allow_redirects=False)
    assert poll.status == 200 and await poll.json() == {"message": "Result not ready yet."}
    cancelled = await api.client.delete(f"/v1/exec/{location.rsplit('/', 1)[1]}", headers=alice)
    assert cancelled.status == 202


@pytest.mark.parametrize("prefer", [None, "respond-async", "wait=soon", "wait=0", "handling=lenient"])
async def test_without_a_wait_it_asks_for_the_contract_is_unchanged(api: Api, prefer: str | None) -> None:
    alice = api.add_user("alice@acme.test", "acme")
    extra = {"Prefer": prefer} if prefer is not None else {}
    answer = await schedule(api, alice, verify(), **extra)
    assert answer.status == 202 and (await answer.json())["message"] == "ok"
    poll = await api.client.get(path_of(answer.headers["Location"]) + "?wait=20", headers=alice)
    assert poll.status == 200 and (await poll.json())["data"]["verified"] is True
