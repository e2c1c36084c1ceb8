"""Calls that wait on the network are not held to the number of cores: with the default
``concurrency`` (slots bounded by memory), twenty calls of one connector are in flight at
once, and another tenant's call still gets a slot while they wait."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest
from aiohttp import web

from connectord.api.keys import EXECUTIONS

from .conftest import Api

CALLS = 20
#: A fallback only, so that a broken test cannot hang: the endpoint answers once all CALLS
#: requests are in, or after this long.
HOLD_AT_MOST = 30.0


class SlowEndpoint:
    """A loopback HTTP endpoint that holds every request until ``release`` is set; it counts
    the requests it holds at once."""

    def __init__(self) -> None:
        self.holding = 0
        self.most_at_once = 0
        self.all_in = asyncio.Event()
        self.release = asyncio.Event()

    async def handle(self, request: web.Request) -> web.Response:
        self.holding += 1
        self.most_at_once = max(self.most_at_once, self.holding)
        seen = self.holding
        if self.holding >= CALLS:
            self.all_in.set()
        try:
            async with asyncio.timeout(HOLD_AT_MOST):
                await self.release.wait()
        except TimeoutError:
            pass
        finally:
            self.holding -= 1
        return web.Response(text=f"{seen} held at once")


def fetch(url: str) -> dict[str, Any]:
    return {
        "execution_type": "verify_credentials",
        "component": "echo",
        "account_data": {"mode": "fetch", "url": url},
    }


async def result(api: Api, headers: dict[str, str], location: str) -> Any:
    path = "/" + location.split("/", 3)[3]
    answer = await api.client.get(f"{path}?wait=60", headers=headers)
    assert answer.status == 200
    return (await answer.json())["data"]


@pytest.mark.sandbox(concurrency=0)  # the default: as many slots as memory allows
@pytest.mark.limits(memory_bytes=256 * 1024 * 1024)
@pytest.mark.timeout(120)
async def test_twenty_calls_waiting_on_the_network_are_in_flight_at_once(
    api: Api, aiohttp_server: Callable[..., Any]
) -> None:
    slots = api.client.app[EXECUTIONS].supervisor.limiter
    assert slots.per_key >= CALLS  # bounded by memory here, not by the two cores
    endpoint = SlowEndpoint()
    app = web.Application()
    app.router.add_get("/slow", endpoint.handle)
    server = await aiohttp_server(app)
    url = str(server.make_url("/slow"))
    alice = api.add_user("alice@acme.test", "acme")
    bob = api.add_user("bob@other.test", "other")

    scheduled = [
        await api.client.post("/v1/exec/schedule", json=fetch(url), headers=alice) for _ in range(CALLS)
    ]
    assert [s.status for s in scheduled] == [202] * CALLS
    await asyncio.wait_for(endpoint.all_in.wait(), HOLD_AT_MOST)
    assert endpoint.most_at_once == CALLS  # all twenty wait on the endpoint together

    # Another tenant's call is not queued behind them: it gets a slot and ends meanwhile.
    quick = {"execution_type": "verify_credentials", "component": "echo", "account_data": {"token": "t"}}
    location = (await api.client.post("/v1/exec/schedule", json=quick, headers=bob)).headers["Location"]
    assert (await result(api, bob, location))["verified"] is True
    assert endpoint.holding == CALLS and not endpoint.release.is_set()

    endpoint.release.set()
    answers = await asyncio.gather(*(result(api, alice, s.headers["Location"]) for s in scheduled))
    assert all(answer["verified"] for answer in answers)
    assert sorted(int(answer["message"].split()[0]) for answer in answers) == list(range(1, CALLS + 1))
