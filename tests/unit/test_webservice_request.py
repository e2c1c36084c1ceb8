"""WebRequest validation, run-time overrides and URL handling (pure, no I/O)."""

from __future__ import annotations

from typing import Any

import jsonschema
import msgspec
import pytest

from connectord.connectors.webservice import WebRequest, parse_request, with_overrides
from connectord.connectors.webservice.request import merge_headers, resolve_url, safe_url
from connectord.connectors.webservice.schemas import CALL_CONFIG_SCHEMA, REQUEST_SCHEMA
from connectord.plugins.errors import ConfigError


def test_defaults() -> None:
    request = parse_request({"url": "https://api.example.com/posts"})
    assert (request.method, request.body_type, request.timeout) == ("GET", "json", 30.0)
    assert (request.headers, request.search_params, request.body) == ({}, {}, None)
    assert request.follow_redirects is True


def test_job_type_params_parse() -> None:
    # The example of the callWebserviceEndpoint job type.
    params = {
        "url": "https://api.example.com/_query_",
        "method": "POST",
        "headers": {"Content-Type": "application/json"},
        "body": {"searchTerms": "running shoe"},
        "searchParams": {"limit": 10},
    }
    request = parse_request(params)
    assert request.search_params == {"limit": 10}
    assert request.body == {"searchTerms": "running shoe"}
    assert msgspec.to_builtins(request)["searchParams"] == {"limit": 10}


def test_method_is_case_insensitive() -> None:
    assert parse_request({"url": "http://h/", "method": "patch"}).method == "PATCH"


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({}, "url"),
        ({"url": ""}, "url"),
        ({"url": 3}, "url"),
        ({"url": "http://h/", "method": "TRACE"}, "method"),
        ({"url": "http://h/", "timeout": 0}, "timeout"),
        ({"url": "http://h/", "timeout": 301}, "timeout"),
        ({"url": "http://h/", "body_type": "yaml"}, "body_type"),
        ({"url": "http://h/", "headers": {"X": 1}}, "headers"),
        ({"url": "http://h/", "headers": {"bad name": "x"}}, "headers"),
        ({"url": "http://h/", "searchParams": {"a": {"nested": 1}}}, "searchParams"),
        ({"url": "http://h/", "body": {"a": 1}}, "body"),
        ({"url": "http://h/", "method": "HEAD", "body": "x"}, "body"),
        ({"url": "http://h/", "method": "POST", "body_type": "xml", "body": {"a": 1}}, "body"),
        ({"url": "http://h/", "method": "POST", "body_type": "text", "body": 5}, "body"),
        ({"url": "http://h/", "extra": 1}, "extra"),
    ],
)
def test_bad_input_names_the_field(data: dict[str, Any], field: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_request(data)
    assert info.value.field == field


def test_not_an_object() -> None:
    with pytest.raises(ConfigError):
        parse_request(["http://h/"])  # type: ignore[arg-type]


def test_constructing_directly_checks_the_body_too() -> None:
    with pytest.raises(ConfigError, match="GET request cannot have a body"):
        WebRequest(url="http://h/", body={"a": 1})


def test_header_value_with_line_break_is_refused_without_echoing_it() -> None:
    with pytest.raises(ConfigError) as info:
        parse_request({"url": "http://h/", "headers": {"Authorization": "Bearer s3cr3t\r\nX: 1"}})
    assert "s3cr3t" not in str(info.value)
    assert "Authorization" in str(info.value)


CASES: list[dict[str, Any]] = [
    {"url": "http://h/"},
    {"url": "/rel", "method": "POST", "body": {"a": [1, 2]}},
    {"url": "http://h/", "method": "PUT", "body_type": "xml", "body": "<a/>"},
    {"url": "http://h/", "method": "PUT", "body_type": "xml", "body": {"a": 1}},
    {"url": "http://h/", "body": "x"},
    {"url": "http://h/", "method": "DELETE", "body": None},
    {"url": "http://h/", "searchParams": {"a": [1, "b", True]}, "headers": {"X-A": "1"}},
    {"url": "http://h/", "searchParams": {"a": None}},
    {"url": "http://h/", "headers": {"X A": "1"}},
    {"url": "http://h/", "timeout": 0},
    {"url": "http://h/", "unknown": 1},
    {"url": ""},
]


@pytest.mark.parametrize("data", CASES)
def test_request_schema_agrees_with_parse_request(data: dict[str, Any]) -> None:
    """The schema UIs see and the Struct the job type uses accept the same requests."""
    schema_ok = jsonschema.Draft202012Validator(REQUEST_SCHEMA).is_valid(data)
    try:
        parse_request(data)
        parsed_ok = True
    except ConfigError:
        parsed_ok = False
    assert schema_ok == parsed_ok


def test_schemas_list_exactly_the_struct_fields() -> None:
    fields = {f.encode_name for f in msgspec.structs.fields(WebRequest)}
    assert set(REQUEST_SCHEMA["properties"]) == fields
    assert set(CALL_CONFIG_SCHEMA["properties"]) == fields | {"response_sample"}
    jsonschema.Draft202012Validator.check_schema(CALL_CONFIG_SCHEMA)


def test_overrides_merge_headers_and_query_and_replace_body() -> None:
    request = parse_request(
        {
            "url": "http://h/",
            "method": "POST",
            "headers": {"X-Trace": "a", "Accept": "text/plain"},
            "searchParams": {"limit": 10, "q": "x"},
            "body": {"old": True},
        }
    )
    out = with_overrides(
        request, {"headers": {"accept": "application/json"}, "searchParams": {"q": "y"}, "body": [1]}
    )
    assert out.headers == {"X-Trace": "a", "accept": "application/json"}
    assert out.search_params == {"limit": 10, "q": "y"}
    assert out.body == [1]
    assert with_overrides(request, {}).body == {"old": True}


@pytest.mark.parametrize(
    ("overrides", "field"),
    [({"url": "http://other/"}, "url"), ({"headers": "x"}, "headers"), ({"headers": {"A": 1}}, "headers")],
)
def test_overrides_are_checked(overrides: dict[str, Any], field: str) -> None:
    with pytest.raises(ConfigError) as info:
        with_overrides(parse_request({"url": "http://h/"}), overrides)
    assert info.value.field == field


def test_merge_headers_is_case_insensitive() -> None:
    assert merge_headers({"Content-Type": "a", "X": "1"}, {"content-type": "b"}) == {
        "X": "1",
        "content-type": "b",
    }


@pytest.mark.parametrize(
    ("url", "base", "expected"),
    [
        ("https://api.example.com/a?b=1", None, "https://api.example.com/a?b=1"),
        ("https://other.example/x", "https://api.example.com", "https://other.example/x"),
        ("orders", "https://api.example.com/v1", "https://api.example.com/v1/orders"),
        ("/orders", "https://api.example.com/v1/", "https://api.example.com/v1/orders"),
        ("HTTP://h/", None, "http://h/"),
    ],
)
def test_resolve_url(url: str, base: str | None, expected: str) -> None:
    assert str(resolve_url(url, base)) == expected


@pytest.mark.parametrize(
    ("url", "base", "field"),
    [
        ("ftp://h/file", None, "url"),
        ("file:///etc/passwd", None, "url"),
        ("javascript:alert(1)", None, "url"),
        ("/orders", None, "url"),
        ("http://", None, "url"),
        ("http://user:pw@h/", None, "url"),
        ("/orders", "ftp://h/", "base_url"),
    ],
)
def test_resolve_url_refuses(url: str, base: str | None, field: str) -> None:
    with pytest.raises(ConfigError) as info:
        resolve_url(url, base)
    assert info.value.field == field
    assert "pw" not in str(info.value)


def test_safe_url_drops_user_info_and_query() -> None:
    assert safe_url("https://u:p@api.example.com:8443/v1/x?key=abc#f") == "https://api.example.com:8443/v1/x"
    assert safe_url("/relative?key=abc") == "/relative"
