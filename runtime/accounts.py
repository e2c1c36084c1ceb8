"""Accounts: credentials stored for a component, per tenant. Keys are sealed at rest and
their secret fields (as the connector's credentials schema marks them) are masked in every
answer; a masked value sent back keeps the stored secret."""

from __future__ import annotations

import builtins
import uuid
from collections.abc import Callable
from typing import Annotated, Any

import msgspec

from connectord.plugins.manager import Catalog, UnknownConnectorError
from connectord.runtime.calls import credentials_problem
from connectord.runtime.secrets import MASK, SecretBox, SecretsError, mask, unmask
from connectord.runtime.store import Store
from connectord.runtime.store.records import AccountRecord, Principal
from connectord.runtime.store.runner import StoreRunner
from connectord.runtime.times import iso_utc
from connectord.runtime.validation import InvalidRequestError, check_integers

Name = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
#: ISO 8601 in UTC (runtime/times.py), as every time in our answers.
Time = Annotated[str, msgspec.Meta(extra_json_schema={"format": "date-time"})]


class AccountBody(msgspec.Struct, forbid_unknown_fields=True):
    name: Name
    component: str
    keys: dict[str, Any]


class AccountView(msgspec.Struct):
    id: str
    name: str
    component: str
    keys: dict[str, Any]
    created_at: Time
    updated_at: Time


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

    async def create(self, principal: Principal, body: AccountBody) -> AccountView:
        masked = [f for f in self._secret_fields(body.component) if body.keys.get(f) == MASK]
        if masked:
            raise InvalidRequestError(
                f"keys.{masked[0]} is the mask '{MASK}', not a secret: send the real value",
                f"keys.{masked[0]}",
            )
        self._check(body, body.keys)
        now = self.clock()
        record = AccountRecord(
            uuid.uuid4().hex,
            principal.tenant_id,
            body.name,
            body.component,
            self.box.seal_json(body.keys),
            now,
            now,
        )
        await self.run(self.store.add_account, record)
        return self._view(record, body.keys)

    async def get(self, principal: Principal, account_id: str) -> AccountView | None:
        record = await self.run(self.store.account, principal.tenant_id, account_id)
        return self._view(record, self._keys(record)) if record else None

    async def list(self, principal: Principal, limit: int, offset: int) -> list[AccountView]:
        records = await self.run(self.store.accounts, principal.tenant_id, limit, offset)
        return [self._view(r, self._keys(r)) for r in records]

    async def replace(self, principal: Principal, account_id: str, body: AccountBody) -> AccountView | None:
        stored = await self.run(self.store.account, principal.tenant_id, account_id)
        if stored is None:
            return None
        secret_fields = self._secret_fields(body.component)
        try:
            keys = unmask(
                body.keys, self._keys(stored) if stored.component == body.component else {}, secret_fields
            )
        except SecretsError as exc:
            raise InvalidRequestError(str(exc), "keys") from None
        self._check(body, keys)
        record = msgspec.structs.replace(
            stored,
            name=body.name,
            component=body.component,
            sealed_keys=self.box.seal_json(keys),
            updated_at=self.clock(),
        )
        if not await self.run(self.store.update_account, record):
            return None
        return self._view(record, keys)

    async def delete(self, principal: Principal, account_id: str) -> bool:
        return await self.run(self.store.delete_account, principal.tenant_id, account_id)

    def _check(self, body: AccountBody, keys: dict[str, Any]) -> None:
        check_integers(keys, "keys")  # what a call will carry to the worker (msgpack)
        try:
            info = self.catalog().get(body.component).info
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

    def _view(self, record: AccountRecord, keys: dict[str, Any]) -> AccountView:
        # A component no longer installed: mask everything rather than guess.
        entry = self.catalog().connectors.get(record.component)
        fields = entry.info.secret_fields() if entry else list(keys)
        return AccountView(
            record.id,
            record.name,
            record.component,
            mask(keys, fields),
            iso_utc(record.created_at) or "",
            iso_utc(record.updated_at) or "",
        )
