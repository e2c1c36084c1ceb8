"""Stored credentials (accounts) in PostgreSQL; their keys arrive and leave sealed."""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Protocol

import psycopg

from connectord.runtime.store.records import AccountRecord, has_nul, refuse_nul_account

_COLUMNS = "id, tenant_id, name, component, sealed_keys, created_at, updated_at"


class _Connected(Protocol):
    def _conn(self) -> AbstractContextManager[psycopg.Connection]: ...


class AccountsPG:
    def add_account(self: _Connected, record: AccountRecord) -> None:
        refuse_nul_account(record)
        with self._conn() as conn:
            conn.execute(
                f"INSERT INTO accounts ({_COLUMNS}) VALUES (%s, %s, %s, %s, %s, %s, %s)",
                (
                    record.id,
                    record.tenant_id,
                    record.name,
                    record.component,
                    record.sealed_keys,
                    record.created_at,
                    record.updated_at,
                ),
            )

    def account(self: _Connected, tenant_id: str, account_id: str) -> AccountRecord | None:
        if has_nul(tenant_id, account_id):
            return None
        with self._conn() as conn:
            row = conn.execute(
                f"SELECT {_COLUMNS} FROM accounts WHERE id = %s AND tenant_id = %s", (account_id, tenant_id)
            ).fetchone()
        return AccountRecord(*row) if row else None

    def accounts(self: _Connected, tenant_id: str, limit: int, offset: int) -> list[AccountRecord]:
        if has_nul(tenant_id):
            return []
        with self._conn() as conn:
            rows = conn.execute(
                f"""SELECT {_COLUMNS} FROM accounts WHERE tenant_id = %s
                    ORDER BY created_at, id LIMIT %s OFFSET %s""",
                (tenant_id, limit, offset),
            ).fetchall()
        return [AccountRecord(*row) for row in rows]

    def update_account(self: _Connected, record: AccountRecord) -> bool:
        if has_nul(record.id, record.tenant_id):
            return False
        refuse_nul_account(record)
        with self._conn() as conn:
            cursor = conn.execute(
                """UPDATE accounts SET name = %s, component = %s, sealed_keys = %s, updated_at = %s
                   WHERE id = %s AND tenant_id = %s""",
                (
                    record.name,
                    record.component,
                    record.sealed_keys,
                    record.updated_at,
                    record.id,
                    record.tenant_id,
                ),
            )
        return cursor.rowcount == 1

    def delete_account(self: _Connected, tenant_id: str, account_id: str) -> bool:
        if has_nul(tenant_id, account_id):
            return False
        with self._conn() as conn:
            cursor = conn.execute(
                "DELETE FROM accounts WHERE id = %s AND tenant_id = %s", (account_id, tenant_id)
            )
        return cursor.rowcount == 1
