"""``connectord demo-shop``: a local shop that speaks a WooCommerce-style REST API."""

from __future__ import annotations

import argparse

from connectord.cli.exits import CONFIGURATION, OK, CliError
from connectord.runtime.config import parse_port


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "demo-shop",
        help="run a demo shop for the shop connector",
        description="Serve a WooCommerce-style REST API with a few hundred nested categories, "
        "for trying the shop connector.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="default 127.0.0.1")
    parser.add_argument("--port", type=lambda v: parse_port(v, "--port"), default=None, help="default 8780")
    parser.add_argument("--key", help="consumer key to accept (default: the demo key, printed at start)")
    parser.add_argument("--secret", help="consumer secret to accept (default: the demo secret)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    # Imported here so that the other commands never import the shop connector.
    from connectord.connectors.shop.demo import DEMO_KEY, DEMO_PORT, DEMO_SECRET, run_demo_shop

    port = DEMO_PORT if args.port is None else args.port
    try:
        run_demo_shop(args.host, port, args.key or DEMO_KEY, args.secret or DEMO_SECRET)
    except OSError as exc:
        raise CliError(f"cannot listen on {args.host}:{port}: {exc.strerror}", CONFIGURATION) from None
    return OK
