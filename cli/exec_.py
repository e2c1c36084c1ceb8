"""``connectord exec``: schedule an execution on a running server and, with ``--wait``, print
its result — seed 001's schedule → poll → result through :class:`connectord.client.Client`.

Where ``connectord call`` runs a hook here, in this process's sandbox, this asks a server: the
same exit codes, but the credentials to a stored account stay on the server.
"""

from __future__ import annotations

import argparse
from typing import Any

from connectord.cli import exits
from connectord.cli.common import parse_json_object, seconds_arg
from connectord.cli.exits import CliError
from connectord.cli.server import add_server_options, open_client, print_json, print_logs
from connectord.client import (
    ApiError,
    AuthenticationError,
    BadRequest,
    ConnectionFailed,
    Execution,
    ExecutionRejected,
    Result,
    WaitTimeout,
)
from connectord.client._protocol import WAIT_TIMEOUT
from connectord.sandbox.calls import METHODS

EPILOG = f"""\
JSON options take inline JSON, @FILE or - (standard input). Without --wait the execution's
id and poll URL are printed as JSON; with --wait its result, as the server answers it
({{"data": ...}} or {{"message": "Rejected.", "reason": ...}}). Pass the API key in
CONNECTORD_API_KEY rather than --api-key: other users can read command lines.

examples:
  connectord exec verify_credentials --component sql --data '{{"url": "sqlite:////tmp/shop.db"}}' --wait
  connectord exec select_model --component shop --action get_products --method categories \\
      --account ACCOUNT_ID --search phone --wait
  connectord exec get_meta_model --component sql --action insert --account ACCOUNT_ID \\
      --cfg '{{"table": "public.orders"}}' --wait --logs

exit codes: 0 succeeded (or scheduled), 1 rejected by the connector, 2 bad input,
            3 server unreachable, credentials refused or server error,
            4 credentials not verified, 5 timed out, 6 memory exceeded, 7 crashed,
            8 cancelled, 9 --timeout passed before the result was ready (default {WAIT_TIMEOUT:g} s)
"""

#: The server's rejection kinds, as ``connectord call`` exits for the same outcomes.
EXIT_CODES = {
    "rejected": exits.CALL_REJECTED,
    "timed_out": exits.TIMED_OUT,
    "memory_exceeded": exits.MEMORY_EXCEEDED,
    "crashed": exits.CRASHED,
    "cancelled": exits.CANCELLED,
}
#: The server names seed 001's parameters; the user typed these options.
OPTIONS = {
    "component": "--component",
    "account_data": "--data",
    "action_or_trigger": "--action",
    "account_id": "--account",
    "model_method": "--method",
    "cfg": "--cfg",
    "query": "--search",
}


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "exec",
        help="schedule an execution on a running server (and wait for its result)",
        description="Schedule verify_credentials, select_model or get_meta_model of a component "
        "on a running connectord server; with --wait, wait for the result and print it.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("execution_type", metavar="EXECUTION_TYPE", choices=METHODS, help=" | ".join(METHODS))
    parser.add_argument("--component", required=True, metavar="ID", help="connector id")
    parser.add_argument("--data", metavar="JSON", help="account data (verify_credentials) as a JSON object")
    parser.add_argument("--action", metavar="NAME", help="action or trigger (select_model, get_meta_model)")
    parser.add_argument("--account", metavar="ID", help="stored account id (select_model, get_meta_model)")
    parser.add_argument("--method", dest="model_method", metavar="NAME", help="model method (select_model)")
    parser.add_argument("--cfg", metavar="JSON", help="node configuration as a JSON object")
    parser.add_argument("--search", help="select_model: search term")
    add_server_options(parser)
    waiting = parser.add_argument_group("waiting")
    waiting.add_argument("--wait", action="store_true", help="wait for the result and print it")
    waiting.add_argument(
        "--timeout",
        type=seconds_arg,
        metavar="SECONDS",
        help=f"with --wait: give up after this long (default {WAIT_TIMEOUT:g}; the execution goes on)",
    )
    waiting.add_argument(
        "--logs", action="store_true", help="with --wait: print what the connector logged on standard error"
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    if not args.wait and (args.timeout is not None or args.logs):
        raise CliError("--timeout and --logs need --wait")
    account_data = parse_json_object(args.data, "--data") if args.data is not None else None
    cfg = parse_json_object(args.cfg, "--cfg") if args.cfg is not None else None
    client = open_client(args)
    execution: Execution | None = None
    try:
        with client:
            execution = client.schedule(
                args.execution_type,
                args.component,
                account_data=account_data,
                action_or_trigger=args.action,
                account_id=args.account,
                model_method=args.model_method,
                cfg=cfg,
                query={"search": args.search} if args.search is not None else None,
            )
            if not args.wait:
                print_json({"id": execution.id, "poll_url": execution.poll_url})
                return exits.OK
            result: Result = client.wait(execution.id, timeout=args.timeout or WAIT_TIMEOUT, logs=True)
    except ExecutionRejected as rejected:
        print_logs(rejected.logs if args.logs else None)
        print_json({"message": "Rejected.", "reason": rejected.reason})
        kind = rejected.reason.get("kind", "") if isinstance(rejected.reason, dict) else ""
        return EXIT_CODES.get(kind, exits.CALL_REJECTED)
    except WaitTimeout as exc:
        later = f"connectord executions result {execution.id} --wait" if execution else "?"
        message = f"{exc}; it goes on: {later} fetches its result, or poll {_poll_url(execution)}"
        raise CliError(message, exits.WAIT_TIMED_OUT) from None
    except KeyboardInterrupt:
        where = f"; it goes on: poll {_poll_url(execution)}" if execution else ""
        raise CliError(f"interrupted{where}", 130) from None
    except BadRequest as exc:
        option = OPTIONS.get(exc.field or "")
        raise CliError(f"{exc.message} ({option})" if option else exc.message) from None
    except AuthenticationError as exc:
        raise CliError(
            f"{client.base_url} refused the credentials: {exc.message}", exits.CONFIGURATION
        ) from None
    except ConnectionFailed as exc:
        raise CliError(str(exc), exits.CONFIGURATION) from None
    except ApiError as exc:
        raise CliError(
            f"{client.base_url} answered {exc.status}: {exc.message}", exits.CONFIGURATION
        ) from None
    print_logs(result.logs if args.logs else None)
    print_json({"data": result.data})
    if args.execution_type == "verify_credentials" and not _verified(result.data):
        return exits.NOT_VERIFIED
    return exits.OK


def _verified(data: Any) -> bool:
    return isinstance(data, dict) and data.get("verified") is True


def _poll_url(execution: Execution | None) -> str:
    return execution.poll_url if execution else "?"
