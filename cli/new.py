"""``connectord new connector NAME``: a connector package to start from."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from connectord import __version__
from connectord.cli import exits, skeleton
from connectord.cli.exits import CliError
from connectord.plugins.types import CONNECTOR_ID_PATTERN

EPILOG = """\
The package holds pyproject.toml (the connectord.connectors entry point), the hooks in
src/NAME_connector/, a README and tests that use connectord's pytest plugin. As generated,
its tests and `connectord check NAME` pass:

  connectord new connector acme && cd acme
  pip install -e '.[test]' && pytest
  connectord check acme --credentials '{"api_key": "ak_example_key_1"}' \\
      --bad-credentials '{"api_key": "wrong_key_1"}'

exit codes: 0 made, 2 bad name or the directory exists and is not empty
"""


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "new", help="make a new connector package", description="Make the skeleton of a new package."
    )
    kinds = parser.add_subparsers(dest="kind", metavar="KIND", required=True)
    connector = kinds.add_parser(
        "connector",
        help="a connector package whose tests and `connectord check` pass as generated",
        description="Make a connector package: pyproject.toml with the entry point, the hooks, "
        "a README and tests using connectord's pytest plugin.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    connector.add_argument(
        "name", metavar="NAME", help="the connector's id: lowercase letters, digits, - and _"
    )
    connector.add_argument(
        "--dir", type=Path, metavar="DIR", help="where to make it (default: ./NAME); absent or empty"
    )
    connector.add_argument("--title", help="the connector's title (default: NAME, capitalised)")
    connector.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    if not re.fullmatch(CONNECTOR_ID_PATTERN, args.name):
        raise CliError(
            f"connector name {args.name!r} must match {CONNECTOR_ID_PATTERN} "
            "(lowercase letters, digits, - and _)"
        )
    target: Path = args.dir or Path(args.name)
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise CliError(f"{target} already exists and is not an empty directory (--dir)")
    title = args.title or args.name.replace("-", " ").replace("_", " ").title()
    written = skeleton.files(args.name, title, __version__)
    try:
        for relative, text in written.items():
            path = target / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise CliError(f"cannot write {target}: {exc.strerror}", exits.CONFIGURATION) from None
    print(f"made connector '{args.name}' in {target}:")
    for relative in written:
        print(f"  {relative}")
    return exits.OK
