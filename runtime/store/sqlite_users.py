"""Tenants, users and API keys in SQLite."""

from __future__ import annotations

import sqlite3
import uuid
from contextlib import AbstractContextManager
from typing import Protocol

from connectord.runtime.store.records import ConflictError, Principal, UserRecord, has_nul, refuse_nul


class _Connected(Protocol):
    def _tx(self) -> AbstractContextManager[sqlite3.Connection]: ...

    def _read(self) -> AbstractContextManager[sqlite3.Connection]: ...


class UsersSQL:
    def add_user(self: _Connected, email: str, tenant_name: str, key_hash: str, now: float) -> UserRecord:
        """Create the user (and its tenant if new) with a first API key."""
        refuse_nul(email=email, tenant=tenant_name, key=key_hash)
        with self._tx() as conn:
            if conn.execute("SELECT 1 FROM users WHERE email = ?", (email,)).fetchone():
                raise ConflictError(f"user {email} already exists")
            tenant_id = _tenant_id(conn, tenant_name)
            user_id = uuid.uuid4().hex
            conn.execute(
                "INSERT INTO users (id, tenant_id, email, created_at) VALUES (?, ?, ?, ?)",
                (user_id, tenant_id, email, now),
            )
            conn.execute(
                "INSERT INTO api_keys (key_hash, user_id, created_at) VALUES (?, ?, ?)",
                (key_hash, user_id, now),
            )
        return UserRecord(user_id, email, tenant_name, now, 1)

    def list_users(self: _Connected) -> list[UserRecord]:
        with self._read() as conn:
            rows = conn.execute(
                """SELECT u.id, u.email, t.name, u.created_at,
                          (SELECT count(*) FROM api_keys k WHERE k.user_id = u.id AND k.revoked_at IS NULL)
                   FROM users u JOIN tenants t ON t.id = u.tenant_id ORDER BY u.email"""
            ).fetchall()
        return [UserRecord(*row) for row in rows]

    def revoke_keys(self: _Connected, email: str, now: float) -> int:
        """Revoke every active key of the user; the number revoked (0: none, or no such user)."""
        with self._tx() as conn:
            cursor = conn.execute(
                """UPDATE api_keys SET revoked_at = ?
                   WHERE revoked_at IS NULL AND user_id = (SELECT id FROM users WHERE email = ?)""",
                (now, email),
            )
        return cursor.rowcount

    def rotate_key(self: _Connected, email: str, key_hash: str, now: float) -> int | None:
        """Revoke every active key of the user and give it ``key_hash`` instead, in one
        transaction; the number of keys revoked, or ``None`` when there is no such user."""
        if has_nul(email):  # as PostgreSQL answers it: no such user
            return None
        refuse_nul(key=key_hash)
        with self._tx() as conn:
            row = conn.execute("SELECT id FROM users WHERE email = ?", (email,)).fetchone()
            if row is None:
                return None
            revoked = conn.execute(
                "UPDATE api_keys SET revoked_at = ? WHERE revoked_at IS NULL AND user_id = ?", (now, row[0])
            ).rowcount
            conn.execute(
                "INSERT INTO api_keys (key_hash, user_id, created_at) VALUES (?, ?, ?)",
                (key_hash, row[0], now),
            )
        return revoked

    def delete_user(self: _Connected, email: str) -> bool:
        """Delete the user and all its keys (revoked ones too); whether there was one. Its
        tenant, and what the tenant stored, stay."""
        if has_nul(email):
            return False
        with self._tx() as conn:
            row = conn.execute("SELECT id FROM users WHERE email = ?", (email,)).fetchone()
            if row is None:
                return False
            conn.execute("DELETE FROM api_keys WHERE user_id = ?", (row[0],))
            conn.execute("DELETE FROM users WHERE id = ?", (row[0],))
        return True

    def principal(self: _Connected, key_hash: str) -> Principal | None:
        with self._read() as conn:
            row = conn.execute(
                """SELECT u.id, u.email, t.id, t.name FROM api_keys k
                   JOIN users u ON u.id = k.user_id JOIN tenants t ON t.id = u.tenant_id
                   WHERE k.key_hash = ? AND k.revoked_at IS NULL""",
                (key_hash,),
            ).fetchone()
        return Principal(*row) if row else None


def _tenant_id(conn: sqlite3.Connection, name: str) -> str:
    row = conn.execute("SELECT id FROM tenants WHERE name = ?", (name,)).fetchone()
    if row:
        return str(row[0])
    tenant_id = uuid.uuid4().hex
    conn.execute("INSERT INTO tenants (id, name) VALUES (?, ?)", (tenant_id, name))
    return tenant_id


__all__ = ["UsersSQL"]
