"""The store's contract for tenants, users and API keys, on every backend."""

from __future__ import annotations

import pytest

from connectord.runtime.store import Store
from connectord.runtime.store.records import ConflictError

T0 = 1_800_000_000.0


def test_a_user_gets_a_tenant_and_a_key_that_names_them(store: Store) -> None:
    user = store.add_user("a@example.com", "acme", "hash-a", T0)
    assert (user.email, user.tenant_name, user.created_at, user.active_keys) == (
        "a@example.com",
        "acme",
        T0,
        1,
    )
    principal = store.principal("hash-a")
    assert principal is not None
    assert (principal.user_id, principal.email, principal.tenant_name) == (user.id, "a@example.com", "acme")
    assert store.principal("unknown") is None


def test_users_of_one_tenant_share_it_and_tenants_are_apart(store: Store) -> None:
    store.add_user("a@example.com", "acme", "hash-a", T0)
    store.add_user("b@example.com", "acme", "hash-b", T0)
    store.add_user("c@example.com", "other", "hash-c", T0)
    a, b, c = (store.principal(h) for h in ("hash-a", "hash-b", "hash-c"))
    assert a is not None and b is not None and c is not None
    assert a.tenant_id == b.tenant_id != c.tenant_id


def test_an_email_is_taken_once(store: Store) -> None:
    store.add_user("a@example.com", "acme", "hash-a", T0)
    with pytest.raises(ConflictError, match=r"^user a@example.com already exists$"):
        store.add_user("a@example.com", "other", "hash-x", T0)
    # nothing of the refused user was kept: not its key, not its new tenant
    assert store.principal("hash-x") is None
    assert [u.tenant_name for u in store.list_users()] == ["acme"]


def test_users_are_listed_by_email_with_their_active_keys(store: Store) -> None:
    store.add_user("b@example.com", "beta", "hash-b", T0)
    store.add_user("a@example.com", "acme", "hash-a", T0 + 1)
    listed = store.list_users()
    assert [(u.email, u.tenant_name, u.active_keys) for u in listed] == [
        ("a@example.com", "acme", 1),
        ("b@example.com", "beta", 1),
    ]
    assert listed[0].created_at == T0 + 1


def test_revoked_keys_name_no_one(store: Store) -> None:
    store.add_user("a@example.com", "acme", "hash-a", T0)
    assert store.revoke_keys("a@example.com", T0 + 1) == 1
    assert store.revoke_keys("a@example.com", T0 + 2) == 0
    assert store.revoke_keys("nobody@example.com", T0 + 2) == 0
    assert store.principal("hash-a") is None
    assert [u.active_keys for u in store.list_users()] == [0]


def test_a_rotated_key_replaces_every_key_of_the_user(store: Store) -> None:
    store.add_user("a@example.com", "acme", "hash-a", T0)
    assert store.rotate_key("a@example.com", "hash-a2", T0 + 1) == 1
    assert store.principal("hash-a") is None
    principal = store.principal("hash-a2")
    assert principal is not None and principal.email == "a@example.com"
    assert [u.active_keys for u in store.list_users()] == [1]
    assert store.rotate_key("nobody@example.com", "hash-x", T0) is None
    assert store.principal("hash-x") is None


def test_a_deleted_user_and_its_keys_are_gone_its_tenant_stays(store: Store) -> None:
    store.add_user("a@example.com", "acme", "hash-a", T0)
    store.add_user("b@example.com", "acme", "hash-b", T0)
    store.rotate_key("a@example.com", "hash-a2", T0 + 1)  # a revoked key too
    assert store.delete_user("a@example.com") is True
    assert store.principal("hash-a2") is None
    assert [u.email for u in store.list_users()] == ["b@example.com"]
    assert store.delete_user("a@example.com") is False
    again = store.add_user("a@example.com", "acme", "hash-a3", T0 + 2)  # the address is free again
    principal = store.principal("hash-a3")
    assert principal is not None and principal.tenant_name == "acme" and principal.user_id == again.id
