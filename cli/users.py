"""``connectord users add|list|rotate-key|revoke|delete``: who may call the API, and their API
keys. Users live in the store, not behind the API: an operator with the store manages them."""

from __future__ import annotations

import argparse
import re
import time

from connectord.cli.common import add_store_options, settings_from_args
from connectord.cli.exits import OK, CliError
from connectord.runtime.secrets import hash_api_key, new_api_key
from connectord.runtime.store import open_store
from connectord.runtime.store.records import ConflictError

EMAIL = re.compile(r"^[^@\s]+@[^@\s]+$")
TENANT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")
DEFAULT_TENANT = "default"


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "users", help="manage API users and keys", description="Manage the users who may call the API."
    )
    sub = parser.add_subparsers(dest="users_command", metavar="COMMAND", required=True)
    add = sub.add_parser("add", help="add a user and print a new API key (shown once)")
    add.add_argument("email", metavar="EMAIL")
    add.add_argument("--tenant", default=DEFAULT_TENANT, help=f"tenant (default {DEFAULT_TENANT!r})")
    add_store_options(add)
    add.set_defaults(run=run_add)
    listing = sub.add_parser("list", help="list users, their tenants and active keys")
    add_store_options(listing)
    listing.set_defaults(run=run_list)
    revoke = sub.add_parser("revoke", help="revoke every API key of a user")
    revoke.add_argument("email", metavar="EMAIL")
    add_store_options(revoke)
    revoke.set_defaults(run=run_revoke)
    rotate = sub.add_parser("rotate-key", help="revoke every key of a user, print a new one (shown once)")
    rotate.add_argument("email", metavar="EMAIL")
    add_store_options(rotate)
    rotate.set_defaults(run=run_rotate)
    delete = sub.add_parser("delete", help="delete a user and its keys (its tenant's data stays)")
    delete.add_argument("email", metavar="EMAIL")
    add_store_options(delete)
    delete.set_defaults(run=run_delete)


def run_add(args: argparse.Namespace) -> int:
    if not EMAIL.fullmatch(args.email):
        raise CliError(f"not an e-mail address: {args.email!r}")
    if not TENANT.fullmatch(args.tenant):
        raise CliError(f"tenant must be letters, digits, '.', '_' or '-' (at most 63), got {args.tenant!r}")
    store = open_store(settings_from_args(args))
    key = new_api_key()
    try:
        store.add_user(args.email, args.tenant, hash_api_key(key), time.time())
    except ConflictError as exc:
        raise CliError(str(exc)) from None
    finally:
        store.close()
    print(key)
    return OK


def run_list(args: argparse.Namespace) -> int:
    store = open_store(settings_from_args(args))
    try:
        users = store.list_users()
    finally:
        store.close()
    print(f"{'EMAIL':32} {'TENANT':20} ACTIVE KEYS")
    for user in users:
        print(f"{user.email:32} {user.tenant_name:20} {user.active_keys}")
    return OK


def run_revoke(args: argparse.Namespace) -> int:
    store = open_store(settings_from_args(args))
    try:
        revoked = store.revoke_keys(args.email, time.time())
    finally:
        store.close()
    if not revoked:
        raise CliError(f"no active API key for {args.email}")
    print(f"revoked {revoked} key(s) of {args.email}")
    return OK


def run_rotate(args: argparse.Namespace) -> int:
    store = open_store(settings_from_args(args))
    key = new_api_key()
    try:
        revoked = store.rotate_key(args.email, hash_api_key(key), time.time())
    finally:
        store.close()
    if revoked is None:
        raise CliError(f"no user {args.email}")
    print(key)
    return OK


def run_delete(args: argparse.Namespace) -> int:
    store = open_store(settings_from_args(args))
    try:
        deleted = store.delete_user(args.email)
    finally:
        store.close()
    if not deleted:
        raise CliError(f"no user {args.email}")
    print(f"deleted {args.email}")
    return OK
