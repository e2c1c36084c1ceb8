"""Each console page's main action, in a real browser against a real server."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest

from connectord.connectors.shop.demo.server import DEMO_KEY, DEMO_SECRET

from .conftest import Console, screenshot, sign_in

pytestmark = pytest.mark.browser


async def _api(console: Console, method: str, path: str, status: int, **kwargs: Any) -> Any:
    async with (
        aiohttp.ClientSession(headers=console.api_key_headers()) as http,
        http.request(method, f"{console.url}{path}", **kwargs) as response,
    ):
        text = await response.text()
        assert response.status == status, text
        return await response.json() if text else None


async def shop_account(console: Console, demo_shop: str, name: str = "Demo shop") -> str:
    body = {"name": name, "component": "shop",
            "keys": {"url": demo_shop, "consumer_key": DEMO_KEY, "consumer_secret": DEMO_SECRET}}  # fmt: skip
    return (await _api(console, "POST", "/v1/accounts", 201, json=body))["id"]


async def test_accounts_are_created_from_the_credentials_schema_masked_edited_tested_and_deleted(
    page: Any, console: Console, demo_shop: str
) -> None:
    await sign_in(page, console)
    await page.goto(f"{console.url}/console/accounts")
    await page.get_by_text("No accounts yet").wait_for()
    await page.get_by_label("Connector").select_option("shop")
    await page.get_by_label("Name", exact=True).fill("Demo shop")
    await page.get_by_label("Shop URL (required)").fill(demo_shop)
    secret = page.get_by_label("Consumer secret (required)")
    assert await secret.get_attribute("type") == "password"
    assert await page.get_by_label("Consumer key (required)").get_attribute("type") == "password"
    await page.get_by_label("Consumer key (required)").fill(DEMO_KEY)
    await secret.fill(DEMO_SECRET)
    await page.get_by_role("button", name="Test these credentials").click()  # verify_credentials
    await page.get_by_text("Verified").wait_for()
    await page.get_by_role("button", name="Create account").click()

    table = page.get_by_role("table", name="Stored accounts")
    await table.get_by_text("Demo shop").wait_for()
    shown = await table.text_content()
    assert DEMO_SECRET not in shown and DEMO_KEY not in shown and demo_shop in shown  # secrets masked
    stored = (await _api(console, "GET", "/v1/accounts", 200))["data"]
    assert [a["name"] for a in stored] == ["Demo shop"]

    await page.get_by_role("button", name="Test Demo shop").click()  # the stored account
    await page.get_by_text("not available on this server").or_(page.get_by_text("Verified")).first.wait_for()
    await screenshot(page, "console-accounts")

    await page.get_by_role("button", name="Edit Demo shop").click()
    await page.get_by_label("Name", exact=True).fill("Main shop")
    assert await page.get_by_label("Consumer secret").input_value() == ""  # never sent to the page
    await page.get_by_role("button", name="Save account").click()
    await table.get_by_text("Main shop").wait_for()
    stored = (await _api(console, "GET", "/v1/accounts", 200))["data"]
    assert [a["name"] for a in stored] == ["Main shop"]
    # the secrets kept: the edited account still verifies against the shop
    account_id = stored[0]["id"]
    meta = await _api(console, "POST", "/v1/exec/schedule", 202, json={
        "execution_type": "select_model", "component": "shop", "action_or_trigger": "upsert_product",
        "account_id": account_id, "model_method": "categories", "query": {"limit": 1}})  # fmt: skip
    result = await _api(console, "GET", f"/v1/exec/poll/{meta['id']}?wait=20", 200)
    assert len(result["data"]["options"]) == 1

    page.once("dialog", lambda dialog: dialog.accept())
    await page.get_by_role("button", name="Delete Main shop").click()
    await page.get_by_text("No accounts yet").wait_for()
    assert (await _api(console, "GET", "/v1/accounts", 200))["data"] == []


async def test_playground_fills_dropdowns_live_with_search_and_paging_and_shows_the_metadata(
    page: Any, console: Console, demo_shop: str
) -> None:
    await shop_account(console, demo_shop)
    await sign_in(page, console)
    await page.goto(f"{console.url}/console/playground")
    await page.get_by_label("Connector").select_option("shop")
    await page.get_by_label("Action or trigger").select_option("upsert_product")
    dropdown = page.locator("select[data-model=categories]")
    note = page.get_by_text("more available")
    await note.wait_for()  # select_model answered through the exec API
    first_page = await dropdown.locator("option").count()
    assert first_page == 51  # "choose" and a page of 50
    await page.get_by_role("button", name="More options").click()
    await page.wait_for_function(
        "n => document.querySelector('select[data-model=categories]').options.length > n", arg=first_page
    )

    await page.get_by_label("Search Category").fill("shirt")
    await page.wait_for_function(
        "() => { const o = [...document.querySelector('select[data-model=categories]').options].slice(1);"
        " return o.length > 0 && o.every(x => /shirt/i.test(x.textContent)); }"
    )
    labels = await dropdown.locator("option").all_text_contents()
    await dropdown.select_option(label=labels[1])  # its metadata loads by itself
    await page.get_by_role("heading", name="In: what the operation takes").wait_for()
    metadata = page.locator(".meta")
    await metadata.get_by_text("sku", exact=True).first.wait_for()
    await page.get_by_role("button", name="Verify credentials").click()
    await page.get_by_text("not available on this server").or_(page.get_by_text("Verified")).first.wait_for()
    await screenshot(page, "console-playground")
