"""Each console page's main action, in a real browser against a real server."""

from __future__ import annotations

import re
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
    await page.set_viewport_size({"width": 1100, "height": 1000})  # the picks and the schema's top
    await screenshot(page, "console-playground")


async def test_job_definitions_preview_fire_times_as_typed_and_are_created_started_stopped_run_and_deleted(
    page: Any, console: Console
) -> None:
    await sign_in(page, console)
    await page.goto(f"{console.url}/console/definitions")
    await page.get_by_text("No job definitions yet").wait_for()
    await page.get_by_label("Code").fill("nightly")
    await page.get_by_label("Name", exact=True).fill("Nightly tick")
    await page.get_by_label("Job type").select_option("tick")
    await page.get_by_label("Parameters (JSON)").fill('{"n": 3}')
    await page.get_by_label("Cron (Unix 5 fields or Quartz 6-7)").check()
    cron = page.get_by_label("Cron expression")
    preview = page.locator("#schedule-preview")

    await cron.press_sequentially("0 2 * * *")
    await preview.get_by_text("Unix cron. Next fire times:").wait_for()
    times = await preview.locator("li").all_text_contents()
    assert len(times) == 5 and all(t.endswith("T02:00:00+00:00") for t in times)

    await cron.press_sequentially("X")  # "0 2 * * *X": wrong as you type
    await preview.get_by_role("alert").wait_for()
    assert "schedule.cron" in await preview.text_content()
    assert await cron.get_attribute("aria-invalid") == "true"

    await page.get_by_label("Interval").check()
    await page.get_by_label("Every").fill("6")
    await page.get_by_label("Unit").select_option("hour")
    await page.get_by_label("Anchor (optional)").fill("2026-01-01T03:00:00")
    from playwright.async_api import expect  # here: without playwright the fixtures skip

    every_six_hours = re.compile(r"T(03|09|15|21):00:00\+00:00$")
    await expect(preview.locator("li")).to_have_text([every_six_hours] * 5)
    await page.get_by_label("Cron (Unix 5 fields or Quartz 6-7)").check()
    await cron.fill("0 30 9 ? * 6#3")  # Quartz: the third Friday
    await preview.get_by_text("Quartz cron. Next fire times:").wait_for()
    await page.get_by_label("Time zone").fill("Mars/Olympus")
    await preview.get_by_role("alert").filter(has_text="schedule.timezone").wait_for()
    await page.get_by_label("Time zone").fill("Europe/Berlin")
    await preview.get_by_text("Quartz cron").wait_for()
    times = await preview.locator("li").all_text_contents()
    assert all("T09:30:00+0" in t for t in times), times
    await screenshot(page, "console-definitions", page.locator("section.card").filter(has=preview))

    await page.get_by_role("button", name="Create definition").click()
    row = page.get_by_role("row").filter(has_text="nightly")
    await row.get_by_text("INITIALIZED").wait_for()
    await page.get_by_role("button", name="Start nightly").click()
    await row.get_by_text("STARTED").wait_for()
    assert "T09:30:00+0" in await row.text_content()  # its next fire time
    await page.get_by_role("button", name="Stop nightly").click()
    await row.get_by_text("STOPPED").wait_for()
    await page.get_by_role("button", name="Run nightly now").click()
    await page.get_by_role("status").filter(has_text="Run now: nightly (job").wait_for()
    jobs = (await _api(console, "GET", "/v1/jobs?jobDefinitionCode=nightly", 200))["data"]
    assert len(jobs) == 1 and jobs[0]["trigger"] == "api"

    await page.get_by_role("button", name="Edit nightly").click()
    await page.get_by_label("Name", exact=True).fill("Nightly tick, renamed")
    await page.get_by_role("button", name="Save definition").click()
    await row.get_by_text("Nightly tick, renamed").wait_for()
    stored = await _api(console, "GET", "/v1/job-definitions/nightly", 200)
    assert stored["jobDefinition"]["schedule"] == {"cron": "0 30 9 ? * 6#3", "timezone": "Europe/Berlin"}

    page.once("dialog", lambda dialog: dialog.accept())
    await page.get_by_role("button", name="Delete nightly").click()
    await page.get_by_text("No job definitions yet").wait_for()


async def test_runs_update_while_a_job_runs_and_show_attempts_result_and_logs(
    page: Any, console: Console, tmp_path: Any
) -> None:
    release = tmp_path / "release"
    definition = {"jobDefinitionCode": "held", "jobType": "hold", "params": {"release": str(release)}}
    await _api(console, "POST", "/v1/job-definitions", 201, json={"jobDefinition": definition})
    job_id = (await _api(console, "POST", "/v1/job-definitions/held/_execute", 202, json={}))["jobId"]
    await sign_in(page, console)
    await page.goto(f"{console.url}/console/runs?definition=held")
    await page.get_by_role("button", name=f"Details of job {job_id}").click()
    detail = page.locator("section.detail")
    await detail.get_by_text("STARTED", exact=True).wait_for()
    release.write_text("go")  # the job ends; the page follows without a reload
    await detail.get_by_text("COMPLETED", exact=True).wait_for()
    await detail.get_by_text('"released": true').wait_for()
    await detail.get_by_text("holding until release").wait_for()
    assert "succeeded" in await detail.get_by_role("table", name="Attempts").text_content()
    await screenshot(page, "console-runs")

    await page.goto(f"{console.url}/console/runs")  # overall
    await page.get_by_role("row").filter(has_text=job_id).get_by_text("COMPLETED").wait_for()
    await page.get_by_label("Status").select_option("FAILED")
    await page.get_by_role("button", name="Show").click()
    await page.get_by_text("No runs match these filters.").wait_for()


async def test_executions_page_lists_recent_executions_or_says_the_server_cannot(
    page: Any, console: Console
) -> None:
    body = {"execution_type": "verify_credentials", "component": "consoletest",
            "account_data": {"token": "x"}}  # fmt: skip
    scheduled = await _api(console, "POST", "/v1/exec/schedule", 202, json=body)
    await sign_in(page, console)
    await page.goto(f"{console.url}/console/executions")
    listed = page.get_by_text(scheduled["id"])
    await page.get_by_text("not available on this server").or_(listed).first.wait_for()


async def test_pages_fit_a_narrow_screen(browser: Any, console: Console) -> None:
    context = await browser.new_context(viewport={"width": 390, "height": 844}, device_scale_factor=1)
    page = await context.new_page()
    try:
        await sign_in(page, console)
        for name in ("connectors", "accounts", "playground", "definitions", "runs", "executions"):
            await page.goto(f"{console.url}/console/{name}")
            await page.locator("#content").get_by_text("Loading…").wait_for(state="detached")
            overflow = await page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
            wide = await page.evaluate(
                "[...document.querySelectorAll('*')].filter(e => e.scrollWidth > e.clientWidth + 1)"
                ".map(e => e.tagName + '.' + e.className + ':' + e.scrollWidth + '/' + e.clientWidth + ':'"
                " + getComputedStyle(e).overflowX)"
            )
            assert overflow <= 0, f"{name} is {overflow}px wider than the screen: {wide}"
        await page.goto(f"{console.url}/console/definitions")
        await page.get_by_text("No job definitions yet").wait_for()
        await screenshot(page, "console-narrow")
    finally:
        await context.close()
