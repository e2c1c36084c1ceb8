"""The console over plain HTTP (no browser): its headers, sign-in and the schedule preview."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from connectord.api.app import create_app
from connectord.api.console.middleware import CSRF_HEADER
from connectord.api.console.sessions import COOKIE
from connectord.plugins.manager import Catalog
from connectord.runtime.config import Settings
from connectord.runtime.node import Node
from connectord.runtime.secrets import hash_api_key, load_secret_box, new_api_key
from connectord.runtime.store import open_store

EMAIL = "ops@example.com"


class NoConnectors:
    catalog = Catalog({}, [])

    async def start(self) -> None:
        pass

    async def close(self) -> None:
        pass


@pytest.fixture
async def signed_in(aiohttp_client: Any, tmp_path: Path) -> TestClient:
    """A client whose cookie jar holds a console session."""
    settings = Settings(data_dir=tmp_path)
    store = open_store(settings)
    key = new_api_key()
    store.add_user(EMAIL, "acme", hash_api_key(key), time.time())
    app = create_app(Node(settings, NoConnectors(), store, load_secret_box(tmp_path, None)))
    client: TestClient = await aiohttp_client(app)
    form = {"email": EMAIL, "api_key": key}
    response = await client.post("/console/login", data=form, allow_redirects=False)
    assert response.status == 303 and response.headers["Location"] == "/console/connectors"
    return client


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
