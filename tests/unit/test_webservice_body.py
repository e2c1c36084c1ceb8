"""Request body encoding, response body decoding, query pairs and request headers."""

from __future__ import annotations

import pytest

from connectord.connectors.webservice import parse_request
from connectord.connectors.webservice.body import decode_body, encode_body, is_json_type
from connectord.connectors.webservice.client import USER_AGENT, query_pairs, request_headers
from connectord.plugins.errors import ConfigError, UpstreamError


def test_encode_json_xml_text_and_none() -> None:
    post = {"url": "http://h/", "method": "POST"}
    assert encode_body(parse_request({**post, "body": {"a": [1, "é"]}})) == '{"a":[1,"é"]}'.encode()
    assert encode_body(parse_request({**post, "body": "plain"})) == b'"plain"'
    assert encode_body(parse_request({**post, "body_type": "xml", "body": "<a>é</a>"})) == "<a>é</a>".encode()
    assert encode_body(parse_request({**post, "body_type": "text", "body": "hi"})) == b"hi"
    assert encode_body(parse_request(post)) is None


def test_encode_refuses_what_is_not_json() -> None:
    from connectord.connectors.webservice import WebRequest

    with pytest.raises(ConfigError) as info:
        encode_body(WebRequest(url="http://h/", method="POST", body={"a": object()}))
    assert info.value.field == "body"


@pytest.mark.parametrize(
    ("content_type", "expected"),
    [
        ("application/json", True),
        ("application/problem+json; charset=utf-8", True),
        ("Application/JSON", True),
        ("text/json-ish", False),
        ("application/xml", False),
        ("", False),
    ],
)
def test_is_json_type(content_type: str, expected: bool) -> None:
    assert is_json_type(content_type) is expected


def test_decode() -> None:
    assert decode_body(b'{"a": [1, 2.5, null]}', "application/json") == {"a": [1, 2.5, None]}
    assert decode_body(b"", "application/json") is None
    assert decode_body(b"<a/>", "application/xml") == "<a/>"
    assert decode_body("grüß".encode("latin-1"), "text/plain", "iso-8859-1") == "grüß"
    assert decode_body("grüß".encode(), "text/plain", "no-such-charset") == "grüß"
    assert decode_body(b"\xff ok", "application/octet-stream") == "\ufffd ok"


def test_decode_invalid_json_is_an_upstream_error() -> None:
    with pytest.raises(UpstreamError, match="not valid JSON"):
        decode_body(b"{nope", "application/json")


def test_query_pairs() -> None:
    params = {"limit": 10, "ratio": 0.5, "on": True, "off": False, "tag": ["a", 1]}
    assert query_pairs(params) == [
        ("limit", "10"),
        ("ratio", "0.5"),
        ("on", "true"),
        ("off", "false"),
        ("tag", "a"),
        ("tag", "1"),
    ]


def test_request_headers_defaults_content_type_and_auth_wins() -> None:
    request = parse_request(
        {
            "url": "http://h/",
            "method": "POST",
            "body_type": "xml",
            "body": "<a/>",
            "headers": {"authorization": "Bearer from-request", "X-A": "1"},
        }
    )
    headers = request_headers(request, {"Authorization": "Bearer from-credentials"})
    assert headers == {
        "User-Agent": USER_AGENT,
        "X-A": "1",
        "Content-Type": "application/xml; charset=utf-8",
        "Authorization": "Bearer from-credentials",
    }


def test_request_headers_keep_a_given_content_type_and_user_agent() -> None:
    request = parse_request(
        {
            "url": "http://h/",
            "method": "POST",
            "body_type": "text",
            "body": "x",
            "headers": {"content-type": "text/csv", "user-agent": "mine"},
        }
    )
    assert request_headers(request, {}) == {"content-type": "text/csv", "user-agent": "mine"}


def test_no_content_type_without_body() -> None:
    assert request_headers(parse_request({"url": "http://h/"}), {}) == {"User-Agent": USER_AGENT}
