"""Signing in and out of the console, its session cookie, CSRF refusal and escaping."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest

from .conftest import EMAIL, Console, screenshot, sign_in

pytestmark = pytest.mark.browser


async def test_sign_in_sets_a_strict_http_only_cookie_and_sign_out_ends_the_session(
    page: Any, console: Console
) -> None:
    await page.goto(f"{console.url}/console/accounts")
    assert page.url == f"{console.url}/console/login"  # not signed in: the sign-in form

    await page.get_by_label("Email").fill(EMAIL)
    await page.get_by_label("API key").fill("not-the-key")
    await page.get_by_role("button", name="Sign in").click()
    await page.get_by_role("alert").filter(has_text="Invalid email or API key.").wait_for()

    await sign_in(page, console)
    assert console.key not in page.url
    (cookie,) = await page.context.cookies()
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict" and not cookie["secure"]  # plain http here
    assert console.key not in cookie["value"]
    assert await page.evaluate("document.cookie") == ""  # no script can read it
    await page.get_by_text(EMAIL).first.wait_for()
    await page.keyboard.press("Tab")  # keyboard users: first the skip link, then the page
    assert await page.evaluate("document.activeElement.textContent") == "Skip to content"
    await page.keyboard.press("Enter")
    assert await page.evaluate("document.activeElement.id") == "main"

    await page.get_by_role("button", name="Sign out").click()
    await page.wait_for_url(f"{console.url}/console/login")
    await page.goto(f"{console.url}/console/accounts")
    assert page.url == f"{console.url}/console/login"
    async with (
        aiohttp.ClientSession(headers=_cookie_header(cookie)) as http,
        http.get(f"{console.url}/v1/accounts") as response,
    ):
        assert response.status == 401  # the old cookie is worth nothing now
        assert "WWW-Authenticate" not in response.headers  # no browser dialog over the console


async def test_writes_without_the_csrf_token_are_refused(page: Any, console: Console) -> None:
    await sign_in(page, console)
    body = {"name": "x", "component": "consoletest", "keys": {"token": "t0ps3cret"}}
    without, with_token = await page.evaluate(
        """async (body) => {
            const post = (headers) => fetch('/v1/accounts', {method: 'POST', body: JSON.stringify(body),
                headers: Object.assign({'Content-Type': 'application/json'}, headers)});
            const token = document.querySelector('meta[name="csrf-token"]').content;
            const bare = await post({});
            const good = await post({'X-CSRF-Token': token});
            return [[bare.status, await bare.json()], good.status];
        }""",
        body,
    )
    assert without[0] == 403 and without[1]["field"] == "X-CSRF-Token"
    assert with_token == 201
    (cookie,) = await page.context.cookies()
    async with aiohttp.ClientSession(headers=_cookie_header(cookie)) as http:
        async with http.delete(f"{console.url}/v1/accounts/whatever", headers={"X-CSRF-Token": "guess"}) as r:
            assert r.status == 403
        async with http.post(f"{console.url}/console/logout", data={"csrf": "guess"}) as r:
            assert r.status == 403  # the sign-out form needs the token too
        async with http.get(f"{console.url}/v1/accounts") as r:
            assert r.status == 200  # reads need no token; the session still stands
    form = {"email": EMAIL, "api_key": console.key}
    async with (
        aiohttp.ClientSession() as http,
        http.post(f"{console.url}/console/login", data=form, headers={"Origin": "http://evil.example"}) as r,
    ):
        assert r.status == 403 and "Set-Cookie" not in r.headers  # a sign-in form from another site


async def test_connectors_page_shows_hostile_text_as_text_under_a_strict_csp(
    page: Any, console: Console
) -> None:
    await sign_in(page, console)
    response = await page.goto(f"{console.url}/console/connectors")
    csp = response.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp

    hostile = page.get_by_role("heading", name="Hostile", exact=False)
    await hostile.wait_for()
    assert (await hostile.text_content()).startswith('<img src=x onerror="document.body.dataset.xss=1">')
    assert await page.locator("main img, main script").count() == 0
    assert await page.evaluate("document.body.dataset.xss") is None
    await page.get_by_role("heading", name="WooCommerce shop").wait_for()
    failures = page.get_by_role("region", name="Connectors that failed to load")
    await failures.get_by_text("broken", exact=True).wait_for()
    assert "connectord_no_such_module" in await failures.text_content()
    await page.get_by_text("exportProducts").first.wait_for()
    await screenshot(page, "console-connectors")


def _cookie_header(cookie: dict[str, Any]) -> dict[str, str]:
    # aiohttp's cookie jar keeps no cookie of an IP address host: send it by hand
    return {"Cookie": f"{cookie['name']}={cookie['value']}"}
