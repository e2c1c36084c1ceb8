"""/v1/accounts: CRUD per tenant, secrets sealed at rest and masked in every answer."""

from __future__ import annotations

import sqlite3

from connectord.runtime.store import SQLITE_FILE

from .conftest import Api

SECRET = "tok-account-secret-77"


async def create(api: Api, headers: dict[str, str], **body: object) -> dict:
    response = await api.client.post(
        "/v1/accounts",
        json={"name": "main", "component": "echo", "keys": {"token": SECRET}} | body,
        headers=headers,
    )
    assert response.status == 201, await response.text()
    assert response.headers["Location"].endswith(f"/v1/accounts/{(await response.json())['id']}")
    return await response.json()


async def test_create_read_list_update_delete_with_secrets_masked(api: Api) -> None:
    alice = api.add_user("alice@acme.test", "acme")
    account = await create(api, alice, keys={"token": SECRET, "mode": "ok"})
    assert account["keys"] == {"token": "**********", "mode": "ok"}
    one = await api.client.get(f"/v1/accounts/{account['id']}", headers=alice)
    assert (await one.json())["keys"] == {"token": "**********", "mode": "ok"}
    listing = await (await api.client.get("/v1/accounts?limit=10", headers=alice)).json()
    assert [a["id"] for a in listing["data"]] == [account["id"]]
    assert SECRET not in str(listing)

    # sent back masked: the stored secret is kept, and it still works for executions
    updated = await api.client.put(
        f"/v1/accounts/{account['id']}",
        json={"name": "renamed", "component": "echo", "keys": {"token": "**********", "mode": "ok"}},
        headers=alice,
    )
    assert updated.status == 200 and (await updated.json())["name"] == "renamed"
    scheduled = await api.client.post(
        "/v1/exec/schedule",
        json={
            "execution_type": "get_meta_model",
            "component": "echo",
            "action_or_trigger": "put",
            "account_id": account["id"],
        },
        headers=alice,
    )
    poll = scheduled.headers["Location"].split("/", 3)[3]
    result = await api.client.get(f"/{poll}?wait=20", headers=alice)
    assert result.status == 200

    deleted = await api.client.delete(f"/v1/accounts/{account['id']}", headers=alice)
    assert deleted.status == 204
    gone = await api.client.get(f"/v1/accounts/{account['id']}", headers=alice)
    assert gone.status == 404 and (await gone.json())["message"] == "Account does not exist."


async def test_secrets_are_not_stored_in_clear(api: Api) -> None:
    alice = api.add_user("alice@acme.test", "acme")
    await create(api, alice)
    raw = (api.settings.data_dir / SQLITE_FILE).read_bytes()
    with sqlite3.connect(api.settings.data_dir / SQLITE_FILE) as conn:
        sealed = conn.execute("SELECT sealed_keys FROM accounts").fetchone()[0]
    assert SECRET.encode() not in raw and SECRET.encode() not in sealed
    assert api.box.open_json(sealed) == {"token": SECRET}


async def test_bad_accounts_are_refused_naming_the_field(api: Api) -> None:
    alice = api.add_user("alice@acme.test", "acme")
    cases = [
        ({"name": "x", "component": "nope", "keys": {}}, "component"),
        ({"name": "x", "component": "echo", "keys": {"token": 5}}, "keys.token"),
        ({"name": "", "component": "echo", "keys": {}}, "name"),
        ({"name": "x", "component": "echo"}, "keys"),
        ({"name": "x", "component": "echo", "keys": {}, "extra": 1}, "extra"),
    ]
    for body, field in cases:
        response = await api.client.post("/v1/accounts", json=body, headers=alice)
        assert response.status == 400, body
        assert (await response.json())["field"] == field, body
    account = await create(api, alice, keys={})
    masked_without_secret = await api.client.put(
        f"/v1/accounts/{account['id']}",
        json={"name": "x", "component": "echo", "keys": {"token": "**********"}},
        headers=alice,
    )
    assert masked_without_secret.status == 400
    bad_page = await api.client.get("/v1/accounts?limit=0", headers=alice)
    assert bad_page.status == 400 and (await bad_page.json())["field"] == "limit"


async def test_accounts_of_another_tenant_do_not_exist(api: Api) -> None:
    alice = api.add_user("alice@acme.test", "acme")
    mallory = api.add_user("mallory@evil.test", "evil")
    account = await create(api, alice)
    for method in ("GET", "PUT", "DELETE"):
        response = await api.client.request(
            method,
            f"/v1/accounts/{account['id']}",
            headers=mallory,
            json={"name": "x", "component": "echo", "keys": {}} if method == "PUT" else None,
        )
        assert response.status == 404, method
    listing = await (await api.client.get("/v1/accounts", headers=mallory)).json()
    assert listing["data"] == []
    assert (await api.client.get(f"/v1/accounts/{account['id']}", headers=alice)).status == 200


async def test_a_masked_secret_cannot_follow_a_change_of_the_other_credentials(api: Api) -> None:
    """Re-pointing an account (another URL, mode or user) with its secret sent back masked
    would send the stored secret wherever the new fields point: the secret must be sent
    again, else 400 naming it, and nothing is changed."""
    alice = api.add_user("alice@acme.test", "acme")
    account = await create(api, alice, keys={"token": SECRET, "mode": "ok"})
    path = f"/v1/accounts/{account['id']}"
    for keys in (
        {"token": "**********", "mode": "fetch", "url": "http://127.0.0.1:9/steal"},
        {"token": "**********", "mode": "fetch"},
        {"token": "**********"},
        {"token": "**********", "mode": "ok", "url": "http://127.0.0.1:9/steal"},
    ):
        refused = await api.client.put(
            path, json={"name": "moved", "component": "echo", "keys": keys}, headers=alice
        )
        body = await refused.json()
        assert refused.status == 400, (keys, body)
        assert body["field"] == "keys.token"
        assert "secrets must be sent again when the other credential fields change" in body["message"]
        assert SECRET not in str(body)
    kept = await (await api.client.get(path, headers=alice)).json()
    assert (kept["name"], kept["keys"]) == ("main", {"token": "**********", "mode": "ok"})

    sent_again = {"token": "tok-new", "mode": "fetch", "url": "http://127.0.0.1:9/x"}
    moved = await api.client.put(
        path, json={"name": "moved", "component": "echo", "keys": sent_again}, headers=alice
    )
    assert moved.status == 200, await moved.text()
    assert (await moved.json())["keys"] == sent_again | {"token": "**********"}


async def test_a_password_in_a_url_credential_is_masked_and_kept_only_for_that_url(api: Api) -> None:
    """A URL credential may carry its password (``postgresql://user:pw@host``): masked in
    every answer, kept when the URL comes back as read, refused (naming the field) when the
    masked URL is another one, or nothing is stored for it."""
    alice = api.add_user("alice@acme.test", "acme")
    url = "postgresql://alice:pw-in-url-31@db.example:5432/app"
    shown = "postgresql://alice:**********@db.example:5432/app"
    account = await create(api, alice, keys={"token": SECRET, "mode": "ok", "url": url})
    assert account["keys"]["url"] == shown
    path = f"/v1/accounts/{account['id']}"
    listing = await (await api.client.get("/v1/accounts?limit=10", headers=alice)).json()
    assert "pw-in-url-31" not in str(listing) and "pw-in-url-31" not in str(account)

    def stored() -> dict:
        with sqlite3.connect(api.settings.data_dir / SQLITE_FILE) as conn:
            return api.box.open_json(conn.execute("SELECT sealed_keys FROM accounts").fetchone()[0])

    as_read = {"name": "renamed", "component": "echo", "keys": account["keys"]}
    updated = await api.client.put(path, json=as_read, headers=alice)
    assert updated.status == 200, await updated.text()
    assert (await updated.json())["keys"]["url"] == shown and stored()["url"] == url

    for keys in (
        account["keys"] | {"url": shown.replace("db.example", "evil.example")},
        {"token": "tok-new", "mode": "ok", "url": shown.replace("db.example", "evil.example")},
    ):
        refused = await api.client.put(path, json=as_read | {"keys": keys}, headers=alice)
        body = await refused.json()
        assert refused.status == 400 and body["field"] == "keys.url", body
        assert "send its password again" in body["message"]
    assert stored()["url"] == url

    copied = await api.client.post(
        "/v1/accounts", json={"name": "copy", "component": "echo", "keys": {"url": shown}}, headers=alice
    )
    assert copied.status == 400 and (await copied.json())["field"] == "keys.url"
