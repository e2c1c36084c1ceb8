"""The console over plain HTTP (no browser): its headers, sign-in and the schedule preview."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiohttp import ClientResponse, ClientSession
from aiohttp.test_utils import TestClient

from connectord.api.app import create_app
from connectord.api.console import sessions as sessions_module
from connectord.api.console.middleware import CSRF_HEADER
from connectord.api.console.sessions import COOKIE, MAX_SESSIONS_PER_USER
from connectord.plugins.manager import Catalog
from connectord.runtime.config import Settings
from connectord.runtime.node import Node
from connectord.runtime.secrets import hash_api_key, load_secret_box, new_api_key
from connectord.runtime.store import open_store

EMAIL = "ops@example.com"
OTHER = "mallory@globex.test"


class NoConnectors:
    catalog = Catalog({}, [])

    async def start(self) -> None:
        pass

    async def close(self) -> None:
        pass


@dataclass
class Console:
    """A server with the console, its users and their keys."""

    client: TestClient
    keys: dict[str, str]

    async def sign_in(self, email: str) -> ClientResponse:
        """A sign-in apart from the client's cookie jar (as from another browser)."""
        form = {"email": email, "api_key": self.keys[email]}
        async with ClientSession() as browser:
            response = await browser.post(
                self.client.make_url("/console/login"), data=form, allow_redirects=False
            )
            await response.read()
            return response

    async def cookie(self, email: str) -> str:
        response = await self.sign_in(email)
        assert response.status == 303, await response.text()
        return response.cookies[COOKIE].value

    async def get(self, path: str, cookie: str, **kwargs: Any) -> ClientResponse:
        """A request with this cookie only (the client's jar set aside)."""
        headers = {"Cookie": f"{COOKIE}={cookie}"} | kwargs.pop("headers", {})
        async with ClientSession() as browser:
            response = await browser.request(
                kwargs.pop("method", "GET"),
                self.client.make_url(path),
                headers=headers,
                allow_redirects=False,
                **kwargs,
            )
            await response.read()
            return response


@pytest.fixture
async def console(aiohttp_client: Any, tmp_path: Path) -> Console:
    settings = Settings(data_dir=tmp_path)
    store = open_store(settings)
    keys = {}
    for email, tenant in ((EMAIL, "acme"), (OTHER, "globex")):
        keys[email] = new_api_key()
        store.add_user(email, tenant, hash_api_key(keys[email]), time.time())
    app = create_app(Node(settings, NoConnectors(), store, load_secret_box(tmp_path, None)))
    return Console(await aiohttp_client(app), keys)


@pytest.fixture
async def signed_in(console: Console) -> TestClient:
    """A client whose cookie jar holds a console session."""
    form = {"email": EMAIL, "api_key": console.keys[EMAIL]}
    response = await console.client.post("/console/login", data=form, allow_redirects=False)
    assert response.status == 303 and response.headers["Location"] == "/console/connectors"
    return console.client


async def test_pages_carry_a_csp_without_inline_script(signed_in: TestClient) -> None:
    response = await signed_in.get("/console/definitions")
    assert response.status == 200
    csp = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe" not in csp and "frame-ancestors 'none'" in csp
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    page = await response.text()
    assert "<script>" not in page and "<style>" not in page and " on" not in page.split("<body>")[1]
    assert (await signed_in.get("/console/nothing")).status == 404
    assert (await signed_in.get("/console/static/../pages.py")).status == 404


async def test_a_wrong_key_gets_the_form_again_with_the_email_escaped(signed_in: TestClient) -> None:
    signed_in.session.cookie_jar.clear()
    response = await signed_in.post("/console/login", data={"email": '"><b>x', "api_key": "wrong"})
    assert response.status == 401
    page = await response.text()
    assert "Invalid email or API key." in page and '"><b>x' not in page and "&quot;&gt;&lt;b&gt;x" in page


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("cron=0+2+*+*+*", ["T02:00:00+00:00"] * 3),
        ("cron=0+0+2+*+*+?&timezone=Europe/Berlin", ["T02:00:00+01:00"] * 3),
        ("every=12&unit=hour&anchor=2026-01-01T06:00:00", None),
    ],
)
async def test_the_preview_gives_next_fire_times(signed_in: TestClient, query: str, expected: Any) -> None:
    response = await signed_in.get(f"/console/api/next-fires?{query}&n=3")
    body = await response.json()
    assert response.status == 200, body
    assert len(body["nextFireTimes"]) == 3
    if expected is not None:
        assert [t[10:] for t in body["nextFireTimes"]] == expected
    else:
        assert {t[11:19] for t in body["nextFireTimes"]} <= {"06:00:00", "18:00:00"}


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("cron=0+2+*+*+MOX", "schedule.cron"),
        ("cron=0+2+*+*+*&timezone=Mars/Olympus", "schedule.timezone"),
        ("every=-1&unit=hour", "schedule.every"),
        ("every=x&unit=hour", "schedule.every"),
        ("every=1&unit=fortnight", "schedule.unit"),
        ("cron=*+*+*+*+*&n=0", "n"),
    ],
)
async def test_the_preview_names_what_is_wrong(signed_in: TestClient, query: str, field: str) -> None:
    response = await signed_in.get(f"/console/api/next-fires?{query}")
    assert response.status == 400
    assert (await response.json())["field"] == field


async def test_the_preview_needs_a_session(signed_in: TestClient) -> None:
    signed_in.session.cookie_jar.clear()
    response = await signed_in.get("/console/api/next-fires?cron=*+*+*+*+*")
    assert (response.status, "WWW-Authenticate" in response.headers) == (401, False)


async def test_the_api_through_a_console_cookie_needs_a_live_session_and_the_csrf_token(
    signed_in: TestClient,
) -> None:
    """A 403 naming the CSRF header; an ended session's 401 asks for no Basic credentials,
    which would make the browser pop up its own sign-in dialog over the console."""
    response = await signed_in.post("/v1/accounts", json={})
    assert response.status == 403
    assert (await response.json())["field"] == CSRF_HEADER
    signed_in.session.cookie_jar.clear()
    signed_in.session.cookie_jar.update_cookies({COOKIE: "an-ended-session"})
    response = await signed_in.get("/v1/accounts")
    assert (response.status, "WWW-Authenticate" in response.headers) == (401, False)
    assert await response.json() == {"message": "The console session has ended: sign in again."}
    signed_in.session.cookie_jar.clear()
    response = await signed_in.get("/v1/accounts")
    assert (response.status, response.headers.get("WWW-Authenticate", "")[:5]) == (401, "Basic")


async def test_another_tenants_sign_ins_never_end_a_users_session(
    console: Console, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One user signing in over and over (the node's cap made small to reach it) ends only
    their own oldest sessions."""
    monkeypatch.setattr(sessions_module, "MAX_SESSIONS", MAX_SESSIONS_PER_USER + 5)
    mine = await console.cookie(EMAIL)
    theirs = [await console.cookie(OTHER) for _ in range(MAX_SESSIONS_PER_USER + 10)]
    assert (await console.get("/console/accounts", mine)).status == 200
    assert (await console.get("/v1/accounts", mine)).status == 200
    assert (await console.get("/v1/accounts", theirs[-1])).status == 200
    oldest = await console.get("/v1/accounts", theirs[0])
    assert oldest.status == 401  # their own, beyond MAX_SESSIONS_PER_USER
    ended = await console.get("/console/accounts", theirs[0])
    assert (ended.status, ended.headers["Location"]) == (303, "/console/login")


async def test_a_sign_in_on_a_node_full_of_only_sessions_is_refused_with_503(
    console: Console, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sessions_module, "MAX_SESSIONS", 1)
    mine = await console.cookie(EMAIL)
    refused = await console.sign_in(OTHER)
    assert (refused.status, refused.headers["Retry-After"]) == (503, "60")
    assert COOKIE not in refused.cookies
    assert "Too many console sessions are open on this server" in await refused.text()
    assert (await console.get("/v1/accounts", mine)).status == 200


async def test_an_ended_session_cookie_is_ignored_where_no_user_is_needed(console: Console) -> None:
    """Public reads answer as without the cookie, a path or method with no route 404 or 405
    (a live session's cookie too, without its CSRF token: nothing to guard); where a user is
    needed an ended session is still a 401 and a live one still needs the CSRF token."""
    live = await console.cookie(EMAIL)
    for path in ("/health", "/metrics", "/v1/components", "/v1/openapi.json", "/v1/components/nope"):
        without = await console.client.get(path)
        assert without.status in (200, 404)
        for cookie in ("stale", "", live):
            response = await console.get(path, cookie, method="HEAD" if path == "/health" else "GET")
            assert response.status == without.status, (path, cookie, await response.text())
    for method, path, status in (
        ("GET", "/nothing", 404),
        ("GET", "/v1/nothing", 404),
        ("POST", "/v1/nothing", 404),
        ("DELETE", "/v1/exec/schedule", 405),
        ("PUT", "/health", 405),
    ):
        for cookie in ("stale", live):
            response = await console.get(path, cookie, method=method)
            assert response.status == status, (method, path, cookie, await response.text())
    for method, path in (("GET", "/v1/accounts"), ("POST", "/v1/components/_reload"), ("GET", "/v1/exec")):
        response = await console.get(path, "stale", method=method)
        assert (response.status, "WWW-Authenticate" in response.headers) == (401, False), path
        assert (await response.json())["message"] == "The console session has ended: sign in again."
    refused = await console.get("/v1/components/_reload", live, method="POST")  # no CSRF token
    assert (refused.status, (await refused.json())["field"]) == (403, CSRF_HEADER)


async def test_a_redirect_is_counted_and_answered_as_what_it_is(console: Console) -> None:
    """The console's redirects are raised: they were counted and logged as 500s (anyone could
    raise the count an operator alerts on) and went without a request id."""
    form = {"email": EMAIL, "api_key": console.keys[EMAIL]}
    signed = await console.client.post("/console/login", data=form, allow_redirects=False)
    assert signed.status == 303 and signed.headers["X-Request-Id"]
    away = await console.client.get("/console/", allow_redirects=False)
    assert away.status in (302, 303) and away.headers["X-Request-Id"]
    metrics = await (await console.client.get("/metrics")).text()
    counted = [line for line in metrics.splitlines() if line.startswith("connectord_http_requests_total{")]
    assert not [line for line in counted if 'status="500"' in line], counted
    assert [line for line in counted if 'route="/console/login"' in line and 'status="303"' in line]
