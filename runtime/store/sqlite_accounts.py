"""Stored credentials (accounts) in SQLite; their keys arrive and leave sealed."""

from __future__ import annotations

import sqlite3
from contextlib import AbstractContextManager
from typing import Protocol

from connectord.runtime.store.records import AccountRecord, refuse_nul_account

_COLUMNS = "id, tenant_id, name, component, sealed_keys, created_at, updated_at"


class _Connected(Protocol):
    def _tx(self) -> AbstractContextManager[sqlite3.Connection]: ...

    def _read(self) -> AbstractContextManager[sqlite3.Connection]: ...


class AccountsSQL:
    def add_account(self: _Connected, record: AccountRecord) -> None:
        refuse_nul_account(record)
        with self._tx() as conn:
            conn.execute(
                f"INSERT INTO accounts ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)",
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
        with self._read() as conn:
            row = conn.execute(
                f"SELECT {_COLUMNS} FROM accounts WHERE id = ? AND tenant_id = ?", (account_id, tenant_id)
            ).fetchone()
        return AccountRecord(*row) if row else None

    def accounts(self: _Connected, tenant_id: str, limit: int, offset: int) -> list[AccountRecord]:
        with self._read() as conn:
            rows = conn.execute(
                f"""SELECT {_COLUMNS} FROM accounts WHERE tenant_id = ?
                    ORDER BY created_at, id LIMIT ? OFFSET ?""",
                (tenant_id, limit, offset),
            ).fetchall()
        return [AccountRecord(*row) for row in rows]

    def update_account(self: _Connected, record: AccountRecord) -> bool:
        refuse_nul_account(record)
        with self._tx() as conn:
            cursor = conn.execute(
                """UPDATE accounts SET name = ?, component = ?, sealed_keys = ?, updated_at = ?
                   WHERE id = ? AND tenant_id = ?""",
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
        with self._tx() as conn:
            cursor = conn.execute(
                "DELETE FROM accounts WHERE id = ? AND tenant_id = ?", (account_id, tenant_id)
            )
        return cursor.rowcount == 1
