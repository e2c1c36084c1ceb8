"""The bundled job types' params (pure, no I/O): callWebserviceEndpoint's request,
runQuery's statement and exportProducts' category and limit."""

from __future__ import annotations

from typing import Any

import jsonschema
import pytest

from connectord.connectors.shop.describe import EXPORT_PRODUCTS, MAX_EXPORT_LIMIT
from connectord.connectors.shop.export import category_param, limit_param
from connectord.connectors.sql.query import RUN_QUERY, statement_of
from connectord.connectors.sql.statements import Statement, json_rows
from connectord.connectors.webservice.client import request_headers
from connectord.connectors.webservice.job import CALL_WEBSERVICE_ENDPOINT, body_excerpt, job_request
from connectord.connectors.webservice.request import WebResponse
from connectord.connectors.webservice.schemas import JOB_PARAMS_SCHEMA
from connectord.plugins.descriptor import check_descriptor
from connectord.plugins.errors import ConfigError
from connectord.plugins.secret_marks import marked_values
from connectord.plugins.types import ConnectorInfo
from connectord.runtime.calls import params_problem

JOB = CALL_WEBSERVICE_ENDPOINT


def test_the_bundled_job_types_pass_the_descriptor_check() -> None:
    info = ConnectorInfo(id="all", title="All", version="1", job_types=[JOB, RUN_QUERY, EXPORT_PRODUCTS])
    assert check_descriptor(info).job_types == [JOB, RUN_QUERY, EXPORT_PRODUCTS]
    assert (JOB.needs_account, RUN_QUERY.needs_account, EXPORT_PRODUCTS.needs_account) == (False, True, True)


# --- callWebserviceEndpoint ---------------------------------------------------------------


def test_seed_003s_example_params_are_a_json_post() -> None:
    params = {
        "url": "https://api.example.com/_query_",
        "method": "POST",
        "headers": {"Content-Type": "application/json"},
        "body": {"searchTerms": "running shoe"},
        "searchParams": {"limit": 10},
    }
    assert params_problem(JOB, params) is None
    request = job_request(params)
    assert (request.method, request.body_type, request.search_params) == ("POST", "json", {"limit": 10})


@pytest.mark.parametrize(
    ("params", "body_type", "content_type"),
    [
        ({"body": {"a": 1}}, "json", "application/json"),
        ({"body": [1, 2]}, "json", "application/json"),
        ({"body": "plain words"}, "text", "text/plain; charset=utf-8"),
        ({"body": "<a/>", "bodyType": "xml"}, "xml", "application/xml; charset=utf-8"),
        # a string is sent as written, with the JSON content type
        ({"body": '{"a": 1}', "bodyType": "json"}, "text", "application/json"),
        ({"body": "<a/>", "bodyType": "xml", "headers": {"content-type": "text/xml"}}, "xml", "text/xml"),
    ],
)
def test_the_body_type_follows_the_body_unless_given(
    params: dict[str, Any], body_type: str, content_type: str
) -> None:
    params = {"url": "https://h/x", "method": "PUT", **params}
    assert params_problem(JOB, params) is None
    request = job_request(params)
    assert request.body_type == body_type
    headers = {k.lower(): v for k, v in request_headers(request, {}).items()}
    assert headers["content-type"] == content_type


@pytest.mark.parametrize("method", ["GET", "DELETE", "HEAD", "OPTIONS", None])
def test_only_post_put_and_patch_carry_a_body(method: str | None) -> None:
    params: dict[str, Any] = {"url": "https://h/x", "body": {"a": 1}}
    if method:
        params["method"] = method
    assert params_problem(JOB, params) == (
        "parameter 'body' of job type 'callWebserviceEndpoint' is not allowed here: "
        "only POST, PUT and PATCH requests carry a body",
        "params.body",
    )
    with pytest.raises(ConfigError) as info:
        job_request(params)
    assert info.value.field == "params.body"


CASES: list[dict[str, Any]] = [
    {"url": "https://h/"},
    {"url": "http://h/", "method": "OPTIONS"},
    {"url": "http://h/", "method": "PATCH", "body": "x", "bodyType": "text"},
    {"url": "http://h/", "method": "POST", "body": {"a": 1}, "bodyType": "xml"},
    {"url": "http://h/", "method": "POST", "body": 5, "bodyType": "text"},
    {"url": "http://h/", "method": "POST", "body": 5},
    {"url": "http://h/", "bodyType": "yaml"},
    {"url": "http://h/", "searchParams": {"tag": ["a", 1, True]}, "headers": {"X-A": "1"}},
    {"url": "http://h/", "searchParams": {"a": {"b": 1}}},
    {"url": "http://h/", "headers": {"Bad Name": "1"}},
    {"url": "http://h/", "headers": {"X-A": 1}},
    {"url": "http://h/", "timeout": 0},
    {"url": "http://h/", "timeout": 300},
    {"url": "http://h/", "follow_redirects": False},
    {"url": "/relative"},
    {"url": "ftp://h/"},
    {"url": "http://h/", "method": "TRACE"},
]


@pytest.mark.parametrize("params", CASES)
def test_the_params_schema_agrees_with_the_job(params: dict[str, Any]) -> None:
    """What the runtime lets through, the job runs; what it refuses, the job refuses too."""
    schema_ok = jsonschema.Draft202012Validator(JOB_PARAMS_SCHEMA).is_valid(params)
    try:
        job_request(params)
        job_ok = True
    except ConfigError as exc:
        assert exc.field and exc.field.startswith("params")
        job_ok = False
    assert schema_ok == job_ok


def test_a_url_with_user_info_is_refused_without_echoing_it() -> None:
    with pytest.raises(ConfigError) as info:
        job_request({"url": "https://bob:hunter2-secret@h/x"})
    assert info.value.field == "params.url"
    assert "hunter2" not in str(info.value) and "bob" not in str(info.value)


def test_header_values_are_secret_but_accept_and_content_type() -> None:
    params = {
        "url": "https://h/",
        "headers": {
            "Authorization": "Bearer tok-1",
            "X-Api-Key": "k-2",
            "content-TYPE": "application/json",
            "ACCEPT": "text/csv",
            "Accept-Language": "de-CH",
        },
        "searchParams": {"q": "visible"},
    }
    assert sorted(marked_values(JOB_PARAMS_SCHEMA, params)) == ["Bearer tok-1", "de-CH", "k-2"]


def test_an_error_bodys_excerpt_is_short_and_holds_no_header_value() -> None:
    echoed = WebResponse(
        status=400,
        reason="Bad Request",
        headers={},
        body={"error": "bad token", "got": {"authorization": 'Bearer tok-"q"-1'}, "pad": "x" * 500},
    )
    excerpt = body_excerpt(echoed, ['Bearer tok-"q"-1', "ab"])
    assert "tok-" not in excerpt and excerpt.startswith('{"error":"bad token"')
    assert len(excerpt) == 201 and excerpt.endswith("…")
    assert body_excerpt(WebResponse(status=500, reason="", headers={}, body=" a \n\n b "), []) == "a b"
    assert body_excerpt(WebResponse(status=500, reason="", headers={}, body=None), []) == ""


# --- runQuery --------------------------------------------------------------------------------


def test_a_statement_from_params() -> None:
    assert statement_of({"query": "select 1"}) == Statement("select 1", None, 1000)
    assert statement_of({"query": "select ?", "parameters": [1], "maxRows": 5}) == Statement(
        "select ?", [1], 5
    )


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"query": " "}, "params.query"),
        ({"query": "select 1", "parameters": "1"}, "params.parameters"),
        ({"query": "select 1", "maxRows": 0}, "params.maxRows"),
        ({"query": "select 1", "maxRows": 10_001}, "params.maxRows"),
        ({"query": "select 1", "maxRows": True}, "params.maxRows"),
    ],
)
def test_bad_statement_params_name_the_field(params: dict[str, Any], field: str) -> None:
    with pytest.raises(ConfigError) as info:
        statement_of(params)
    assert info.value.field == field
    problem = params_problem(RUN_QUERY, params)
    assert problem is None or problem[1] == field  # " " and True pass the schema's types


def test_rows_become_json_values() -> None:
    import datetime
    import decimal
    import ipaddress
    import uuid

    row = (
        1,
        None,
        decimal.Decimal("10.50"),
        datetime.datetime(2024, 3, 2, 9, 30, tzinfo=datetime.UTC),
        uuid.UUID(int=1),
        b"\xff",
        ipaddress.ip_address("10.0.0.1"),
        {"a": [1]},
    )
    assert json_rows([row]) == [
        [
            1,
            None,
            "10.50",
            "2024-03-02T09:30:00Z",
            "00000000-0000-0000-0000-000000000001",
            "/w==",
            "10.0.0.1",
            {"a": [1]},
        ]
    ]


# --- exportProducts --------------------------------------------------------------------------


@pytest.mark.parametrize(("raw", "expected"), [(None, None), ("", None), ("19", 19), (19, 19)])
def test_the_category_param(raw: Any, expected: int | None) -> None:
    assert category_param({} if raw is None else {"category": raw}) == expected


@pytest.mark.parametrize("raw", ["0", "x1", 0, -3, True, "١٢"])
def test_a_bad_category_param(raw: Any) -> None:
    with pytest.raises(ConfigError) as info:
        category_param({"category": raw})
    assert info.value.field == "params.category"
    assert params_problem(EXPORT_PRODUCTS, {"category": raw}) is not None


def test_the_limit_param() -> None:
    assert limit_param({}) == 1000
    assert limit_param({"limit": MAX_EXPORT_LIMIT}) == MAX_EXPORT_LIMIT
    for bad in (0, MAX_EXPORT_LIMIT + 1, "5", 2.5):
        with pytest.raises(ConfigError):
            limit_param({"limit": bad})
        assert params_problem(EXPORT_PRODUCTS, {"limit": bad}) is not None
