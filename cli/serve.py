"""``connectord serve``: run the HTTP API."""

from __future__ import annotations

import argparse
import logging

from connectord.cli.common import (
    add_config_option,
    add_connector_options,
    add_store_options,
    settings_from_args,
)
from connectord.cli.exits import CONFIGURATION, OK, CliError
from connectord.runtime.config import LOG_FORMATS, parse_port
from connectord.runtime.configured import configured


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "serve", help="run the HTTP API", description="Run the HTTP API until SIGINT or SIGTERM."
    )
    parser.add_argument("--host", help="address to listen on (env CONNECTORD_HOST; default 127.0.0.1)")
    parser.add_argument(
        "--port",
        type=lambda v: parse_port(v, "--port"),
        help="port to listen on, 0 for any free one (env CONNECTORD_PORT; default 8080)",
    )
    parser.add_argument(
        "--log-format",
        choices=LOG_FORMATS,
        help="one event per line as text or JSON (env CONNECTORD_LOG_FORMAT, file log_format; default text)",
    )
    add_store_options(parser)
    add_config_option(parser)
    add_connector_options(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from connectord.api.app import create_app, serve
    from connectord.api.webhooks import HttpWebhooks
    from connectord.runtime.log_format import configure_logging
    from connectord.runtime.node import Node
    from connectord.sandbox.isolation import forbid_inspection
    from connectord.sandbox.zygote_client import ZygoteError

    # The server holds every tenant's credentials and the key to them: no process of the
    # same user (a connector's worker included) may read its memory or environment.
    forbid_inspection()
    settings, policy = configured(settings_from_args(args))
    configure_logging(settings.log_level, settings.log_format or "text")
    try:
        node = Node.open(settings, policy, HttpWebhooks.of(settings))
    except ZygoteError as exc:
        raise CliError(f"the sandbox could not start: {exc}", CONFIGURATION) from None

    def ready(url: str) -> None:
        for error in node.connectors.catalog.errors:
            logging.getLogger("connectord").warning(
                "connector '%s' not loaded (%s): %s", error.name, error.origin, error.reason
            )
        print(f"connectord listening on {url} (store: {node.store.url})", flush=True)

    try:
        serve(create_app(node), settings, ready)
    except ZygoteError as exc:
        raise CliError(f"the sandbox could not start: {exc}", CONFIGURATION) from None
    except OSError as exc:
        raise CliError(
            f"cannot listen on {settings.host}:{settings.port}: {exc.strerror}", CONFIGURATION
        ) from None
    logging.getLogger("connectord").info("connectord stopped")  # a log line: JSON in a JSON log
    return OK
