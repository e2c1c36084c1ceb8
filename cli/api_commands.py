"""``connectord accounts|components|job-types|job-definitions|jobs|executions``: the API's
operations on a running server, one sub-command per entry of ``client.operations.OPERATIONS``
(path parameters positional, query parameters as options, a body from ``--file``), printed as the
server answers them (JSON). A few commands add to what the table makes: prompts for an account's
keys, ``--wait`` with progress for a job, ``jobs wait``, ``jobs logs``, ``job-definitions apply``.
"""

from __future__ import annotations

import argparse
import functools
import getpass
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from connectord.cli import exits
from connectord.cli.exec_ import EXIT_CODES
from connectord.cli.exits import CliError
from connectord.cli.server import add_server_options, api_errors, open_client, print_json, print_logs
from connectord.client import Client, ExecutionRejected, NotFound, Ready, ResultNotReady, WaitTimeout
from connectord.client._protocol import WAIT_TIMEOUT
from connectord.client.operations import OPERATIONS, Operation

GROUPS = {
    "components": "installed connectors on the server",
    "accounts": "stored credentials (secrets masked in every answer)",
    "job-types": "units of work connectors offer",
    "job-definitions": "job types with params and a schedule",
    "jobs": "job runs",
    "executions": "design-time executions (schedule them with `connectord exec`)",
}
#: Entries whose command is elsewhere.
ELSEWHERE = {("executions", "schedule"): "connectord exec"}
#: (group, command) → the entry it runs; every entry of the table but those ELSEWHERE.
COMMANDS: dict[tuple[str, str], Operation] = {
    (op.group, op.command): op for op in OPERATIONS if (op.group, op.command) not in ELSEWHERE
}
_NUMBERS: dict[str, Callable[[str], Any]] = {"limit": int, "offset": int, "n": int, "wait": float}
#: A job over in one of these exits so (COMPLETED: 0).
JOB_EXITS = {"FAILED": exits.CALL_REJECTED, "CANCELLED": exits.CANCELLED, "MISSED": exits.CALL_REJECTED}
EPILOG = """\
The server and your key come from --url, --email, --api-key or CONNECTORD_URL, CONNECTORD_EMAIL,
CONNECTORD_API_KEY (preferred: other users can read command lines). Answers are printed as the
server gives them (JSON); progress and logs go to standard error. Files are JSON or YAML (- for
standard input). Exit codes: 0 done, 1 the job failed or the connector rejected the call, 2 bad
input or refused by the server (4xx), 3 server unreachable, credentials refused or server error,
4 credentials not verified, 8 cancelled, 9 --timeout passed first (the job goes on)."""


def register(commands: argparse._SubParsersAction) -> None:
    for group, help_text in GROUPS.items():
        parser = commands.add_parser(group, help=help_text, description=help_text, epilog=EPILOG)
        sub = parser.add_subparsers(dest=f"{group}_command", metavar="COMMAND", required=True)
        for (in_group, _), operation in COMMANDS.items():
            if in_group == group:
                _add_operation(sub, operation)
        for name, (help_line, build, run) in EXTRAS.get(group, {}).items():
            extra = sub.add_parser(name, help=help_line, description=help_line, epilog=EPILOG)
            build(extra)
            add_server_options(extra)
            extra.set_defaults(run=functools.partial(_with_client, run))


def _add_operation(sub: argparse._SubParsersAction, operation: Operation) -> None:
    parser = sub.add_parser(
        operation.command,
        help=operation.summary,
        description=f"{operation.summary} ({operation.method} {operation.path})",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    for name in operation.path_params:
        parser.add_argument(name, metavar=name.upper())
    for keyword in operation.keywords:
        option = "--" + keyword.replace("_", "-")
        if keyword == "logs":
            parser.add_argument(option, dest=keyword, action="store_true", default=None, help="with its logs")
        else:
            parser.add_argument(
                option, dest=keyword, type=_NUMBERS.get(keyword, str), metavar=keyword.upper()
            )
    special = SPECIAL.get((operation.group, operation.command))
    if special is not None:
        build, run = special
        build(parser)
    else:
        run = _run_operation
        if operation.body:
            _file_option(parser)
    add_server_options(parser)
    parser.set_defaults(run=functools.partial(_with_client, functools.partial(run, operation)))


def _with_client(run: Callable[[Client, argparse.Namespace], int], args: argparse.Namespace) -> int:
    client = open_client(args)
    with client, api_errors(client):
        return run(client, args)


# -- the table's commands ---------------------------------------------------------------


def _file_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--file", required=True, metavar="FILE", help="the body: a JSON or YAML file, - for stdin"
    )


def _call(client: Client, operation: Operation, args: argparse.Namespace, body: Any = None) -> Any:
    paths = [getattr(args, name) for name in operation.path_params]
    query = {keyword: getattr(args, keyword, None) for keyword in operation.keywords}
    if body is not None:
        query["body"] = body
    return getattr(client, operation.name)(*paths, **query)


def _run_operation(operation: Operation, client: Client, args: argparse.Namespace) -> int:
    body = read_document(args.file, "--file") if getattr(args, "file", None) else None
    if operation.group == "job-definitions" and body is not None:
        body = _definition_body(body)
    answer = _call(client, operation, args, body)
    if answer is not None:
        print_json(answer)
    return exits.OK


def read_document(source: str, option: str) -> Any:
    """A JSON or YAML document from a file (``-``: standard input). JSON is YAML, so one parser
    reads both; only plain data comes out (``yaml.safe_load``: no tags that build objects)."""
    import yaml

    try:
        text = sys.stdin.read() if source == "-" else Path(source).read_text(encoding="utf-8")
    except OSError as exc:
        raise CliError(f"{option}: cannot read {source}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise CliError(f"{option}: {source} is not UTF-8 text") from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1} column {mark.column + 1}" if mark else ""
        raise CliError(f"{option}: {source} is neither JSON nor YAML{where}") from None


def _definition_body(document: Any) -> dict[str, Any]:
    """A definition file holds the definition itself or ``{"jobDefinition": {...}}``."""
    if not isinstance(document, dict):
        raise CliError("--file: expected an object (a job definition)")
    return document if "jobDefinition" in document else {"jobDefinition": document}


# -- accounts ---------------------------------------------------------------------------


def _account_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--file", metavar="FILE", help='{"name", "component", "keys"} as JSON or YAML')
    parser.add_argument("--name", help="the account's name (else asked)")
    parser.add_argument("--component", metavar="ID", help="its connector (else asked)")


def _run_add_account(operation: Operation, client: Client, args: argparse.Namespace) -> int:
    if args.file:
        body = read_document(args.file, "--file")
        if not isinstance(body, dict):
            raise CliError('--file: expected {"name", "component", "keys"}')
    else:
        body = _prompted_account(client, args)
    print_json(client.create_account(body=body))
    return exits.OK


def _prompted_account(client: Client, args: argparse.Namespace) -> dict[str, Any]:
    """Asks for each field of the component's credentials schema; secret fields without echo."""
    if not sys.stdin.isatty() and not (args.name and args.component):
        raise CliError("no terminal to ask on: pass --file, or --name and --component")
    component = args.component or input("component: ").strip()
    name = args.name or input("name: ").strip()
    schema = client.get_component(component).get("credentials_schema") or {}
    required = set(schema.get("required", []))
    keys: dict[str, Any] = {}
    for field, spec in (schema.get("properties") or {}).items():
        label = f"{field}{'' if field in required else ' (optional)'}: "
        value = getpass.getpass(label) if spec.get("secret") else input(label)
        if value:
            keys[field] = _typed(value, spec)
    return {"name": name, "component": component, "keys": keys}


def _typed(value: str, spec: dict[str, Any]) -> Any:
    kind = spec.get("type")
    try:
        if kind == "integer":
            return int(value)
        if kind == "number":
            return float(value)
    except ValueError:
        return value  # the server names the field
    if kind == "boolean":
        return value.strip().lower() in ("1", "true", "yes", "y")
    return value


def _run_test_account(operation: Operation, client: Client, args: argparse.Namespace) -> int:
    answer = client.verify_account(args.account_id)
    print_json(answer)
    result = answer.get("data", answer) if isinstance(answer, dict) else None
    verified = isinstance(result, dict) and result.get("verified") is True
    return exits.OK if verified else exits.NOT_VERIFIED


# -- jobs -------------------------------------------------------------------------------


def _wait_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--wait", action="store_true", help="wait until the job is over, with progress")
    parser.add_argument(
        "--timeout", type=float, metavar="SECONDS", help=f"with --wait (default {WAIT_TIMEOUT:g})"
    )


def _execute_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--params", metavar="FILE", help="the job's params: a JSON or YAML file, - for stdin")
    parser.add_argument("--account", metavar="ID", help="a stored account of the job type's connector")
    _wait_options(parser)


def _run_execute_type(operation: Operation, client: Client, args: argparse.Namespace) -> int:
    body: dict[str, Any] = {}
    if args.params:
        body["params"] = read_document(args.params, "--params")
    if args.account:
        body["accountId"] = args.account
    answer = client.execute_job_type(args.code, body=body)
    return _maybe_wait(client, args, answer)


def _run_job_started(operation: Operation, client: Client, args: argparse.Namespace) -> int:
    return _maybe_wait(client, args, _call(client, operation, args))


def _maybe_wait(client: Client, args: argparse.Namespace, answer: Any) -> int:
    job_id = answer.get("jobId") if isinstance(answer, dict) else None
    if not args.wait or job_id is None:
        if args.wait:
            print("connectord: no job was started to wait for", file=sys.stderr)
        print_json(answer)
        return exits.OK
    return _wait_job(client, job_id, args.timeout)


def _wait_job(client: Client, job_id: str, timeout: float | None) -> int:
    progress = Progress(job_id)
    try:
        job = client.wait_job(job_id, timeout=timeout or WAIT_TIMEOUT, on_progress=progress)
    except WaitTimeout as exc:
        raise CliError(f"{exc}; it goes on: connectord jobs wait {job_id}", exits.WAIT_TIMED_OUT) from None
    except KeyboardInterrupt:
        raise CliError(f"interrupted; it goes on: connectord jobs wait {job_id}", 130) from None
    print_json(job)
    return JOB_EXITS.get(job.get("status", ""), exits.OK)


class Progress:
    """Prints a job's status on standard error each time it changes (a line each: it reads the
    same in a terminal and a log)."""

    def __init__(self, job_id: str) -> None:
        self.job_id = job_id
        self.last: tuple[Any, ...] | None = None

    def __call__(self, job: dict[str, Any]) -> None:
        state = (job.get("status"), job.get("attempt"))
        if state == self.last:
            return
        self.last = state
        status, attempt = state
        tries = f", attempt {attempt} of {int(job.get('maxRetries') or 0) + 1}" if attempt else ""
        when = f", runs at {job['runAt']}" if job.get("runAt") else ""
        print(f"job {self.job_id}: {status}{tries}{when}", file=sys.stderr, flush=True)


def _job_id_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("job_id", metavar="JOB_ID")


def _run_jobs_wait(client: Client, args: argparse.Namespace) -> int:
    return _wait_job(client, args.job_id, args.timeout)


def _run_jobs_logs(client: Client, args: argparse.Namespace) -> int:
    job = client.get_job(args.job_id)
    for line in job.get("logs") or ():
        print(f"{line['time']} {line['level']} {line['logger']}: {line['message']}")
    return exits.OK


def _run_apply(client: Client, args: argparse.Namespace) -> int:
    """Create the definition, or update it when its code exists (``jobDefinitionCode``)."""
    body = _definition_body(read_document(args.file, "--file"))
    code = body["jobDefinition"].get("jobDefinitionCode") if isinstance(body["jobDefinition"], dict) else None
    if not isinstance(code, str) or not code:
        raise CliError("--file: the definition has no jobDefinitionCode")
    try:
        client.get_job_definition(code)
    except NotFound:
        print_json(client.create_job_definition(body=body))
        return exits.OK
    print_json(client.update_job_definition(code, body=body))
    return exits.OK


# -- executions -------------------------------------------------------------------------


def _result_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--wait", action="store_true", help="wait for the result if it is not ready yet")
    parser.add_argument(
        "--timeout", type=float, metavar="SECONDS", help=f"with --wait (default {WAIT_TIMEOUT:g})"
    )


def _run_result(operation: Operation, client: Client, args: argparse.Namespace) -> int:
    """An execution's result, as ``connectord exec --wait`` prints it: for one whose wait timed out."""
    try:
        if args.wait:
            result = client.wait(args.execution_id, timeout=args.timeout or WAIT_TIMEOUT, logs=True)
        else:
            result = client.result(args.execution_id, logs=True)
    except ExecutionRejected as rejected:
        print_logs(rejected.logs if args.logs else None)
        print_json({"message": "Rejected.", "reason": rejected.reason})
        kind = rejected.reason.get("kind", "") if isinstance(rejected.reason, dict) else ""
        return EXIT_CODES.get(kind, exits.CALL_REJECTED)
    except (ResultNotReady, WaitTimeout):
        raise CliError(
            f"the result of {args.execution_id} is not ready yet (--wait waits for it)", exits.WAIT_TIMED_OUT
        ) from None
    print_logs(result.logs if args.logs else None)
    print_json({"data": result.data})
    return exits.OK


def _run_poll(operation: Operation, client: Client, args: argparse.Namespace) -> int:
    state = client.poll(args.execution_id, args.wait or 0)
    if isinstance(state, Ready):
        print_json({"id": args.execution_id, "ready": True, "result_url": state.result_url})
        return exits.OK
    print_json({"id": args.execution_id, "ready": False})
    return exits.WAIT_TIMED_OUT


def _run_cancel(operation: Operation, client: Client, args: argparse.Namespace) -> int:
    client.cancel(args.execution_id)
    return exits.OK


def _nothing(parser: argparse.ArgumentParser) -> None:
    pass


SPECIAL: dict[tuple[str, str], tuple[Callable[[argparse.ArgumentParser], None], Callable[..., int]]] = {
    ("accounts", "add"): (_account_options, _run_add_account),
    ("accounts", "test"): (_nothing, _run_test_account),
    ("job-types", "execute"): (_execute_options, _run_execute_type),
    ("job-definitions", "execute"): (_wait_options, _run_job_started),
    ("job-definitions", "start"): (_wait_options, _run_job_started),
    ("executions", "result"): (_result_options, _run_result),
    ("executions", "poll"): (_nothing, _run_poll),
    ("executions", "cancel"): (_nothing, _run_cancel),
}


def _jobs_wait_options(parser: argparse.ArgumentParser) -> None:
    _job_id_argument(parser)
    parser.add_argument("--timeout", type=float, metavar="SECONDS", help=f"default {WAIT_TIMEOUT:g}")


def _apply_options(parser: argparse.ArgumentParser) -> None:
    _file_option(parser)


EXTRAS: dict[str, dict[str, tuple[str, Callable[[argparse.ArgumentParser], None], Callable[..., int]]]] = {
    "jobs": {
        "wait": ("wait until a job is over, its progress on stderr", _jobs_wait_options, _run_jobs_wait),
        "logs": ("print a job's log lines", _job_id_argument, _run_jobs_logs),
    },
    "job-definitions": {
        "apply": (
            "create a definition from a file, or update it if its code exists",
            _apply_options,
            _run_apply,
        ),
    },
}
