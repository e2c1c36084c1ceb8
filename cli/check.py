"""``connectord check``: the acceptance suite of one installed connector, run in the sandbox."""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from typing import Any

import msgspec

from connectord.cli import exits
from connectord.cli.common import add_config_option, parse_json_object, settings_from_args
from connectord.cli.exits import CliError
from connectord.runtime.configured import configured
from connectord.sandbox.zygote_client import ZygoteError
from connectord.testing.acceptance import MAX_PAGES, PAGE_SIZE, Acceptance, CheckResult

EPILOG = f"""\
Checks, each through the real sandbox with the configured policy (--config):
  the description and every schema in it are valid; each job type's params schema;
  verify_credentials verifies --credentials and refuses --bad-credentials (a crash is not
  "invalid"); every declared model method answers, and paging keeps its contract (pages of
  {PAGE_SIZE}, at most --max-pages: a cursor that never ends, repeats or skips options fails),
  and so does searching; get_meta_model answers valid JSON schemas (a configuration is made
  from the action's config_schema: a dropdown field takes its first option; --cfg gives one);
  no secret comes back in any answer or log; every call ends within its deadline.

Progress goes to standard error, the report to standard output (--json: as JSON).

examples:
  connectord check acme --credentials @good.json --bad-credentials @bad.json
  connectord check sql --credentials '{{"url": "sqlite:////srv/sqlite/shop.db"}}' --config check.toml
  connectord check webservice --cfg 'call={{"url": "https://example.com"}}' --json

exit codes: 0 every check passed or was skipped, 1 a check failed, 2 bad input (unknown
            connector, invalid JSON), 3 configuration (the sandbox cannot start)
"""


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "check",
        help="run the acceptance suite of a connector in the sandbox",
        description="Check that an installed connector keeps the contract every connector must "
        "keep, through the real sandbox, and report each check.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("connector", metavar="CONNECTOR", help="connector id")
    parser.add_argument("--credentials", metavar="JSON", help="credentials that work (JSON, @FILE or -)")
    parser.add_argument(
        "--bad-credentials", metavar="JSON", help="credentials the service refuses (JSON, @FILE or -)"
    )
    parser.add_argument(
        "--cfg",
        action="append",
        default=[],
        metavar="ACTION=JSON",
        help="the configuration get_meta_model checks ACTION with (repeatable)",
    )
    parser.add_argument(
        "--max-pages",
        type=_pages,
        default=MAX_PAGES,
        metavar="N",
        help=f"pages read before a cursor counts as never ending (default {MAX_PAGES})",
    )
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    add_config_option(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    credentials = parse_json_object(args.credentials, "--credentials") if args.credentials else None
    bad = parse_json_object(args.bad_credentials, "--bad-credentials") if args.bad_credentials else None
    cfgs = dict(_cfg_arg(text) for text in args.cfg)
    settings, policy = configured(settings_from_args(args))
    from connectord.testing.harness import SandboxRunner  # its supervisor needs a loop thread

    try:
        only = frozenset({args.connector})
        selection = dataclasses.replace(settings.connectors, allow=only, block=frozenset())
        runner = SandboxRunner(selection, policy, settings.egress_allow)
    except ZygoteError as exc:
        raise CliError(f"the sandbox could not start: {exc}", exits.CONFIGURATION) from None
    try:
        suite = Acceptance(
            runner,
            args.connector,
            credentials=credentials,
            bad_credentials=bad,
            cfgs=cfgs,
            max_pages=args.max_pages,
            progress=_progress,
        )
        results = suite.run()
    finally:
        runner.close()
    _report(args.connector, results, args.json)
    return exits.CHECK_FAILED if suite.failed else exits.OK


def _progress(result: CheckResult) -> None:
    mark = {"passed": "ok  ", "failed": "FAIL", "skipped": "skip"}[result.status]
    detail = f": {result.detail}" if result.detail else ""
    print(f"{mark} {result.name}{detail} ({result.seconds:.2f} s)", file=sys.stderr, flush=True)


def _report(connector: str, results: list[CheckResult], as_json: bool) -> None:
    counts = {status: sum(r.status == status for r in results) for status in ("passed", "failed", "skipped")}
    if as_json:
        body: dict[str, Any] = {"connector": connector, **counts, "checks": msgspec.to_builtins(results)}
        print(json.dumps(body, indent=2, ensure_ascii=False))
        return
    for result in results:
        if result.status == "failed":
            print(f"FAILED {result.name}: {result.detail}")
    print(f"{connector}: {counts['passed']} passed, {counts['failed']} failed, {counts['skipped']} skipped")


def _cfg_arg(text: str) -> tuple[str, dict[str, Any]]:
    action, equals, value = text.partition("=")
    if not equals or not action:
        raise CliError(f"--cfg: expected ACTION=JSON, got {text!r}")
    return action, parse_json_object(value, f"--cfg {action}")


def _pages(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {value!r}") from None
    if not 1 <= number <= 10_000:
        raise argparse.ArgumentTypeError(f"must be between 1 and 10000, got {number}")
    return number
