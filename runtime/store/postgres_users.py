"""Tenants, users and API keys in PostgreSQL."""

from __future__ import annotations

import uuid
from contextlib import AbstractContextManager
from typing import Protocol

import psycopg

from connectord.runtime.store.records import ConflictError, Principal, UserRecord, has_nul, refuse_nul


class _Connected(Protocol):
    def _conn(self) -> AbstractContextManager[psycopg.Connection]: ...

    def _tx(self) -> AbstractContextManager[psycopg.Connection]: ...


class UsersPG:
    def add_user(self: _Connected, email: str, tenant_name: str, key_hash: str, now: float) -> UserRecord:
        """Create the user (and its tenant if new) with a first API key."""
        refuse_nul(email=email, tenant=tenant_name, key=key_hash)
        user_id = uuid.uuid4().hex
        try:
            with self._tx() as conn:
                # A tenant added by another node meanwhile is waited for, then found.
                conn.execute(
                    "INSERT INTO tenants (id, name) VALUES (%s, %s) ON CONFLICT (name) DO NOTHING",
                    (uuid.uuid4().hex, tenant_name),
                )
                conn.execute(
                    """INSERT INTO users (id, tenant_id, email, created_at)
                       SELECT %s, id, %s, %s FROM tenants WHERE name = %s""",
                    (user_id, email, now, tenant_name),
                )
                conn.execute(
                    "INSERT INTO api_keys (key_hash, user_id, created_at) VALUES (%s, %s, %s)",
                    (key_hash, user_id, now),
                )
        except psycopg.errors.UniqueViolation as exc:
            if exc.diag.constraint_name == "users_email_key":
                raise ConflictError(f"user {email} already exists") from None
            raise
        return UserRecord(user_id, email, tenant_name, now, 1)

    def list_users(self: _Connected) -> list[UserRecord]:
        with self._conn() as conn:
            rows = conn.execute(
                """SELECT u.id, u.email, t.name, u.created_at,
                          (SELECT count(*) FROM api_keys k WHERE k.user_id = u.id AND k.revoked_at IS NULL)
                   FROM users u JOIN tenants t ON t.id = u.tenant_id ORDER BY u.email"""
            ).fetchall()
        return [UserRecord(*row) for row in rows]

    def revoke_keys(self: _Connected, email: str, now: float) -> int:
        """Revoke every active key of the user; the number revoked (0: none, or no such user)."""
        if has_nul(email):
            return 0
        with self._conn() as conn:
            cursor = conn.execute(
                """UPDATE api_keys SET revoked_at = %s
                   WHERE revoked_at IS NULL AND user_id = (SELECT id FROM users WHERE email = %s)""",
                (now, email),
            )
        return cursor.rowcount

    def rotate_key(self: _Connected, email: str, key_hash: str, now: float) -> int | None:
        """Revoke every active key of the user and give it ``key_hash`` instead, in one
        transaction; the number of keys revoked, or ``None`` when there is no such user."""
        if has_nul(email):
            return None
        refuse_nul(key=key_hash)
        with self._tx() as conn:
            row = conn.execute("SELECT id FROM users WHERE email = %s FOR UPDATE", (email,)).fetchone()
            if row is None:
                return None
            revoked = conn.execute(
                "UPDATE api_keys SET revoked_at = %s WHERE revoked_at IS NULL AND user_id = %s", (now, row[0])
            ).rowcount
            conn.execute(
                "INSERT INTO api_keys (key_hash, user_id, created_at) VALUES (%s, %s, %s)",
                (key_hash, row[0], now),
            )
        return revoked

    def delete_user(self: _Connected, email: str) -> bool:
        """Delete the user and all its keys (revoked ones too); whether there was one. Its
        tenant, and what the tenant stored, stay."""
        if has_nul(email):
            return False
        with self._tx() as conn:
            row = conn.execute("SELECT id FROM users WHERE email = %s FOR UPDATE", (email,)).fetchone()
            if row is None:
                return False
            conn.execute("DELETE FROM api_keys WHERE user_id = %s", (row[0],))
            conn.execute("DELETE FROM users WHERE id = %s", (row[0],))
        return True

    def principal(self: _Connected, key_hash: str) -> Principal | None:
        if has_nul(key_hash):
            return None
        with self._conn() as conn:
            row = conn.execute(
                """SELECT u.id, u.email, t.id, t.name FROM api_keys k
                   JOIN users u ON u.id = k.user_id JOIN tenants t ON t.id = u.tenant_id
                   WHERE k.key_hash = %s AND k.revoked_at IS NULL""",
                (key_hash,),
            ).fetchone()
        return Principal(*row) if row else None


__all__ = ["UsersPG"]
