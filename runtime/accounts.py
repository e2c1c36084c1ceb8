"""Accounts: credentials stored for a component, per tenant. Keys are sealed at rest and
their secret fields (as the connector's credentials schema marks them) are masked in every
answer; a masked value sent back keeps the stored secret, only while the other credential
fields are unchanged (else the secret could be sent to where the new fields point)."""

from __future__ import annotations

import builtins
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import msgspec

from connectord.plugins.manager import Catalog, UnknownConnectorError
from connectord.runtime.calls import credentials_problem
from connectord.runtime.secrets import MASK, SecretBox, SecretsError, mask, unmask
from connectord.runtime.store import Store
from connectord.runtime.store.records import AccountRecord, Principal
from connectord.runtime.store.runner import StoreRunner
from connectord.runtime.validation import InvalidRequestError, check_integers


@dataclass(frozen=True)
class Account:
    """A stored account as its tenant sees it: its keys, the secret ones masked."""

    record: AccountRecord
    keys: dict[str, Any]


class Accounts:
    def __init__(
        self,
        store: Store,
        run: StoreRunner,
        box: SecretBox,
        catalog: Callable[[], Catalog],
        clock: Callable[[], float],
    ) -> None:
        self.store, self.run, self.box, self.catalog, self.clock = store, run, box, catalog, clock

    async def create(self, principal: Principal, name: str, component: str, keys: dict[str, Any]) -> Account:
        secret_fields = self._secret_fields(component)
        masked = [f for f in secret_fields if keys.get(f) == MASK]
        if masked:
            raise InvalidRequestError(
                f"keys.{masked[0]} is the mask '{MASK}', not a secret: send the real value",
                f"keys.{masked[0]}",
            )
        try:
            unmask(keys, {}, secret_fields)  # a URL with its password masked: none is stored
        except SecretsError as exc:
            raise InvalidRequestError(str(exc), f"keys.{exc.field}") from None
        self._check(component, keys)
        now = self.clock()
        record = AccountRecord(
            uuid.uuid4().hex,
            principal.tenant_id,
            name,
            component,
            self.box.seal_json(keys),
            now,
            now,
        )
        await self.run(self.store.add_account, record)
        return self._shown(record, keys)

    async def get(self, principal: Principal, account_id: str) -> Account | None:
        record = await self.run(self.store.account, principal.tenant_id, account_id)
        return self._shown(record, self._keys(record)) if record else None

    async def list(self, principal: Principal, limit: int, offset: int) -> list[Account]:
        records = await self.run(self.store.accounts, principal.tenant_id, limit, offset)
        return [self._shown(r, self._keys(r)) for r in records]

    async def replace(
        self, principal: Principal, account_id: str, name: str, component: str, keys: dict[str, Any]
    ) -> Account | None:
        """The account with a new name, component and keys; a secret key sent masked keeps
        the stored one (of the same component only, and only while every non-secret key is
        as stored: a changed URL or user needs its secrets sent again, 400 naming one)."""
        stored = await self.run(self.store.account, principal.tenant_id, account_id)
        if stored is None:
            return None
        secret_fields = self._secret_fields(component)
        try:
            keys = unmask(keys, self._keys(stored) if stored.component == component else {}, secret_fields)
        except SecretsError as exc:
            raise InvalidRequestError(str(exc), f"keys.{exc.field}" if exc.field else "keys") from None
        self._check(component, keys)
        record = msgspec.structs.replace(
            stored,
            name=name,
            component=component,
            sealed_keys=self.box.seal_json(keys),
            updated_at=self.clock(),
        )
        if not await self.run(self.store.update_account, record):
            return None
        return self._shown(record, keys)

    async def delete(self, principal: Principal, account_id: str) -> bool:
        return await self.run(self.store.delete_account, principal.tenant_id, account_id)

    def _check(self, component: str, keys: dict[str, Any]) -> None:
        check_integers(keys, "keys")  # what a call will carry to the worker (msgpack)
        try:
            info = self.catalog().get(component).info
        except UnknownConnectorError as exc:
            raise InvalidRequestError(str(exc), "component") from None
        problem = credentials_problem(info, keys)
        if problem is not None:
            message, field = problem
            raise InvalidRequestError(message, f"keys.{field}")

    def _keys(self, record: AccountRecord) -> dict[str, Any]:
        return self.box.open_json(record.sealed_keys)

    def _secret_fields(self, component: str) -> builtins.list[str]:  # list: a method here
        entry = self.catalog().connectors.get(component)
        return entry.info.secret_fields() if entry else []

    def _shown(self, record: AccountRecord, keys: dict[str, Any]) -> Account:
        # A component no longer installed: mask everything rather than guess.
        entry = self.catalog().connectors.get(record.component)
        fields = entry.info.secret_fields() if entry else list(keys)
        return Account(record, mask(keys, fields))
