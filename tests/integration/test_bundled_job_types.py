"""The bundled connectors' job types through the real Supervisor (sandboxed workers), each
against its real backend: an HTTP server on loopback, a SQLite file and the local
PostgreSQL server, and the demo shop."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import msgspec
import psycopg
import pytest
import pytest_asyncio
from aiohttp import web
from tests.conftest import TEST_TEMP

from connectord.connectors.shop.demo import DEMO_KEY, DEMO_SECRET, demo_shop_in_thread, serve_in_thread
from connectord.connectors.shop.demo.data import build_catalogue
from connectord.plugins.manager import Selection
from connectord.runtime.calls import InvalidCallError, run_in_sandbox
from connectord.sandbox.calls import Call
from connectord.sandbox.cgroups import Cgroups
from connectord.sandbox.outcomes import Rejected, Succeeded
from connectord.sandbox.policy import ConnectorPolicy, SandboxPolicy
from connectord.sandbox.protocol import Limits
from connectord.sandbox.redact import MASK
from connectord.sandbox.supervisor import InvocationResult, Supervisor

pytestmark = pytest.mark.asyncio(loop_scope="module")

TOKEN = "Bearer tok-job-9f8e7d6c"
API_KEY = "key-job-1a2b3c4d"


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def supervisor() -> AsyncIterator[Supervisor]:
    # Their backends are on loopback, which the workers' egress policy refuses unless allowed.
    policy = SandboxPolicy(default=ConnectorPolicy(limits=Limits(writable_paths=[TEST_TEMP])))
    selection = Selection(allow=frozenset({"webservice", "sql", "shop"}))
    sup = Supervisor(selection, policy, Cgroups.detect(), egress_allow=["127.0.0.0/8", "::1"])
    await sup.start()
    try:
        yield sup
    finally:
        await sup.close()


async def run_job(
    supervisor: Supervisor, connector: str, code: str, params: dict[str, Any], **credentials: Any
) -> InvocationResult:
    call = Call(connector=connector, method="run_job", action=code, cfg=params, credentials=credentials)
    return await run_in_sandbox(supervisor, call)


def succeeded(result: InvocationResult) -> dict[str, Any]:
    assert isinstance(result.outcome, Succeeded), result.outcome
    assert set(result.outcome.data) == {"data", "outputs"}
    data: dict[str, Any] = result.outcome.data
    return data


def rejected(result: InvocationResult) -> Rejected:
    assert isinstance(result.outcome, Rejected), result.outcome
    return result.outcome


def text_of(value: Any) -> str:
    return msgspec.json.encode(msgspec.to_builtins(value)).decode()


async def test_every_bundled_job_type_is_in_the_catalog(supervisor: Supervisor) -> None:
    found = [(connector, job.code, job.needs_account) for connector, job in supervisor.catalog.job_types()]
    assert found == [
        ("webservice", "callWebserviceEndpoint", False),
        ("shop", "exportProducts", True),
        ("sql", "runQuery", True),
    ]


# --- webservice: callWebserviceEndpoint ---------------------------------------------------------


async def echo(request: web.Request) -> web.Response:
    return web.json_response(
        {
            "method": request.method,
            "query": [[k, v] for k, v in request.query.items()],
            "headers": dict(request.headers),
            "content_type": request.headers.get("Content-Type"),
            "body": await request.text(),
        }
    )


async def status(request: web.Request) -> web.Response:
    # Like many APIs, the error repeats what it got, the credentials included.
    got = {"error": "not allowed", "authorization": request.headers.get("Authorization")}
    return web.json_response(got, status=int(request.match_info["code"]))


async def xml(request: web.Request) -> web.Response:
    return web.Response(text="<order><id>7</id></order>", content_type="application/xml")


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    app = web.Application()
    app.router.add_route("*", "/echo", echo)
    app.router.add_route("*", "/status/{code}", status)
    app.router.add_get("/xml", xml)
    with serve_in_thread(app) as url:
        yield url


async def call_endpoint(supervisor: Supervisor, **params: Any) -> InvocationResult:
    return await run_job(supervisor, "webservice", "callWebserviceEndpoint", params)


async def test_a_get_with_search_params_and_headers(supervisor: Supervisor, server: str) -> None:
    result = await call_endpoint(
        supervisor,
        url=server + "/echo?fixed=1",
        headers={"Authorization": TOKEN, "X-Api-Key": API_KEY, "Accept": "application/json"},
        searchParams={"tag": ["a", "b"], "limit": 10, "exact": True},
    )
    job = succeeded(result)
    data, outputs = job["data"], job["outputs"]
    assert data["status"] == 200 and outputs["status"] == 200
    assert data["body"]["method"] == "GET"
    query = data["body"]["query"]
    assert query == [["fixed", "1"], ["tag", "a"], ["tag", "b"], ["limit", "10"], ["exact", "true"]]
    assert outputs["body"] == data["body"]
    assert data["headers"]["Content-Type"].startswith("application/json")  # Accept's value is no secret
    # the endpoint echoed the secret headers: the result shows them masked, as the logs do
    sent = data["body"]["headers"]
    assert (
        sent["Authorization"] == MASK and sent["X-Api-Key"] == MASK and sent["Accept"] == "application/json"
    )
    assert TOKEN not in text_of(result) and API_KEY not in text_of(result)
    assert [line.message for line in result.logs] == [f"GET {server}/echo answered 200 OK"]


@pytest.mark.parametrize(
    ("params", "content_type", "sent"),
    [
        (
            {"method": "POST", "body": {"searchTerms": "running shoe"}},
            "application/json",
            '{"searchTerms":"running shoe"}',
        ),
        ({"method": "PUT", "body": [1, 2]}, "application/json", "[1,2]"),
        (
            {"method": "PUT", "body": "<a>1</a>", "bodyType": "xml"},
            "application/xml; charset=utf-8",
            "<a>1</a>",
        ),
        ({"method": "PATCH", "body": "just text"}, "text/plain; charset=utf-8", "just text"),
        ({"method": "POST", "body": '{"a": 1}', "bodyType": "json"}, "application/json", '{"a": 1}'),
        (
            {"method": "POST", "body": "<a/>", "bodyType": "xml", "headers": {"Content-Type": "text/xml"}},
            "text/xml",
            "<a/>",
        ),
    ],
)
async def test_json_xml_and_text_bodies(
    supervisor: Supervisor, server: str, params: dict[str, Any], content_type: str, sent: str
) -> None:
    data = succeeded(await call_endpoint(supervisor, url=server + "/echo", **params))["data"]
    assert data["body"]["method"] == params["method"]
    assert data["body"]["content_type"] == content_type
    assert data["body"]["body"] == sent


async def test_a_text_answer_and_a_head_request(supervisor: Supervisor, server: str) -> None:
    data = succeeded(await call_endpoint(supervisor, url=server + "/xml"))["data"]
    assert data["body"] == "<order><id>7</id></order>"
    head = succeeded(await call_endpoint(supervisor, url=server + "/echo", method="HEAD"))
    assert head["data"]["status"] == 200 and head["data"]["body"] is None


@pytest.mark.parametrize("code", [400, 404, 503])
async def test_an_error_status_fails_the_job_without_the_request_headers(
    supervisor: Supervisor, server: str, code: int
) -> None:
    result = await call_endpoint(
        supervisor, url=server + f"/status/{code}?key=q-secret", headers={"Authorization": TOKEN}
    )
    outcome = rejected(result)
    assert outcome.error_type == "EndpointStatusError"
    assert outcome.message.startswith(f"GET {server}/status/{code} answered {code} ")
    assert '"error":"not allowed"' in outcome.message
    # the connector left the echoed header out itself (a mask would mean the runtime had to)
    assert TOKEN not in outcome.message and "tok-job" not in outcome.message and MASK not in outcome.message
    assert "q-secret" not in outcome.message  # nor the query, which often holds keys


async def test_a_body_with_get_is_refused_before_anything_runs(supervisor: Supervisor, server: str) -> None:
    with pytest.raises(InvalidCallError) as info:
        await call_endpoint(supervisor, url=server + "/echo", body={"a": 1})
    assert info.value.field == "params.body"
    assert "only POST, PUT and PATCH requests carry a body" in str(info.value)


async def test_a_url_with_user_info_is_refused_and_not_repeated(supervisor: Supervisor, server: str) -> None:
    url = server.replace("http://", "http://bob:pa55-in-url@") + "/echo"
    result = await call_endpoint(supervisor, url=url)
    outcome = rejected(result)
    assert (outcome.error_type, outcome.field) == ("ConfigError", "params.url")
    assert "pa55-in-url" not in text_of(result) and "bob" not in outcome.message


async def test_an_unreachable_endpoint_fails_the_job(supervisor: Supervisor, server: str) -> None:
    outcome = rejected(await call_endpoint(supervisor, url="http://127.0.0.1:9/x", timeout=5))
    assert outcome.error_type == "EndpointUnreachableError"


# --- sql: runQuery ----------------------------------------------------------------------------------


async def query(supervisor: Supervisor, url: str, **params: Any) -> InvocationResult:
    return await run_job(supervisor, "sql", "runQuery", params, url=url)


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    path = tmp_path / "jobs.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT NOT NULL, price REAL, raw BLOB)")
    conn.close()
    path.chmod(0o666)  # as its operator would: the sql connector may run as a user of its own
    return f"sqlite://{path}"


def sqlite_rows(url: str, sql: str) -> list[tuple[Any, ...]]:
    with sqlite3.connect(url.removeprefix("sqlite://")) as conn:
        rows = conn.execute(sql).fetchall()
    conn.close()
    return rows


async def test_sqlite_statements_are_committed(supervisor: Supervisor, sqlite_url: str) -> None:
    inserted = succeeded(
        await query(
            supervisor,
            sqlite_url,
            query="INSERT INTO items (name, price, raw) VALUES (?, ?, ?), (?, ?, ?)",
            parameters=["pen", 1.5, None, "ink", 3, None],
        )
    )
    assert inserted == {
        "data": {"columns": [], "rows": [], "rowCount": 2, "truncated": False},
        "outputs": {"rowCount": 2},
    }
    named = await query(
        supervisor,
        sqlite_url,
        query="UPDATE items SET price = :price WHERE name = :name",
        parameters={"price": 2.0, "name": "pen"},
    )
    assert succeeded(named)["outputs"] == {"rowCount": 1}
    assert sqlite_rows(sqlite_url, "SELECT name, price FROM items ORDER BY id") == [
        ("pen", 2.0),
        ("ink", 3.0),
    ]


async def test_sqlite_rows_are_returned_up_to_max_rows(supervisor: Supervisor, sqlite_url: str) -> None:
    values = ", ".join(f"('n{i}', {i}, x'ff')" for i in range(12))
    succeeded(
        await query(supervisor, sqlite_url, query=f"INSERT INTO items (name, price, raw) VALUES {values}")
    )
    data = succeeded(
        await query(supervisor, sqlite_url, query="SELECT id, name, raw FROM items ORDER BY id", maxRows=5)
    )
    assert data["data"]["columns"] == ["id", "name", "raw"]
    assert data["data"]["rows"][0] == [1, "n0", "/w=="]
    assert (len(data["data"]["rows"]), data["data"]["rowCount"], data["data"]["truncated"]) == (5, 5, True)
    assert data["outputs"] == {"rowCount": 5}
    returning = await query(
        supervisor, sqlite_url, query="DELETE FROM items WHERE price >= 5 RETURNING id", maxRows=2
    )
    assert succeeded(returning)["data"]["truncated"] is True
    # every row was deleted, not only those returned
    assert sqlite_rows(sqlite_url, "SELECT count(*) FROM items") == [(5,)]


async def test_a_failing_sqlite_statement_changes_nothing(supervisor: Supervisor, sqlite_url: str) -> None:
    result = await query(
        supervisor, sqlite_url, query="INSERT INTO items (id, name) VALUES (1, 'a'), (1, 'b')"
    )
    outcome = rejected(result)
    assert (outcome.error_type, outcome.field) == ("QueryError", "params.query")
    assert "UNIQUE constraint failed: items.id" in outcome.message
    assert sqlite_rows(sqlite_url, "SELECT count(*) FROM items") == [(0,)]
    wrong = rejected(await query(supervisor, sqlite_url, query="SELECT ?", parameters=[1, 2]))
    assert (wrong.error_type, wrong.field) == ("QueryError", "params.parameters")
    syntax = rejected(await query(supervisor, sqlite_url, query="SELEC 1"))
    assert syntax.field == "params.query" and "syntax error" in syntax.message


async def test_run_query_needs_an_account(supervisor: Supervisor, tmp_path: Path) -> None:
    result = await run_job(supervisor, "sql", "runQuery", {"query": "SELECT 1"})
    assert rejected(result) == Rejected("InvalidCredentials", "credential field 'url' is required", "url")
    missing = tmp_path / "missing.db"
    outcome = rejected(await query(supervisor, f"sqlite://{missing}", query="SELECT 1"))
    assert outcome == Rejected("ConnectorError", f"SQLite database file {missing} does not exist")
    assert not missing.exists()


@pytest.fixture
def pg_url(pg_database: str) -> str:
    with psycopg.connect(pg_database, autocommit=True) as conn:
        conn.execute(
            "CREATE TABLE orders (id serial PRIMARY KEY, ref text NOT NULL UNIQUE, total numeric(10, 2),"
            " created timestamptz DEFAULT '2024-03-02 09:30:00+00', meta jsonb, tags text[])"
        )
    return pg_database


@pytest.mark.postgres
async def test_postgres_statements_are_committed_and_rows_are_json(
    supervisor: Supervisor, pg_url: str
) -> None:
    inserted = await query(
        supervisor,
        pg_url,
        query="INSERT INTO orders (ref, total, meta, tags) VALUES (%s, %s, %s, %s), (%s, %s, %s, %s)",
        parameters=["A-1", "10.50", {"vip": True}, ["x", "y"], "A-2", 3, None, []],
    )
    assert succeeded(inserted)["outputs"] == {"rowCount": 2}
    selected = await query(
        supervisor,
        pg_url,
        query="SELECT id, ref, total, created, meta, tags FROM orders WHERE total > %(min)s ORDER BY id",
        parameters={"min": 1},
    )
    data = succeeded(selected)["data"]
    assert data["columns"] == ["id", "ref", "total", "created", "meta", "tags"]
    assert data["rows"] == [
        [1, "A-1", "10.50", "2024-03-02T09:30:00Z", {"vip": True}, ["x", "y"]],
        [2, "A-2", "3.00", "2024-03-02T09:30:00Z", None, []],
    ]
    assert (data["rowCount"], data["truncated"]) == (2, False)
    with psycopg.connect(pg_url) as conn:
        assert conn.execute("SELECT count(*) FROM orders").fetchone() == (2,)


@pytest.mark.postgres
async def test_postgres_max_rows_and_a_statement_that_runs_to_completion(
    supervisor: Supervisor, pg_url: str
) -> None:
    rows = await query(
        supervisor,
        pg_url,
        query="INSERT INTO orders (ref) SELECT 'r' || n FROM generate_series(1, 30) n RETURNING id",
        maxRows=10,
    )
    data = succeeded(rows)["data"]
    assert (len(data["rows"]), data["rowCount"], data["truncated"]) == (10, 10, True)
    with psycopg.connect(pg_url) as conn:
        assert conn.execute("SELECT count(*) FROM orders").fetchone() == (30,)
    literal = succeeded(await query(supervisor, pg_url, query="SELECT '100%' AS pct"))
    assert literal["data"]["rows"] == [["100%"]]


@pytest.mark.postgres
async def test_postgres_failures_roll_back_and_name_the_field(supervisor: Supervisor, pg_url: str) -> None:
    duplicate = await query(supervisor, pg_url, query="INSERT INTO orders (ref) VALUES ('same'), ('same')")
    outcome = rejected(duplicate)
    assert (outcome.error_type, outcome.field) == ("QueryError", "params.query")
    assert "duplicate key value violates unique constraint" in outcome.message and "23505" in outcome.message
    with psycopg.connect(pg_url) as conn:
        assert conn.execute("SELECT count(*) FROM orders").fetchone() == (0,)
    for parameters in ([1, 2], {"a": 1}):
        wrong = rejected(await query(supervisor, pg_url, query="SELECT %s", parameters=parameters))
        assert (wrong.error_type, wrong.field) == ("QueryError", "params.parameters")
    syntax = rejected(await query(supervisor, pg_url, query="SELEC 1"))
    assert syntax.field == "params.query" and "42601" in syntax.message


@pytest.mark.postgres
async def test_postgres_password_never_shows(supervisor: Supervisor, pg_url: str) -> None:
    secret = "Wr0ng-job-password"
    result = await run_job(
        supervisor,
        "sql",
        "runQuery",
        {"query": "SELECT 1"},
        url=pg_url.replace("postgres@", "nobody@"),
        password=secret,
    )
    outcome = rejected(result)
    assert outcome.error_type in ("ConnectorError", "UpstreamError")
    assert secret not in text_of(result)


# --- shop: exportProducts ------------------------------------------------------------------------


CATALOGUE = build_catalogue()
SMARTPHONES = next(
    c.id
    for c in CATALOGUE.categories
    if CATALOGUE.path(c.id) == "Electronics > Phones & Tablets > Smartphones"
)
ELECTRONICS = next(c.id for c in CATALOGUE.categories if CATALOGUE.path(c.id) == "Electronics")


@pytest.fixture(scope="module")
def shop_url() -> Iterator[str]:
    with demo_shop_in_thread() as url:
        yield url


async def export(
    supervisor: Supervisor, shop_url: str, secret: str = DEMO_SECRET, **params: Any
) -> InvocationResult:
    return await run_job(
        supervisor,
        "shop",
        "exportProducts",
        params,
        url=shop_url,
        consumer_key=DEMO_KEY,
        consumer_secret=secret,
    )


def no_shop_secret(result: InvocationResult) -> None:
    text = text_of(result)
    assert DEMO_KEY not in text and DEMO_SECRET not in text and MASK not in text


async def test_export_the_products_of_a_category(supervisor: Supervisor, shop_url: str) -> None:
    result = await export(supervisor, shop_url, category=str(SMARTPHONES))
    job = succeeded(result)
    expected = sorted(p.id for p in CATALOGUE.products if p.category_id in CATALOGUE.subtree(SMARTPHONES))
    products = job["data"]["products"]
    assert [p["id"] for p in products] == expected
    assert job["outputs"] == {"count": len(expected)}
    assert job["data"]["count"] == job["data"]["total"] == len(expected)
    assert all(p["categories"][0]["id"] == SMARTPHONES and "_links" not in p for p in products)
    no_shop_secret(result)


async def test_export_pages_through_the_shop_up_to_the_limit(supervisor: Supervisor, shop_url: str) -> None:
    every_id = sorted(p.id for p in CATALOGUE.products)
    assert len(every_id) > 300  # several pages of 100
    everything = succeeded(await export(supervisor, shop_url, limit=5000))
    assert [p["id"] for p in everything["data"]["products"]] == every_id
    assert everything["data"]["total"] == len(every_id)
    cut = succeeded(await export(supervisor, shop_url, limit=105))
    assert [p["id"] for p in cut["data"]["products"]] == every_id[:105]
    assert cut["outputs"] == {"count": 105}
    in_electronics = sorted(
        p.id for p in CATALOGUE.products if p.category_id in CATALOGUE.subtree(ELECTRONICS)
    )
    few = succeeded(await export(supervisor, shop_url, category=ELECTRONICS, limit=3))
    assert [p["id"] for p in few["data"]["products"]] == in_electronics[:3]
    assert few["data"]["total"] == len(in_electronics)


async def test_export_of_an_unknown_category_or_with_a_wrong_secret(
    supervisor: Supervisor, shop_url: str
) -> None:
    unknown = await export(supervisor, shop_url, category="999999")
    assert rejected(unknown) == Rejected(
        "ConfigError", f"category 999999 does not exist in the shop at {shop_url}", "params.category"
    )
    refused = await export(supervisor, shop_url, secret="cs_wrong_secret_0000", category=SMARTPHONES)
    assert rejected(refused).error_type == "ShopAuthError"
    assert "cs_wrong_secret_0000" not in text_of(refused)
    no_account = await run_job(supervisor, "shop", "exportProducts", {})
    assert rejected(no_account).error_type == "InvalidCredentials"
