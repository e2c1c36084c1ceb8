"""``connectord migrate``: bring the store's schema up to this version.

``serve`` does the same when it starts (under a lock, so nodes starting together don't
race); this command lets an operator do it ahead of a rolling upgrade, and see where the
schema is.
"""

from __future__ import annotations

import argparse

from connectord.cli.common import add_store_options, settings_from_args
from connectord.cli.exits import OK
from connectord.runtime.store import open_store


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "migrate",
        help="apply the store's schema migrations",
        description="Apply every schema migration this version knows that the store lacks, each in "
        "its own transaction, and print the schema version. Refuses a store whose schema is newer.",
    )
    add_store_options(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    store = open_store(settings_from_args(args))
    try:
        applied, version = list(store.applied), store.schema_version
    finally:
        store.close()
    if applied:
        done = ", ".join(map(str, applied))
        print(f"applied migrations {done}; {store.url} is at schema version {version}")
    else:
        print(f"{store.url} is at schema version {version}: nothing to apply")
    return OK
