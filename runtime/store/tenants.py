"""Tenants, their users and API keys, and their stored credentials (accounts), whose keys
arrive and leave sealed."""

from __future__ import annotations

import uuid

from connectord.runtime.store.columns import columns, params, values
from connectord.runtime.store.dialect import Dialect
from connectord.runtime.store.events import event
from connectord.runtime.store.records import (
    AccountRecord,
    ConflictError,
    Principal,
    UserRecord,
    has_nul,
    refuse_nul,
    refuse_nul_account,
)

_ACCOUNT = columns(AccountRecord)
_ADD_ACCOUNT = f"INSERT INTO accounts ({_ACCOUNT}) VALUES ({values(AccountRecord)})"
_ACCOUNT_WHERE = "id = :id AND tenant_id = :tenant_id"
_USER_ID = "SELECT id FROM users WHERE email = :email {for_update}"
_ADD_KEY = "INSERT INTO api_keys (key_hash, user_id, created_at) VALUES (:key, :user, :now)"


class Tenants:
    db: Dialect
    #: Keys revoked, rotated or deleted through this store object so far: remembered
    #: principals (runtime/principals.py) older than a change are looked up again.
    key_changes: int = 0

    # -- users and keys -------------------------------------------------------------------

    def add_user(self, email: str, tenant_name: str, key_hash: str, now: float) -> UserRecord:
        """Create the user (and its tenant if new) with a first API key; ConflictError if a
        user has this email already."""
        refuse_nul(email=email, tenant=tenant_name, key=key_hash)
        user_id = uuid.uuid4().hex
        args = {"user": user_id, "email": email, "tenant": tenant_name, "key": key_hash, "now": now}
        with self.db.transaction() as db:
            # A tenant added by another node meanwhile is waited for, then found.
            db.run(
                "INSERT INTO tenants (id, name) VALUES (:id, :tenant) ON CONFLICT (name) DO NOTHING",
                {**args, "id": uuid.uuid4().hex},
            )
            added = db.run(
                """INSERT INTO users (id, tenant_id, email, created_at)
                   SELECT :user, id, :email, :now FROM tenants WHERE name = :tenant
                   ON CONFLICT (email) DO NOTHING""",
                args,
            )
            if not added:
                raise ConflictError(f"user {email} already exists")
            db.run(_ADD_KEY, args)
        return UserRecord(user_id, email, tenant_name, now, 1)

    def list_users(self) -> list[UserRecord]:
        with self.db.read() as db:
            rows = db.all(
                """SELECT u.id, u.email, t.name, u.created_at,
                          (SELECT count(*) FROM api_keys k WHERE k.user_id = u.id AND k.revoked_at IS NULL)
                   FROM users u JOIN tenants t ON t.id = u.tenant_id ORDER BY u.email"""
            )
        return [UserRecord(*row) for row in rows]

    def revoke_keys(self, email: str, now: float) -> int:
        """Revoke every active key of the user; the number revoked (0: none, or no such user)."""
        if has_nul(email):
            return 0
        with self.db.write() as db:
            revoked = db.run(
                """UPDATE api_keys SET revoked_at = :now
                   WHERE revoked_at IS NULL AND user_id = (SELECT id FROM users WHERE email = :email)""",
                {"now": now, "email": email},
            )
        if revoked:
            self._keys_changed()
        return revoked

    def rotate_key(self, email: str, key_hash: str, now: float) -> int | None:
        """Revoke every active key of the user and give it ``key_hash`` instead, in one
        transaction; the number of keys revoked, or ``None`` when there is no such user."""
        if has_nul(email):
            return None
        refuse_nul(key=key_hash)
        with self.db.transaction() as db:
            row = db.one(_USER_ID, {"email": email})
            if row is None:
                return None
            args = {"now": now, "user": row[0], "key": key_hash}
            revoked = db.run(
                "UPDATE api_keys SET revoked_at = :now WHERE revoked_at IS NULL AND user_id = :user", args
            )
            db.run(_ADD_KEY, args)
        self._keys_changed()
        return revoked

    def delete_user(self, email: str) -> bool:
        """Delete the user and all its keys (revoked ones too); whether there was one. Its
        tenant, and what the tenant stored, stay."""
        if has_nul(email):
            return False
        with self.db.transaction() as db:
            row = db.one(_USER_ID, {"email": email})
            if row is None:
                return False
            db.run("DELETE FROM api_keys WHERE user_id = :user", {"user": row[0]})
            db.run("DELETE FROM users WHERE id = :user", {"user": row[0]})
        self._keys_changed()
        return True

    def _keys_changed(self) -> None:
        """Keys stopped working: forget them here at once, and on every node listening."""
        self.key_changes += 1
        self.db.announce(event("keys-changed"))

    def principal(self, key_hash: str) -> Principal | None:
        """Who holds the active API key whose hash is ``key_hash``."""
        if has_nul(key_hash):
            return None
        with self.db.read() as db:
            row = db.one(
                """SELECT u.id, u.email, t.id, t.name FROM api_keys k
                   JOIN users u ON u.id = k.user_id JOIN tenants t ON t.id = u.tenant_id
                   WHERE k.key_hash = :key AND k.revoked_at IS NULL""",
                {"key": key_hash},
            )
        return Principal(*row) if row else None

    # -- accounts -------------------------------------------------------------------------

    def add_account(self, record: AccountRecord) -> None:
        refuse_nul_account(record)
        with self.db.write() as db:
            db.run(_ADD_ACCOUNT, params(record))

    def account(self, tenant_id: str, account_id: str) -> AccountRecord | None:
        if has_nul(tenant_id, account_id):
            return None
        with self.db.read() as db:
            row = db.one(
                f"SELECT {_ACCOUNT} FROM accounts WHERE {_ACCOUNT_WHERE}",
                {"id": account_id, "tenant_id": tenant_id},
            )
        return AccountRecord(*row) if row else None

    def accounts(self, tenant_id: str, limit: int, offset: int) -> list[AccountRecord]:
        """A page of the tenant's accounts, oldest first."""
        if has_nul(tenant_id):
            return []
        with self.db.read() as db:
            rows = db.all(
                f"""SELECT {_ACCOUNT} FROM accounts WHERE tenant_id = :tenant_id
                    ORDER BY created_at, id LIMIT :limit OFFSET :offset""",
                {"tenant_id": tenant_id, "limit": limit, "offset": offset},
            )
        return [AccountRecord(*row) for row in rows]

    def update_account(self, record: AccountRecord) -> bool:
        """Store a changed account (name, component, keys); False if it is gone."""
        if has_nul(record.id, record.tenant_id):
            return False
        refuse_nul_account(record)
        with self.db.write() as db:
            return (
                db.run(
                    f"""UPDATE accounts SET name = :name, component = :component,
                                            sealed_keys = :sealed_keys, updated_at = :updated_at
                        WHERE {_ACCOUNT_WHERE}""",
                    params(record),
                )
                == 1
            )

    def delete_account(self, tenant_id: str, account_id: str) -> bool:
        if has_nul(tenant_id, account_id):
            return False
        with self.db.write() as db:
            return (
                db.run(
                    f"DELETE FROM accounts WHERE {_ACCOUNT_WHERE}", {"id": account_id, "tenant_id": tenant_id}
                )
                == 1
            )
