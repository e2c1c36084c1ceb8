"""What the store keeps, as plain records (the store's contract, whatever the backend)."""

from __future__ import annotations

from typing import Literal

import msgspec

ExecutionState = Literal["queued", "running", "done", "delivered"]


class Principal(msgspec.Struct, frozen=True):
    """Who a request comes from: an API key's user, and the tenant that scopes everything."""

    user_id: str
    email: str
    tenant_id: str
    tenant_name: str


class UserRecord(msgspec.Struct, frozen=True):
    id: str
    email: str
    tenant_name: str
    created_at: float
    active_keys: int


class ExecutionRecord(msgspec.Struct, frozen=True):
    id: str
    tenant_id: str
    state: ExecutionState
    created_at: float
    expires_at: float | None = None
    request_hash: str | None = None


class FinishedExecution(msgspec.Struct, frozen=True):
    """An execution's outcome and logs as stored (msgpack), for delivery."""

    id: str
    outcome: bytes
    logs: bytes


class ClaimedExecution(msgspec.Struct, frozen=True):
    id: str
    tenant_id: str
    sealed_call: bytes
    #: Where a successful outcome is cached, and for how long (None: not cacheable).
    cache_key: str | None = None
    cache_seconds: float | None = None


class AccountRecord(msgspec.Struct, frozen=True):
    id: str
    tenant_id: str
    name: str
    component: str
    sealed_keys: bytes
    created_at: float
    updated_at: float


class StoreUnavailableError(Exception):
    """The store cannot be written or read right now (disk full, locked, gone)."""


class ConflictError(Exception):
    """A write conflicts with what is stored (a unique key is taken)."""
