"""``connectord check``, the acceptance suite, through the installed command: the bundled
connectors pass it against real services, and a connector that breaks the contract fails
it, naming each check it failed."""

from __future__ import annotations

import http.server
import json
import re
import sqlite3
import subprocess
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from .conftest import CONNECTORD, add_to_pythonpath

Run = Callable[..., subprocess.CompletedProcess[str]]


def report(result: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    """The --json report, with each check's status by name."""
    body = json.loads(result.stdout)
    body["by_name"] = {c["name"]: c for c in body["checks"]}
    return body


def assert_passed(result: subprocess.CompletedProcess[str], *expected: str) -> dict[str, Any]:
    assert result.returncode == 0, result.stdout + result.stderr
    body = report(result)
    assert body["failed"] == 0
    for name in expected:
        assert body["by_name"][name]["status"] == "passed", body["by_name"][name]
    # Progress: one line per check on standard error, as it ends.
    assert len(re.findall(r"^(ok  |FAIL|skip) ", result.stderr, re.M)) == len(body["checks"])
    return body


def test_sql_on_a_sqlite_file(run_cli: Run, tmp_path: Path) -> None:
    database = tmp_path / "shop.db"
    with sqlite3.connect(database) as db:
        db.execute("CREATE TABLE orders (id INTEGER PRIMARY KEY, title TEXT NOT NULL)")
    # Landlock lets the sql connector open only files under writable_paths.
    config = tmp_path / "check.toml"
    config.write_text(f'[sandbox.default.limits]\nwritable_paths = ["{tmp_path}"]\n')
    result = run_cli(
        "check", "sql", "--config", str(config), "--json",
        "--credentials", json.dumps({"url": f"sqlite:///{database}"}),
        "--bad-credentials", json.dumps({"url": f"sqlite:///{tmp_path}/none.db"}),
        timeout=120,
    )  # fmt: skip
    body = assert_passed(
        result,
        "description and schemas",
        "job type runQuery: params schema",
        "verify_credentials: good credentials are verified",
        "verify_credentials: bad credentials are refused, not crashed",
        "select_model insert/tables: pages",
        "get_meta_model insert: valid JSON schemas",
        "every call within its deadline",
    )
    assert body["by_name"]["select_model insert/tables: pages"]["detail"] == "1 option(s)"
    assert '"table": "main.orders"' in body["by_name"]["get_meta_model insert: valid JSON schemas"]["detail"]


@pytest.mark.postgres
def test_sql_on_postgresql(run_cli: Run, cli_env: dict[str, str], pg_database: str) -> None:
    import psycopg

    with psycopg.connect(pg_database, autocommit=True) as db:
        db.execute("CREATE TABLE orders (id serial PRIMARY KEY, title text NOT NULL)")
    cli_env["CONNECTORD_EGRESS_ALLOW"] = "127.0.0.1:5432"  # loopback is refused unless allowed
    result = run_cli(
        "check", "sql", "--json",
        "--credentials", json.dumps({"url": pg_database, "password": "not-needed-here"}),
        "--bad-credentials", json.dumps({"url": pg_database.replace("postgres@", "no_such_role_x@")}),
        timeout=120,
    )  # fmt: skip
    body = assert_passed(
        result,
        "verify_credentials: bad credentials are refused, not crashed",
        "select_model select/tables: pages",
        "get_meta_model select: valid JSON schemas",
        "secrets never come back in answers or logs",
    )
    assert body["by_name"]["select_model select/tables: pages"]["detail"] == "1 option(s)"


class _Api(http.server.BaseHTTPRequestHandler):
    TOKEN = "tok-check-Secret-42"

    def do_GET(self) -> None:
        ok = self.headers.get("Authorization") == f"Bearer {self.TOKEN}"
        self.send_response(200 if ok else 401)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(b'{"me": "alice"}' if ok else b'{"error": "bad token"}')

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def api_url() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Api)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_webservice_against_a_local_http_server(run_cli: Run, cli_env: dict[str, str], api_url: str) -> None:
    cli_env["CONNECTORD_EGRESS_ALLOW"] = api_url.removeprefix("http://")
    credentials = {"auth": "bearer", "token": _Api.TOKEN, "check_url": f"{api_url}/me"}
    result = run_cli(
        "check", "webservice", "--json",
        "--credentials", json.dumps(credentials),
        "--bad-credentials", json.dumps({**credentials, "token": "tok-wrong-Secret-0"}),
        "--cfg", f'call={{"url": "{api_url}/me"}}',
        timeout=120,
    )  # fmt: skip
    body = assert_passed(
        result,
        "verify_credentials: good credentials are verified",
        "verify_credentials: bad credentials are refused, not crashed",
        "select_model call/methods: pages",
        "get_meta_model call: valid JSON schemas",
        "secrets never come back in answers or logs",
    )
    refusal = body["by_name"]["verify_credentials: bad credentials are refused, not crashed"]
    assert refusal["detail"].startswith("refused: auth")


@pytest.fixture
def demo_shop(cli_env: dict[str, str]) -> Iterator[str]:
    """``connectord demo-shop`` on a free port; yields its URL once it listens."""
    process = subprocess.Popen(
        [CONNECTORD, "demo-shop", "--port", "0"], env=cli_env, text=True, stdout=subprocess.PIPE
    )
    try:
        assert process.stdout is not None
        match = re.search(r"running at (http://\S+)", process.stdout.readline())
        assert match, "the demo shop did not start"
        yield match.group(1)
    finally:
        process.terminate()
        process.wait(timeout=10)
        if process.stdout:
            process.stdout.close()


def test_shop_against_the_demo_shop(run_cli: Run, cli_env: dict[str, str], demo_shop: str) -> None:
    from connectord.connectors.shop.demo import DEMO_KEY, DEMO_SECRET

    cli_env["CONNECTORD_EGRESS_ALLOW"] = demo_shop.removeprefix("http://")
    credentials = {"url": demo_shop, "consumer_key": DEMO_KEY, "consumer_secret": DEMO_SECRET}
    result = run_cli(
        "check", "shop", "--json",
        "--credentials", json.dumps(credentials),
        "--bad-credentials", json.dumps({**credentials, "consumer_secret": "cs_wrong_0123456789"}),
        timeout=180,
    )  # fmt: skip
    body = assert_passed(
        result,
        "select_model get_products/categories: pages",
        "select_model get_products/categories: search",
        "get_meta_model upsert_product: valid JSON schemas",
        "secrets never come back in answers or logs",
    )
    assert body["skipped"] == 0
    assert body["by_name"]["select_model get_products/categories: pages"]["detail"] == "523 option(s)"
    assert DEMO_SECRET not in result.stdout + result.stderr


SLOPPY = """
import logging

import connectord

log = logging.getLogger("sloppy")
VALUES = [str(n) for n in range(130)]

@connectord.hookimpl
def describe_connector():
    return connectord.ConnectorInfo(
        id="sloppy", title="Sloppy", version="1.0.0",
        credentials_schema={"type": "object", "required": ["key"],
                            "properties": {"key": {"type": "string", "secret": True}}},
        actions=[connectord.Operation(name="act", title="Act", dynamic_metadata=True,
                                      model_methods=["loops", "skips", "fine"])],
    )

@connectord.hookimpl
def verify_credentials(credentials):
    log.info("trying key %s", credentials["key"])
    if credentials["key"] != "key-good-1234":
        raise RuntimeError("the service answered 500")
    return connectord.verified()

@connectord.hookimpl
def select_model(method, query):
    if method == "loops":  # a cursor that never moves on
        return connectord.SelectResult(options=[], next_cursor="again")
    start = int(query.cursor or 0)
    page = [connectord.Option(value=v, label=f"Item {v}") for v in VALUES[start:start + query.limit]]
    end = start + query.limit * (2 if method == "skips" else 1)
    return connectord.SelectResult(options=page, next_cursor=str(end) if end < len(VALUES) else None)

@connectord.hookimpl
def get_meta_model(action):
    return {"in": {"type": "nonsense"}, "out": {"type": "object"}}
"""


def test_a_connector_breaking_the_contract_fails_naming_each_check(
    run_cli: Run, cli_env: dict[str, str], install_connector: Callable[[str, str], Path]
) -> None:
    add_to_pythonpath(cli_env, install_connector("sloppy", SLOPPY))
    result = run_cli(
        "check", "sloppy", "--json", "--max-pages", "5",
        "--credentials", '{"key": "key-good-1234"}', "--bad-credentials", '{"key": "key-bad-5678"}',
        timeout=120,
    )  # fmt: skip
    assert result.returncode == 1, result.stderr
    checks = report(result)["by_name"]
    failed = {name: c["detail"] for name, c in checks.items() if c["status"] == "failed"}
    assert failed.keys() == {
        "verify_credentials: bad credentials are refused, not crashed",
        "select_model act/loops: pages",
        "select_model act/skips: pages",
        "get_meta_model act: valid JSON schemas",
        "secrets never come back in answers or logs",
    }
    crashed = failed["verify_credentials: bad credentials are refused, not crashed"]
    assert "a crash is not 'invalid'" in crashed and "RuntimeError: the service answered 500" in crashed
    assert "it would never end" in failed["select_model act/loops: pages"]
    assert "paging skipped 50 option(s)" in failed["select_model act/skips: pages"]
    assert "'in' schema is not a valid JSON schema" in failed["get_meta_model act: valid JSON schemas"]
    assert "the sandbox masked it" in failed["secrets never come back in answers or logs"]
    assert checks["select_model act/fine: pages"]["status"] == "passed"
    assert "key-good-1234" not in result.stdout + result.stderr
    text = run_cli("check", "sloppy", "--max-pages", "5", "--credentials", '{"key": "key-good-1234"}')
    assert text.returncode == 1
    assert "FAILED select_model act/loops: pages" in text.stdout
    assert text.stdout.rstrip().endswith("sloppy: 5 passed, 4 failed, 3 skipped"), text.stdout


@pytest.mark.parametrize(
    ("arguments", "code", "message"),
    [
        (["nope"], 2, "unknown connector 'nope'"),
        (["sql", "--credentials", "{nope"], 2, "--credentials: invalid JSON"),
        (["sql", "--cfg", "insert"], 2, "--cfg: expected ACTION=JSON, got 'insert'"),
    ],
)
def test_bad_input_is_one_clear_line(run_cli: Run, arguments: list[str], code: int, message: str) -> None:
    result = run_cli("check", *arguments)
    assert result.returncode == code
    assert result.stderr.startswith(f"connectord: error: {message}"), result.stderr
    assert "Traceback" not in result.stderr and len(result.stderr.splitlines()) == 1
