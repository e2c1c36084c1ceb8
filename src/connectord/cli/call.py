"""``connectord call``: run one hook of one connector and print its JSON result.

This is the connector author's development loop: the same checks and the same outcome
mapping as the API, without a server.
"""

from __future__ import annotations

import argparse
import json
import sys

from connectord.cli.common import add_connector_options, parse_json_object, registry_for, settings_from_args
from connectord.cli.exits import CALL_REJECTED, NOT_VERIFIED, OK, CliError
from connectord.plugins.manager import HookNotImplementedError
from connectord.plugins.types import SelectQuery
from connectord.runtime.calls import METHODS, Call, InvalidCallError, run_call
from connectord.runtime.outcomes import Outcome, Rejected, Succeeded

EPILOG = """\
JSON options take inline JSON, @FILE or - (standard input).

examples:
  connectord call sql verify_credentials --data '{"url": "sqlite:////tmp/shop.db"}'
  connectord call shop select_model --action get_products --method categories \\
      --credentials @shop.json --search phone
  connectord call sql get_meta_model --action insert --credentials @db.json \\
      --cfg '{"table": "public.orders"}'

exit codes: 0 success, 1 the connector rejected the call, 2 bad input,
            3 configuration, 4 credentials not verified
"""


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "call",
        help="run one hook of a connector and print its result",
        description="Run verify_credentials, select_model or get_meta_model of one connector "
        "and print the JSON result.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("connector", metavar="COMPONENT", help="connector id")
    parser.add_argument("hook", metavar="HOOK", choices=METHODS, help=" | ".join(METHODS))
    parser.add_argument(
        "--data",
        "--credentials",
        dest="credentials",
        metavar="JSON",
        help="credentials (account data) as a JSON object",
    )
    parser.add_argument("--action", metavar="NAME", help="action or trigger (select_model, get_meta_model)")
    parser.add_argument("--method", dest="model_method", metavar="NAME", help="model method (select_model)")
    parser.add_argument("--cfg", metavar="JSON", help="node configuration as a JSON object")
    parser.add_argument("--search", help="select_model: search term")
    parser.add_argument("--cursor", help="select_model: next_cursor of the previous page")
    parser.add_argument(
        "--limit", type=_positive_int, default=100, help="select_model: page size (default 100)"
    )
    add_connector_options(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    call = Call(
        connector=args.connector,
        method=args.hook,
        credentials=parse_json_object(args.credentials, "--data"),
        action=args.action,
        model_method=args.model_method,
        cfg=parse_json_object(args.cfg, "--cfg"),
        query=SelectQuery(search=args.search, cursor=args.cursor, limit=args.limit),
    )
    registry = registry_for(settings_from_args(args))
    try:
        outcome = run_call(registry, call)
    except InvalidCallError as exc:
        raise CliError(f"{exc} (--{_option_for(exc.field)})") from None
    except HookNotImplementedError as exc:
        raise CliError(str(exc)) from None
    return _report(outcome, call)


def _report(outcome: Outcome, call: Call) -> int:
    if isinstance(outcome, Succeeded):
        print(json.dumps(outcome.data, indent=2, ensure_ascii=False))
        if call.method == "verify_credentials" and not outcome.data.get("verified"):
            return NOT_VERIFIED
        return OK
    if isinstance(outcome, Rejected):
        where = f" (field: {outcome.field})" if outcome.field else ""
        print(
            f"connectord: {call.method} rejected: {outcome.error_type}: {outcome.message}{where}",
            file=sys.stderr,
        )
    else:
        print(f"connectord: {call.method} failed: {type(outcome).__name__}", file=sys.stderr)
    return CALL_REJECTED


def _option_for(field: str) -> str:
    return {"model_method": "method"}.get(field, field)


def _positive_int(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {value!r}") from None
    if number < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {number}")
    return number
