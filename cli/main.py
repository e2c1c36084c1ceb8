"""``connectord`` entry point: parses the command line and dispatches to a command module."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from connectord import __version__
from connectord.cli import (
    api_commands,
    call,
    check,
    connectors,
    cron,
    demo,
    exec_,
    migrate,
    new,
    serve,
    users,
)
from connectord.cli.exits import CONFIGURATION, CliError
from connectord.plugins.manager import UnknownConnectorError
from connectord.runtime.config import ConfigurationError
from connectord.runtime.store.records import StoreUnavailableError

COMMANDS = (serve, migrate, connectors, call, check, new, exec_, api_commands, users, cron, demo)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="connectord",
        description="Run connector design-time calls (verify_credentials, select_model, "
        "get_meta_model) in sandboxed workers behind a REST API.",
    )
    parser.add_argument("--version", action="version", version=f"connectord {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for command in COMMANDS:
        command.register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.run(args))
    except CliError as exc:
        print(f"connectord: error: {exc}", file=sys.stderr)
        return exc.code
    except UnknownConnectorError as exc:
        print(f"connectord: error: {exc}", file=sys.stderr)
        return CliError(str(exc)).code
    except ConfigurationError as exc:
        print(f"connectord: error: {exc}", file=sys.stderr)
        return CONFIGURATION
    except StoreUnavailableError as exc:  # the database went away while the command ran
        print(f"connectord: error: the store is unavailable: {exc}", file=sys.stderr)
        return CONFIGURATION
