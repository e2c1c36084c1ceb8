"""Options and helpers shared by several commands."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from connectord.cli.exits import CliError
from connectord.runtime.config import Settings, parse_id_list, settings_from_env


def add_connector_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("connectors")
    group.add_argument(
        "--allow",
        metavar="IDS",
        help="load only these connector ids, comma-separated (env CONNECTORD_CONNECTORS_ALLOW)",
    )
    group.add_argument(
        "--block",
        metavar="IDS",
        help="never load these connector ids, comma-separated (env CONNECTORD_CONNECTORS_BLOCK)",
    )


def add_config_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config",
        type=Path,
        metavar="FILE",
        dest="config_file",
        help="TOML configuration file (env CONNECTORD_CONFIG; default connectord.toml in the "
        "data directory, if there is one)",
    )


def add_store_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("store")
    group.add_argument(
        "--data-dir",
        type=Path,
        metavar="DIR",
        help="where the embedded store and keys live (env CONNECTORD_DATA_DIR; "
        "default $XDG_DATA_HOME/connectord or ~/.local/share/connectord)",
    )
    group.add_argument(
        "--store",
        metavar="URL",
        dest="store_url",
        help="store URL: sqlite:///path/to/file or postgresql://user@host/db (env "
        "CONNECTORD_STORE_URL; default: SQLite in the data directory)",
    )


def settings_from_args(args: argparse.Namespace) -> Settings:
    settings = settings_from_env()
    selection = settings.connectors
    if getattr(args, "allow", None) is not None:
        selection = type(selection)(allow=parse_id_list(args.allow), block=selection.block)
    if getattr(args, "block", None) is not None:
        selection = type(selection)(allow=selection.allow, block=parse_id_list(args.block))
    return settings.with_overrides(
        data_dir=getattr(args, "data_dir", None),
        store_url=getattr(args, "store_url", None),
        host=getattr(args, "host", None),
        port=getattr(args, "port", None),
        connectors=selection,
        config_file=getattr(args, "config_file", None),
        log_format=getattr(args, "log_format", None),
    )


def parse_json_object(text: str | None, option: str) -> dict[str, Any]:
    """The JSON object given to ``option``: inline, ``@FILE`` or ``-`` for standard input."""
    if text is None:
        return {}
    source = _read_json_source(text, option)
    try:
        value = json.loads(source)
    except json.JSONDecodeError as exc:
        raise CliError(f"{option}: invalid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    except RecursionError:
        raise CliError(f"{option}: the JSON is nested too deeply") from None
    if not isinstance(value, dict):
        raise CliError(f"{option}: expected a JSON object, got {type(value).__name__}")
    return value


def _read_json_source(text: str, option: str) -> str:
    if text == "-":
        return sys.stdin.read()
    if text.startswith("@"):
        path = Path(text[1:])
        try:
            return path.read_text(encoding="utf-8")
        except OSError as exc:
            raise CliError(f"{option}: cannot read {path}: {exc.strerror}") from None
        except UnicodeDecodeError:
            raise CliError(f"{option}: {path} is not UTF-8 text") from None
    return text


def seconds_arg(value: str) -> float:
    """argparse type: a number of seconds, more than 0 and at most a day."""
    try:
        number = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {value!r}") from None
    if not 0 < number <= 24 * 3600:
        raise argparse.ArgumentTypeError(f"must be more than 0 and at most 86400, got {value}")
    return number
