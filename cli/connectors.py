"""``connectord connectors list|show|install``: what is installed, what failed to load, and
installing one (cli/connector_install.py)."""

from __future__ import annotations

import argparse
import asyncio
import json
from collections.abc import Sequence

import msgspec

from connectord.cli import connector_install
from connectord.cli.common import add_config_option, add_connector_options, settings_from_args
from connectord.cli.exits import CONFIGURATION, OK, CliError
from connectord.plugins.manager import Catalog
from connectord.runtime.configured import configured
from connectord.sandbox.supervisor import Supervisor
from connectord.sandbox.user_ids import record_in
from connectord.sandbox.zygote_client import ZygoteError


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "connectors", help="list installed connectors", description="Inspect installed connectors."
    )
    sub = parser.add_subparsers(dest="connectors_command", metavar="COMMAND", required=True)
    listing = sub.add_parser(
        "list",
        help="list connectors and load failures",
        description="List the loaded connectors, then those that failed to load and why.",
    )
    listing.add_argument("--json", action="store_true", help="print JSON instead of a table")
    add_config_option(listing)
    add_connector_options(listing)
    listing.set_defaults(run=run_list)
    show = sub.add_parser("show", help="print one connector's description as JSON")
    show.add_argument("connector", metavar="CONNECTOR", help="connector id")
    add_config_option(show)
    add_connector_options(show)
    show.set_defaults(run=run_show)
    connector_install.register(sub)


def load_catalog(args: argparse.Namespace) -> Catalog:
    """The catalog as the sandbox's zygote loads it: a connector that crashes or hangs at
    import is reported here too, instead of taking this command down."""
    settings, policy = configured(settings_from_args(args))

    async def catalog() -> Catalog:
        record = record_in(settings.data_dir)
        supervisor = Supervisor(
            settings.connectors, policy, egress_allow=settings.egress_allow, user_id_record=record
        )
        try:
            await supervisor.start()
            return supervisor.catalog
        finally:
            await supervisor.close()

    try:
        return asyncio.run(catalog())
    except ZygoteError as exc:
        raise CliError(f"the sandbox could not start: {exc}", CONFIGURATION) from None


def run_list(args: argparse.Namespace) -> int:
    registry = load_catalog(args)
    connectors = sorted(registry.connectors.values(), key=lambda c: c.info.id)
    if args.json:
        print(
            json.dumps(
                {
                    "connectors": [{**msgspec.to_builtins(c.info), "origin": c.origin} for c in connectors],
                    "errors": [
                        {"id": e.name, "origin": e.origin, "reason": e.reason} for e in registry.errors
                    ],
                },
                indent=2,
            )
        )
        return OK
    rows = [(c.info.id, c.info.version, c.info.title, c.origin) for c in connectors]
    _print_table(("ID", "VERSION", "TITLE", "ORIGIN"), rows)
    if registry.errors:
        print("\nNot loaded:")
        for error in registry.errors:
            print(f"  {error.name} ({error.origin}): {error.reason}")
    return OK


def run_show(args: argparse.Namespace) -> int:
    registry = load_catalog(args)
    failed = [e for e in registry.errors if e.name == args.connector]
    if failed:
        raise CliError(f"connector '{args.connector}' failed to load: {failed[0].reason}")
    connector = registry.get(args.connector)
    print(json.dumps({**msgspec.to_builtins(connector.info), "origin": connector.origin}, indent=2))
    return OK


def _print_table(header: tuple[str, ...], rows: Sequence[tuple[str, ...]]) -> None:
    widths = [max(len(str(r[i])) for r in (header, *rows)) for i in range(len(header))]
    for row in (header, *rows):
        print("  ".join(str(cell).ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
