"""``connectord call``: run one hook of one connector in the sandbox and print its outcome.

This is the connector author's development loop: the same checks, sandbox, limits and
redaction as the server, without a server.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import Any

import msgspec

from connectord.cli import exits
from connectord.cli.common import (
    add_config_option,
    add_connector_options,
    parse_json_object,
    seconds_arg,
    settings_from_args,
)
from connectord.cli.exits import CliError
from connectord.plugins.manager import HookNotImplementedError
from connectord.plugins.types import MAX_PAGE, SelectQuery
from connectord.runtime.calls import InvalidCallError, run_in_sandbox
from connectord.runtime.configured import configured
from connectord.sandbox.calls import METHODS, Call
from connectord.sandbox.cgroups import Cgroups
from connectord.sandbox.outcomes import Outcome, Rejected, Succeeded
from connectord.sandbox.supervisor import InvocationResult, Supervisor
from connectord.sandbox.user_ids import record_in
from connectord.sandbox.zygote_client import ZygoteError

EPILOG = """\
JSON options take inline JSON, @FILE or - (standard input). The outcome is printed as
JSON on standard output; what the connector logged goes to standard error.

examples:
  connectord call sql verify_credentials --data '{"url": "sqlite:////tmp/shop.db"}'
  connectord call shop select_model --action get_products --method categories \\
      --credentials @shop.json --search phone
  connectord call sql get_meta_model --action insert --credentials @db.json \\
      --cfg '{"table": "public.orders"}'
  connectord call webservice run_job --job-type callWebserviceEndpoint \\
      --params '{"url": "https://example.com/health"}'

--debug prints the traceback of what the connector raised (secrets masked) on standard
error: for local development.

exit codes: 0 succeeded, 1 rejected by the connector, 2 bad input, 3 configuration,
            4 credentials not verified, 5 timed out, 6 memory exceeded, 7 crashed,
            8 cancelled
"""

EXIT_CODES = {
    "Rejected": exits.CALL_REJECTED,
    "TimedOut": exits.TIMED_OUT,
    "MemoryExceeded": exits.MEMORY_EXCEEDED,
    "Crashed": exits.CRASHED,
    "Cancelled": exits.CANCELLED,
}


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "call",
        help="run one hook of a connector in the sandbox and print its outcome",
        description="Run verify_credentials, select_model, get_meta_model or run_job of one "
        "connector in a sandboxed worker and print the outcome as JSON.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("connector", metavar="COMPONENT", help="connector id")
    hooks = (*METHODS, "run_job")
    parser.add_argument("hook", metavar="HOOK", choices=hooks, help=" | ".join(hooks))
    parser.add_argument(
        "--data",
        "--credentials",
        dest="credentials",
        metavar="JSON",
        help="credentials (account data) as a JSON object",
    )
    parser.add_argument(
        "--action",
        "--job-type",
        metavar="NAME",
        help="action or trigger (select_model, get_meta_model); job type code (run_job)",
    )
    parser.add_argument("--method", dest="model_method", metavar="NAME", help="model method (select_model)")
    parser.add_argument(
        "--cfg", "--params", metavar="JSON", help="node configuration, or run_job's params, as a JSON object"
    )
    parser.add_argument("--search", help="select_model: search term")
    parser.add_argument("--cursor", help="select_model: next_cursor of the previous page")
    parser.add_argument(
        "--limit", type=_positive_int, default=100, help="select_model: page size (default 100)"
    )
    parser.add_argument("--timeout", type=seconds_arg, metavar="SECONDS", help="deadline of the call")
    parser.add_argument(
        "--isolation", choices=("per-call", "pooled"), help="worker reuse (default: the connector's policy)"
    )
    parser.add_argument(
        "--debug",
        action="store_true",
        help="when the connector raises, print its traceback (secrets masked) on standard error",
    )
    add_config_option(parser)
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
    settings, policy = configured(settings_from_args(args))
    try:
        record = record_in(settings.data_dir)
        supervisor = Supervisor(
            settings.connectors, policy, Cgroups.detect(), settings.egress_allow, user_id_record=record
        )
        result = asyncio.run(_invoke(supervisor, call, args.timeout, args.isolation, args.debug))
    except ZygoteError as exc:
        raise CliError(f"the sandbox could not start: {exc}", exits.CONFIGURATION) from None
    except InvalidCallError as exc:
        raise CliError(f"{exc} (--{_option_for(exc.field)})") from None
    except HookNotImplementedError as exc:
        raise CliError(str(exc)) from None
    return _report(result, call)


async def _invoke(
    supervisor: Supervisor, call: Call, timeout: float | None, isolation: Any, debug: bool = False
) -> InvocationResult:
    try:
        await supervisor.start()  # raises ZygoteError when the connectors cannot be loaded
        return await run_in_sandbox(supervisor, call, timeout=timeout, isolation=isolation, debug=debug)
    finally:
        await supervisor.close()


def outcome_json(outcome: Outcome) -> dict[str, Any]:
    """The outcome as printed: its kind under ``outcome``, then its fields (a traceback,
    which goes to standard error, left out)."""
    body: dict[str, Any] = {"outcome": type(outcome).__name__}
    body.update(msgspec.to_builtins(outcome))
    body.pop("type", None)
    body.pop("traceback", None)
    return body


def _report(result: InvocationResult, call: Call) -> int:
    for line in result.logs:
        print(f"{line.level} {line.logger}: {line.message}", file=sys.stderr)
    if isinstance(result.outcome, Rejected) and result.outcome.traceback:
        print(result.outcome.traceback, end="", file=sys.stderr)
    print(json.dumps(outcome_json(result.outcome), indent=2, ensure_ascii=False))
    outcome = result.outcome
    if isinstance(outcome, Succeeded):
        if call.method == "verify_credentials" and not outcome.data.get("verified"):
            return exits.NOT_VERIFIED
        return exits.OK
    return EXIT_CODES[type(outcome).__name__]


def _option_for(field: str) -> str:
    if field.startswith("params"):
        return "params"
    return {"model_method": "method", "jobType": "job-type"}.get(field, field)


def _positive_int(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {value!r}") from None
    if not 1 <= number <= MAX_PAGE:
        raise argparse.ArgumentTypeError(f"must be between 1 and {MAX_PAGE}, got {number}")
    return number
