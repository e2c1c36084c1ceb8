"""Texts with a NUL character (U+0000): PostgreSQL cannot keep them, so no backend does.
A write is refused with InvalidTextError (the API answers 400), a lookup by such a key
finds nothing; never an unexpected error (a 500)."""

from __future__ import annotations

import msgspec
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from connectord.api.errors import error_middleware
from connectord.runtime.store import Store
from connectord.runtime.store.records import (
    AccountRecord,
    DefinitionRecord,
    ExecutionEnd,
    InvalidTextError,
    NewExecution,
    NewJob,
)

T0 = 1_800_000_000.0
NUL = "a\x00b"


def test_writes_of_a_text_with_nul_are_refused_and_keep_nothing(store: Store, tenant: str) -> None:
    with pytest.raises(InvalidTextError, match=r"^email must not contain NUL \(\\u0000\) characters$"):
        store.add_user(NUL, "acme", "hash-x", T0)
    with pytest.raises(InvalidTextError, match=r"^tenant must not"):
        store.add_user("x@example.com", NUL, "hash-x", T0)
    assert store.principal("hash-x") is None
    account = AccountRecord("acc", tenant, NUL, "sql", b"keys", T0, T0)
    with pytest.raises(InvalidTextError, match=r"^name must not"):
        store.add_account(account)
    assert store.accounts(tenant, 10, 0) == []
    store.add_account(msgspec.structs.replace(account, name="fine"))
    with pytest.raises(InvalidTextError, match=r"^name must not"):
        store.update_account(account)
    kept = store.account(tenant, "acc")
    assert kept is not None and kept.name == "fine"
    with pytest.raises(InvalidTextError, match=r"^idempotency_key must not"):
        store.add_execution(NewExecution("e1", tenant, b"call", T0, idempotency_key=NUL, request_hash="hash"))
    assert store.execution(tenant, "e1") is None
    definition = DefinitionRecord(
        "d", tenant, NUL, "echo", "STARTED", b"{}", b"sealed", T0, 1, 10, 86400.0, T0, T0
    )
    with pytest.raises(InvalidTextError, match=r"^code must not"):
        store.add_definition(definition)
    assert store.definitions(tenant, 10, 0) == []
    with pytest.raises(InvalidTextError, match=r"^account_id must not"):
        store.add_job(NewJob("j1", tenant, "echo", "api", "WAITING", T0, account_id=NUL, run_at=T0))
    assert store.jobs(tenant, 10, 0) == []


def test_lookups_by_a_key_with_nul_find_nothing(store: Store, tenant: str) -> None:
    assert store.principal(NUL) is None
    assert store.revoke_keys(NUL, T0) == 0
    assert store.rotate_key(NUL, "hash-n", T0) is None
    assert store.delete_user(NUL) is False
    assert store.execution(tenant, NUL) is None
    assert store.deliver_result(tenant, NUL, T0) is None
    assert not store.cancel_execution(tenant, NUL, ExecutionEnd(b"o", b"l", T0, T0 + 1))
    assert store.cached_outcome(tenant, NUL, T0) is None
    assert store.account(tenant, NUL) is None
    assert store.accounts(NUL, 10, 0) == []
    assert not store.delete_account(tenant, NUL)
    assert store.definition(tenant, NUL) is None
    assert store.definitions_by_id([NUL]) == []
    assert store.delete_definition(tenant, NUL, T0) is None
    assert store.job(tenant, NUL) is None
    assert store.jobs(tenant, 10, 0, definition_code=NUL) == []
    assert store.jobs(tenant, 10, 0, status=NUL) == []
    assert store.cancel_job(tenant, NUL, T0, {}) is None


async def test_the_api_answers_400_naming_the_problem(aiohttp_client: object) -> None:
    async def handler(request: web.Request) -> web.Response:
        raise InvalidTextError("name")

    app = web.Application(middlewares=[error_middleware])
    app.router.add_get("/", handler)
    client: TestClient = await aiohttp_client(app)  # type: ignore[operator]
    response = await client.get("/")
    assert response.status == 400
    message = "name must not contain NUL (\\u0000) characters"
    assert await response.json() == {"message": message, "field": "name"}
