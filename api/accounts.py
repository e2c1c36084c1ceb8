"""``/v1/accounts``: stored credentials of the caller's tenant, secrets masked."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from aiohttp import web

from connectord.api.body import decode_json, read_body
from connectord.api.executions import verified_view
from connectord.api.keys import ACCOUNTS, EXECUTIONS, PRINCIPAL, SETTINGS
from connectord.api.paging import integer, seconds
from connectord.api.responses import json_response
from connectord.api.urls import absolute
from connectord.plugins.server_errors import NotFound
from connectord.runtime.accounts import Account
from connectord.runtime.times import iso_utc

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


def account_view(account: Account) -> AccountView:
    record = account.record
    created, updated = iso_utc(record.created_at) or "", iso_utc(record.updated_at) or ""
    return AccountView(record.id, record.name, record.component, account.keys, created, updated)


_body = msgspec.json.Decoder(AccountBody)
NOT_FOUND = "Account does not exist."
MAX_PAGE = 500


def _not_found() -> NotFound:
    return NotFound(NOT_FOUND, "account_id")


async def create(request: web.Request) -> web.Response:
    body = decode_json(_body, await read_body(request))
    account = await request.app[ACCOUNTS].create(request[PRINCIPAL], body.name, body.component, body.keys)
    location = absolute(request, f"/v1/accounts/{account.record.id}")
    return json_response(account_view(account), 201, {"Location": location})


async def listing(request: web.Request) -> web.Response:
    limit = integer(request, "limit", 100, 1, MAX_PAGE)
    offset = integer(request, "offset", 0, 0, 10**9)
    accounts = await request.app[ACCOUNTS].list(request[PRINCIPAL], limit, offset)
    data = [account_view(a) for a in accounts]
    return json_response({"data": data, "meta": {"limit": limit, "offset": offset}})


async def get(request: web.Request) -> web.Response:
    account = await request.app[ACCOUNTS].get(request[PRINCIPAL], request.match_info["account_id"])
    if account is None:
        raise _not_found()
    return json_response(account_view(account))


async def replace(request: web.Request) -> web.Response:
    body = decode_json(_body, await read_body(request))
    account_id = request.match_info["account_id"]
    account = await request.app[ACCOUNTS].replace(
        request[PRINCIPAL], account_id, body.name, body.component, body.keys
    )
    if account is None:
        raise _not_found()
    return json_response(account_view(account))


async def delete(request: web.Request) -> web.Response:
    if not await request.app[ACCOUNTS].delete(request[PRINCIPAL], request.match_info["account_id"]):
        raise _not_found()
    return web.Response(status=204)


async def verify(request: web.Request) -> web.Response:
    """Run verify_credentials on a stored account through the sandbox, as an execution
    (listed under /v1/exec); answer its outcome, or 202 with where to poll should it take
    longer than ``wait`` seconds (default and most: the longest poll)."""
    longest = request.app[SETTINGS].max_poll_wait
    wait = seconds(request, "wait", longest, default=longest)
    account_id = request.match_info["account_id"]
    found = await request.app[EXECUTIONS].verify_account(request[PRINCIPAL], account_id, wait)
    if found is None:
        raise _not_found()
    execution_id, outcome = found
    if outcome is None:
        location = absolute(request, f"/v1/exec/poll/{execution_id}")
        return json_response({"message": "Still running.", "id": execution_id}, 202, {"Location": location})
    return json_response(verified_view(execution_id, outcome))
