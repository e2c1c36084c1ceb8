"""The store's contract for accounts (stored credentials), on every backend."""

from __future__ import annotations

import msgspec

from connectord.runtime.store import Store
from connectord.runtime.store.records import AccountRecord

T0 = 1_800_000_000.0


def account(tenant: str, account_id: str, created_at: float = T0) -> AccountRecord:
    return AccountRecord(
        account_id, tenant, f"name {account_id}", "sql", b"sealed\x00keys", created_at, created_at
    )


def test_an_account_is_kept_as_given_and_scoped_by_tenant(store: Store, tenant: str) -> None:
    record = account(tenant, "a1")
    store.add_account(record)
    assert store.account(tenant, "a1") == record
    assert type(store.account(tenant, "a1").sealed_keys) is bytes  # type: ignore[union-attr]
    assert store.account("another-tenant", "a1") is None
    assert store.account(tenant, "a2") is None


def test_accounts_are_listed_oldest_first_in_pages(store: Store, tenant: str) -> None:
    for i, at in enumerate((T0 + 2, T0, T0 + 1)):
        store.add_account(account(tenant, f"a{i}", at))
    assert [a.id for a in store.accounts(tenant, 10, 0)] == ["a1", "a2", "a0"]
    assert [a.id for a in store.accounts(tenant, 1, 1)] == ["a2"]
    assert store.accounts("another-tenant", 10, 0) == []


def test_update_and_delete_touch_the_tenants_own_account_only(store: Store, tenant: str) -> None:
    record = account(tenant, "a1")
    store.add_account(record)
    changed = msgspec.structs.replace(record, name="renamed", sealed_keys=b"new", updated_at=T0 + 5)
    assert store.update_account(changed)
    assert store.account(tenant, "a1") == changed
    assert not store.update_account(msgspec.structs.replace(changed, tenant_id="another-tenant"))
    assert not store.update_account(msgspec.structs.replace(changed, id="missing"))
    assert not store.delete_account("another-tenant", "a1")
    assert store.delete_account(tenant, "a1")
    assert not store.delete_account(tenant, "a1")
    assert store.account(tenant, "a1") is None
