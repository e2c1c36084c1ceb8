"""``connectord exec`` against a real ``connectord serve`` process, with a user and key made by
``connectord users add``, as an operator and a REST user would do it."""

from __future__ import annotations

import json
import re
import socket
import sqlite3
import subprocess
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from .server import running_server, server_env

Run = Callable[..., subprocess.CompletedProcess[str]]
EMAIL = "alice@acme.test"
SECRET = "tok-e2e-secret-9"

SLOWPOKE = """
import logging
import time

import connectord

log = logging.getLogger("slowpoke")

@connectord.hookimpl
def describe_connector():
    return connectord.ConnectorInfo(
        id="slowpoke", title="Slowpoke", version="1.0.0",
        credentials_schema={
            "type": "object",
            "properties": {"mode": {"type": "string"}, "token": {"type": "string", "secret": True}},
        },
    )

@connectord.hookimpl
def verify_credentials(credentials):
    log.info("checking token %s", credentials.get("token"))
    if credentials.get("mode") == "sleep":
        time.sleep(60)
    if credentials.get("mode") == "raise":
        raise RuntimeError("refused token " + credentials.get("token", ""))
    return connectord.verified("token accepted")
"""


@pytest.fixture(scope="module")
def served(
    install_connector: Callable[[str, str], Path], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, str]]:
    """One server for this module (bundled connectors and slowpoke, its own data directory)
    and alice's API key from ``users add``: yields (URL, key)."""
    data = tmp_path_factory.mktemp("exec-server") / "data"
    with running_server(server_env(data, install_connector("slowpoke", SLOWPOKE)), EMAIL) as server:
        assert server.api_key and "\n" not in server.api_key
        yield server.url, server.api_key


@pytest.fixture
def server(served: tuple[str, str]) -> str:
    return served[0]


@pytest.fixture
def key(served: tuple[str, str], cli_env: dict[str, str]) -> str:
    """alice's API key; the CLI under test finds the server, her e-mail and her key in the
    environment."""
    url, api_key = served
    cli_env.update(CONNECTORD_URL=url, CONNECTORD_EMAIL=EMAIL, CONNECTORD_API_KEY=api_key)
    return api_key


def only_error(result: subprocess.CompletedProcess[str]) -> str:
    """The one line a failed command printed, checked to be exactly one and no traceback."""
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("connectord: error: ")
    return lines[0].removeprefix("connectord: error: ")


def fetch(url: str, api_key: str, method: str = "GET") -> tuple[int, Any]:
    request = urllib.request.Request(url, method=method, headers={"Authorization": f"Bearer {api_key}"})
    with urllib.request.urlopen(request, timeout=30) as response:  # follows the 303
        return response.status, json.load(response)


def test_verify_credentials_that_do_not_work_is_exit_4(key: str, run_cli: Run) -> None:
    result = run_cli(
        "exec", "verify_credentials", "--component", "sql",
        "--data", '{"url": "sqlite:////nonexistent.db"}', "--wait",
    )  # fmt: skip
    assert result.returncode == 4, result.stderr
    assert json.loads(result.stdout) == {
        "data": {
            "verified": False,
            "message": "SQLite database file /nonexistent.db does not exist",
            "failure": {"kind": "config", "field": "url"},
        }
    }
    assert result.stderr == ""
    assert key not in result.stdout


def test_without_wait_it_prints_the_id_and_the_poll_url(
    key: str, server: str, run_cli: Run, cli_env: dict[str, str], tmp_path: Path
) -> None:
    database = tmp_path / "shop.db"
    sqlite3.connect(database).close()
    del cli_env["CONNECTORD_API_KEY"], cli_env["CONNECTORD_EMAIL"], cli_env["CONNECTORD_URL"]
    result = run_cli(
        "exec", "verify_credentials", "--component", "sql", "--data", json.dumps({"url": f"sqlite:///{database}"}),
        "--url", server, "--api-key", key,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    scheduled = json.loads(result.stdout)
    assert set(scheduled) == {"id", "poll_url"}
    assert scheduled["poll_url"] == f"{server}/v1/exec/poll/{scheduled['id']}"
    # It was really scheduled (with the key as a Bearer token): the poll URL leads to its result.
    status, body = fetch(scheduled["poll_url"] + "?wait=20", key)
    assert status == 200 and body["data"]["verified"] is True


def test_a_verified_result_with_the_connectors_logs(key: str, run_cli: Run) -> None:
    data = json.dumps({"token": SECRET})
    result = run_cli(
        "exec", "verify_credentials", "--component", "slowpoke", "--data", data, "--wait", "--logs"
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"data": {"verified": True, "message": "token accepted"}}
    assert result.stderr == "INFO slowpoke: checking token **********\n"
    assert SECRET not in result.stdout + result.stderr


def test_a_connector_that_fails_is_rejected_exit_1(key: str, run_cli: Run) -> None:
    data = json.dumps({"token": SECRET, "mode": "raise"})
    result = run_cli("exec", "verify_credentials", "--component", "slowpoke", "--data", data, "--wait")
    assert result.returncode == 1, result.stderr
    assert json.loads(result.stdout) == {
        "message": "Rejected.",
        "reason": {"kind": "rejected", "error_type": "RuntimeError", "message": "refused token **********"},
    }
    assert result.stderr == ""  # no --logs
    assert SECRET not in result.stdout


def test_wait_gives_up_after_timeout_exit_9_and_the_execution_goes_on(
    key: str, server: str, run_cli: Run
) -> None:
    data = json.dumps({"mode": "sleep"})
    result = run_cli(
        "exec", "verify_credentials", "--component", "slowpoke", "--data", data, "--wait", "--timeout", "1"
    )
    assert result.returncode == 9
    message = only_error(result)
    assert message.startswith("execution ") and " was not finished after 1 s; it goes on: " in message
    later, poll_url = message.split("it goes on: ")[1].split(" fetches its result, or poll ")
    assert later == f"connectord executions result {message.split()[1]} --wait"
    assert poll_url.startswith(f"{server}/v1/exec/poll/")
    execution_id = poll_url.rsplit("/", 1)[1]
    assert fetch(f"{server}/v1/exec/{execution_id}", key, "DELETE") == (202, {"message": "Cancelled."})


@pytest.mark.parametrize(
    ("arguments", "code", "message"),
    [
        (
            ["verify_credentials", "--component", "nope", "--data", "{}"],
            2,
            # Whatever else the environment has installed: the ones this module relies on.
            re.compile(
                r"unknown connector 'nope' \(installed: (.*\b)?slowpoke, (.*\b)?sql\b.*\) \(--component\)"
            ),
        ),
        (
            ["verify_credentials", "--component", "sql"],
            2,
            "parameter 'account_data' is required for execution_type 'verify_credentials' (--data)",
        ),
        (
            ["get_meta_model", "--component", "sql", "--action", "insert", "--account", "acc-1", "--wait"],
            2,
            "account 'acc-1' does not exist (--account)",
        ),
        (
            ["verify_credentials", "--component", "sql", "--data", "{nope"],
            2,
            "--data: invalid JSON: Expecting property name enclosed in double quotes at line 1 column 2",
        ),
        (
            ["verify_credentials", "--component", "sql", "--data", "[1]"],
            2,
            "--data: expected a JSON object, got list",
        ),
        (["verify_credentials", "--component", "sql", "--logs"], 2, "--timeout and --logs need --wait"),
        (
            ["verify_credentials", "--component", "sql", "--url", "http://alice:key@127.0.0.1:1"],
            2,
            "--url must not contain credentials; pass --email and --api-key separately",
        ),
    ],
)
def test_bad_input_is_one_line(
    key: str, run_cli: Run, arguments: list[str], code: int, message: str | re.Pattern[str]
) -> None:
    result = run_cli("exec", *arguments)
    assert result.returncode == code
    if isinstance(message, re.Pattern):
        assert message.fullmatch(only_error(result)), result.stderr
    else:
        assert only_error(result) == message
    assert result.stdout == ""
    assert key not in result.stderr


def test_refused_credentials_are_exit_3_without_the_key(
    key: str, server: str, run_cli: Run, cli_env: dict[str, str]
) -> None:
    cli_env["CONNECTORD_API_KEY"] = key[:-4] + "XXXX"
    result = run_cli("exec", "verify_credentials", "--component", "sql", "--data", "{}")
    assert result.returncode == 3
    assert only_error(result) == f"{server} refused the credentials: Invalid credentials."
    assert key[:-4] not in result.stderr


def test_no_api_key_is_exit_2(run_cli: Run) -> None:
    result = run_cli("exec", "verify_credentials", "--component", "sql", "--data", "{}")
    assert result.returncode == 2
    assert only_error(result) == "no API key: set CONNECTORD_API_KEY (or pass --api-key)"


def test_an_unreachable_server_is_exit_3(run_cli: Run, cli_env: dict[str, str]) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    cli_env.update(CONNECTORD_URL=f"http://127.0.0.1:{port}", CONNECTORD_API_KEY="ck_not-a-real-key-123")
    result = run_cli("exec", "verify_credentials", "--component", "sql", "--data", "{}", "--wait")
    assert result.returncode == 3
    assert only_error(result) == f"cannot reach http://127.0.0.1:{port}: connection refused"
    assert "ck_not-a-real-key-123" not in result.stderr
