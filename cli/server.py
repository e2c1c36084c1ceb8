"""What every command that talks to a running server shares: its options (``--url``, ``--email``,
``--api-key``), the client made from them, and one way to turn the client's errors into a line
for the user and an exit code."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from collections.abc import Iterator, Mapping
from typing import Any

from connectord.cli import exits
from connectord.cli.exits import CliError
from connectord.client import ApiError, AuthenticationError, BadRequest, Client, ConnectionFailed

DEFAULT_URL = "http://127.0.0.1:8080"


def add_server_options(parser: argparse.ArgumentParser) -> None:
    server = parser.add_argument_group("server")
    server.add_argument("--url", help=f"the server's base URL (env CONNECTORD_URL; default {DEFAULT_URL})")
    server.add_argument(
        "--email", help="your e-mail, sent with the key as Basic auth (env CONNECTORD_EMAIL; else Bearer)"
    )
    server.add_argument("--api-key", metavar="KEY", help="your API key (env CONNECTORD_API_KEY, preferred)")


def env(name: str) -> str | None:
    return os.environ.get(name, "").strip() or None


def open_client(args: argparse.Namespace) -> Client:
    """A client for the server the options (else the environment) name."""
    url = args.url or env("CONNECTORD_URL") or DEFAULT_URL
    api_key = args.api_key or env("CONNECTORD_API_KEY")
    if not api_key:
        raise CliError("no API key: set CONNECTORD_API_KEY (or pass --api-key)")
    try:
        return Client(url, email=args.email or env("CONNECTORD_EMAIL"), api_key=api_key)
    except ValueError as exc:  # the messages name the rule, never the key
        raise CliError(as_options(str(exc))) from None


def as_options(message: str) -> str:
    for name, option in (("base_url", "--url"), ("api_key", "--api-key"), ("email", "--email")):
        message = message.replace(name, option)
    return message


@contextlib.contextmanager
def api_errors(client: Client, options: Mapping[str, str] | None = None) -> Iterator[None]:
    """The client's errors as one line each: a refused request (4xx) is bad input (exit 2),
    naming the option the server's ``field`` came from (``options``); an unreachable server,
    refused credentials or a server error are exit 3."""
    try:
        yield
    except BadRequest as exc:
        option = (options or {}).get(exc.field or "")
        raise CliError(f"{exc.message} ({option})" if option else exc.message) from None
    except AuthenticationError as exc:
        raise CliError(
            f"{client.base_url} refused the credentials: {exc.message}", exits.CONFIGURATION
        ) from None
    except ConnectionFailed as exc:
        raise CliError(str(exc), exits.CONFIGURATION) from None
    except ApiError as exc:
        code = exits.USAGE if 400 <= exc.status < 500 else exits.CONFIGURATION
        raise CliError(f"{exc.message} (HTTP {exc.status})", code) from None


def print_json(value: Any) -> None:
    print(json.dumps(value, indent=2, ensure_ascii=False))


def print_logs(lines: Any) -> None:
    """Log lines (objects or dicts with time, level, logger and message) on standard error."""
    for line in lines or ():
        get = line.get if isinstance(line, dict) else lambda name, line=line: getattr(line, name)
        print(f"{get('level')} {get('logger')}: {get('message')}", file=sys.stderr)
