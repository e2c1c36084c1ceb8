"""The connector author's loop through the installed ``connectord`` command."""

from __future__ import annotations

import functools
import http.server
import json
import threading
from collections.abc import Callable
from pathlib import Path
from subprocess import CompletedProcess

import pytest

from .conftest import add_to_pythonpath

Run = Callable[..., CompletedProcess[str]]

ACME = """
import connectord

@connectord.hookimpl
def describe_connector():
    return connectord.ConnectorInfo(
        id="acme", title="ACME CRM", version="1.0.0",
        credentials_schema={
            "type": "object", "required": ["api_key"],
            "properties": {"api_key": {"type": "string", "secret": True}},
        },
        actions=[connectord.Operation(
            name="create_contact", title="Create contact",
            dynamic_metadata=True, model_methods=["lists"],
        )],
    )

@connectord.hookimpl
def verify_credentials(credentials):
    if credentials["api_key"] == "key-good-123":
        return connectord.verified()
    if credentials["api_key"] == "key-slow-123":
        import time
        time.sleep(60)
    if credentials["api_key"] == "key-crash-123":
        raise RuntimeError("upstream answered 500 for key " + credentials["api_key"])
    return connectord.not_verified("auth", "ACME refused the API key", "api_key")

@connectord.hookimpl
def select_model(method, query):
    lists = [connectord.Option(value=str(i), label=f"List {i}") for i in range(5)]
    return connectord.SelectResult(options=lists[: query.limit], next_cursor=None)

@connectord.hookimpl
def get_meta_model(action, cfg):
    listed = {"id": {"type": "string"}, "list": {"const": cfg.get("list")}}
    return {"in": {"type": "object", "properties": {"email": {"type": "string"}}},
            "out": {"type": "object", "properties": listed}}
"""

BROKEN = """
import this_module_does_not_exist
"""


@pytest.fixture(scope="module")
def packages(install_connector: Callable[[str, str], Path]) -> list[Path]:
    return [install_connector("acme", ACME), install_connector("broken", BROKEN)]


@pytest.fixture
def acme(packages: list[Path], cli_env: dict[str, str]) -> None:
    """The acme connector and a broken one are installed for the CLI under test."""
    add_to_pythonpath(cli_env, *packages)


def test_an_installed_package_is_listed_and_a_broken_one_reported(acme: None, run_cli: Run) -> None:
    result = run_cli("connectors", "list", "--json")
    assert result.returncode == 0, result.stderr
    listing = json.loads(result.stdout)
    ids = [c["id"] for c in listing["connectors"]]
    assert "acme" in ids
    assert {"sql", "webservice", "shop"} <= set(ids)
    [broken] = [e for e in listing["errors"] if e["id"] == "broken"]
    assert "No module named 'this_module_does_not_exist'" in broken["reason"]
    table = run_cli("connectors", "list")
    assert "ACME CRM" in table.stdout and "Not loaded:" in table.stdout


def test_call_verify_credentials(acme: None, run_cli: Run) -> None:
    good = run_cli("call", "acme", "verify_credentials", "--data", '{"api_key": "key-good-123"}')
    assert good.returncode == 0, good.stderr
    assert json.loads(good.stdout) == {
        "outcome": "Succeeded",
        "data": {"verified": True, "message": "Credentials verified."},
    }
    bad = run_cli("call", "acme", "verify_credentials", "--data", '{"api_key": "key-wrong-1"}')
    assert bad.returncode == 4
    assert json.loads(bad.stdout)["data"]["failure"] == {"kind": "auth", "field": "api_key"}


def test_a_crash_in_the_connector_is_reported_as_such_with_the_secret_redacted(
    acme: None, run_cli: Run
) -> None:
    result = run_cli("call", "acme", "verify_credentials", "--data", '{"api_key": "key-crash-123"}')
    assert result.returncode == 1
    assert json.loads(result.stdout) == {
        "outcome": "Rejected",
        "error_type": "RuntimeError",
        "message": "upstream answered 500 for key **********",
    }
    assert "key-crash-123" not in result.stderr + result.stdout
    assert "Traceback" not in result.stderr


def test_debug_shows_the_connectors_own_traceback_redacted(acme: None, run_cli: Run) -> None:
    result = run_cli(
        "call", "acme", "verify_credentials", "--data", '{"api_key": "key-crash-123"}', "--debug"
    )
    assert result.returncode == 1
    assert json.loads(result.stdout)["message"] == "upstream answered 500 for key **********"
    trace = result.stderr
    assert trace.startswith("Traceback (most recent call last):"), trace
    # The connector's own frame and line, and none of the runtime's frames before it.
    assert 'acme_connector.py", line ' in trace and "in verify_credentials" in trace
    assert 'raise RuntimeError("upstream answered 500 for key " + credentials["api_key"])' in trace
    assert "pluggy" not in trace and "sandbox" not in trace
    assert trace.rstrip().endswith("RuntimeError: upstream answered 500 for key **********")
    assert "key-crash-123" not in result.stderr + result.stdout


def test_a_call_past_its_deadline_times_out(acme: None, run_cli: Run) -> None:
    result = run_cli(
        "call",
        "acme",
        "verify_credentials",
        "--data",
        '{"api_key": "key-slow-123"}',
        "--timeout",
        "0.5",
        "--isolation",
        "pooled",
    )
    assert result.returncode == 5
    assert json.loads(result.stdout) == {"outcome": "TimedOut", "seconds": 0.5}


def test_call_select_model_and_get_meta_model(acme: None, run_cli: Run, tmp_path: object) -> None:
    creds = '{"api_key": "key-good-123"}'
    options = run_cli(
        "call",
        "acme",
        "select_model",
        "--action",
        "create_contact",
        "--method",
        "lists",
        "--credentials",
        creds,
        "--limit",
        "2",
    )
    assert options.returncode == 0, options.stderr
    assert json.loads(options.stdout)["data"] == {
        "options": [{"value": "0", "label": "List 0"}, {"value": "1", "label": "List 1"}],
        "next_cursor": None,
    }
    meta = run_cli(
        "call",
        "acme",
        "get_meta_model",
        "--action",
        "create_contact",
        "--credentials",
        "-",
        "--cfg",
        '{"list": "3"}',
        stdin=creds,
    )
    assert meta.returncode == 0, meta.stderr
    assert json.loads(meta.stdout)["data"]["out"]["properties"]["list"] == {"const": "3"}


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (("call", "nope", "verify_credentials"), 2, "unknown connector 'nope' (installed:"),
        (("call", "acme", "verify_credentials", "--data", "{bad"), 2, "--data: invalid JSON"),
        (
            ("call", "acme", "verify_credentials", "--data", "[1]"),
            2,
            "--data: expected a JSON object, got list",
        ),
        (
            ("call", "acme", "get_meta_model", "--cfg", "@/nonexistent.json"),
            2,
            "--cfg: cannot read /nonexistent.json",
        ),
        (
            ("call", "acme", "select_model", "--action", "create_contact"),
            2,
            "select_model needs a model method (--method)",
        ),
        (
            ("call", "acme", "select_model", "--action", "nope", "--method", "lists"),
            2,
            "connector 'acme' has no action or trigger 'nope' (it has: create_contact) (--action)",
        ),
        (("call", "acme", "bogus"), 2, "invalid choice: 'bogus'"),
        (("call", "acme", "select_model", "--limit", "0"), 2, "must be between 1 and 1000"),
        (("call", "acme", "select_model", "--limit", "1" + "0" * 22), 2, "must be between 1 and 1000"),
        (("connectors", "show", "broken"), 2, "connector 'broken' failed to load"),
        (("call", "broken", "verify_credentials"), 2, "connector 'broken' failed to load: import failed"),
        (("call", "acme", "verify_credentials", "--timeout", "0"), 2, "must be more than 0"),
        (("call", "acme", "verify_credentials", "--isolation", "shared"), 2, "invalid choice: 'shared'"),
        (("connectors",), 2, "required: COMMAND"),
    ],
)
def test_bad_input_is_one_clear_line(
    acme: None, run_cli: Run, args: tuple[str, ...], code: int, message: str
) -> None:
    result = run_cli(*args)
    assert result.returncode == code
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_block_list_hides_a_connector(acme: None, run_cli: Run) -> None:
    result = run_cli("connectors", "list", "--json", "--block", "acme,broken")
    listing = json.loads(result.stdout)
    assert "acme" not in [c["id"] for c in listing["connectors"]]
    # Only the connectors of this module: the environment may hold broken ones of its own.
    assert {"acme", "broken"}.isdisjoint(e["id"] for e in listing["errors"])


def test_every_command_has_help(run_cli: Run) -> None:
    for command in (
        [],
        ["serve"],
        ["connectors"],
        ["connectors", "list"],
        ["connectors", "show"],
        ["call"],
        ["check"],
        ["new"],
        ["new", "connector"],
        ["demo-shop"],
        ["migrate"],
    ):
        result = run_cli(*command, "--help")
        assert result.returncode == 0 and "usage: connectord" in result.stdout


def test_unreadable_json_files_are_one_clear_line(acme: None, run_cli: Run, tmp_path: Path) -> None:
    latin1 = tmp_path / "latin1.json"
    latin1.write_bytes(b'{"api_key": "caf\xe9"}')
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 100_000)
    for path, message in [(latin1, "is not UTF-8 text"), (deep, "nested too deeply")]:
        result = run_cli("call", "acme", "verify_credentials", "--data", f"@{path}")
        assert result.returncode == 2 and message in result.stderr
        assert "Traceback" not in result.stderr


def test_a_connector_that_kills_or_hangs_its_import_does_not_take_the_others_down(
    packages: list[Path],
    install_connector: Callable[[str, str], Path],
    cli_env: dict[str, str],
    run_cli: Run,
    tmp_path: Path,
) -> None:
    exiter = install_connector("exiter", "import os\nos._exit(3)\n")
    hanger = install_connector("hanger", "import time\ntime.sleep(600)\n")
    add_to_pythonpath(cli_env, *packages, exiter, hanger)
    config = tmp_path / "connectord.toml"
    config.write_text("[sandbox]\nimport_timeout = 1\n")
    good = run_cli(
        "call", "acme", "verify_credentials", "--data", '{"api_key": "key-good-123"}', "--config", str(config)
    )
    assert good.returncode == 0, good.stderr
    for name, reason in [
        ("exiter", "importing it ended the process (exit code 3)"),
        ("hanger", "importing it did not finish within 1 s"),
    ]:
        result = run_cli("call", name, "verify_credentials", "--config", str(config))
        assert result.returncode == 2
        assert f"connector '{name}' failed to load: {reason}" in result.stderr


def test_call_run_job_runs_a_job_type_in_the_sandbox(
    run_cli: Run, cli_env: dict[str, str], tmp_path: Path
) -> None:
    (tmp_path / "hello.txt").write_text("hello from the server")
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path))
    with http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler) as server:
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            url = f"http://127.0.0.1:{server.server_address[1]}/hello.txt"
            args = ("call", "webservice", "run_job", "--job-type", "callWebserviceEndpoint")
            refused = run_cli(*args, "--params", json.dumps({"url": url}))
            # The egress policy refuses loopback unless the configuration allows it.
            cli_env["CONNECTORD_EGRESS_ALLOW"] = f"127.0.0.1:{server.server_address[1]}"
            ran = run_cli(*args, "--params", json.dumps({"url": url}))
        finally:
            server.shutdown()
    assert refused.returncode == 1, refused.stderr
    assert json.loads(refused.stdout)["error_type"] == "EgressRefused"
    assert "127.0.0.1 is a loopback address; add it to [egress] allow" in refused.stdout
    assert ran.returncode == 0, ran.stderr
    data = json.loads(ran.stdout)["data"]
    assert data["data"]["status"] == 200 and data["outputs"]["body"] == "hello from the server"
    unknown = run_cli("call", "webservice", "run_job", "--job-type", "nope")
    assert unknown.returncode == 2 and unknown.stderr.strip().endswith("(--job-type)")
    bad = run_cli(
        "call", "webservice", "run_job", "--job-type", "callWebserviceEndpoint", "--params", '{"url": 5}'
    )
    assert bad.returncode == 2 and "(--params)" in bad.stderr
