"""Auth headers and the credentials schema's per-auth-type requirements (no I/O)."""

from __future__ import annotations

import base64
from typing import Any

import jsonschema
import pytest

from connectord.connectors.webservice.auth import auth_headers, secret_field
from connectord.connectors.webservice.schemas import CREDENTIALS_SCHEMA
from connectord.plugins.errors import ConfigError
from connectord.plugins.manager import ConnectorRegistry, Selection, load_connectors
from connectord.runtime.calls import run_call
from connectord.sandbox.calls import Call
from connectord.sandbox.outcomes import Succeeded


@pytest.fixture(scope="module")
def registry() -> ConnectorRegistry:
    reg = load_connectors(Selection(allow=frozenset({"webservice"}), entry_points=False))
    assert reg.errors == []
    return reg


def test_none() -> None:
    assert auth_headers({}) == {}
    assert auth_headers({"auth": "none", "token": "ignored"}) == {}


def test_basic_is_utf8_rfc7617() -> None:
    headers = auth_headers({"auth": "basic", "username": "jörg", "password": "pä:ss"})
    encoded = headers["Authorization"].removeprefix("Basic ")
    assert base64.b64decode(encoded).decode() == "jörg:pä:ss"


def test_basic_allows_an_empty_password() -> None:
    headers = auth_headers({"auth": "basic", "username": "sk_live_key", "password": ""})
    assert base64.b64decode(headers["Authorization"][6:]) == b"sk_live_key:"


def test_bearer() -> None:
    assert auth_headers({"auth": "bearer", "token": "t0k"}) == {"Authorization": "Bearer t0k"}


def test_api_key_default_and_custom_header() -> None:
    assert auth_headers({"auth": "api_key", "api_key": "k"}) == {"X-API-Key": "k"}
    creds = {"auth": "api_key", "api_key": "k", "header_name": "X-Shop-Key"}
    assert auth_headers(creds) == {"X-Shop-Key": "k"}


@pytest.mark.parametrize(
    ("credentials", "field"),
    [
        ({"auth": "basic", "password": "p"}, "username"),
        ({"auth": "basic", "username": "a:b", "password": "p"}, "username"),
        ({"auth": "basic", "username": "u"}, "password"),
        ({"auth": "bearer"}, "token"),
        ({"auth": "bearer", "token": ""}, "token"),
        ({"auth": "bearer", "token": "secret-value\r\nX-Evil: 1"}, "token"),
        ({"auth": "api_key", "api_key": "k", "header_name": "Bad Header"}, "header_name"),
        ({"auth": "api_key"}, "api_key"),
        ({"auth": "oauth"}, "auth"),
    ],
)
def test_bad_credentials_name_the_field_not_the_value(credentials: dict[str, Any], field: str) -> None:
    with pytest.raises(ConfigError) as info:
        auth_headers(credentials)
    assert info.value.field == field
    assert "secret-value" not in str(info.value)


@pytest.mark.parametrize(
    ("credentials", "field"),
    [
        ({}, "auth"),
        ({"auth": "basic"}, "password"),
        ({"auth": "bearer"}, "token"),
        ({"auth": "api_key"}, "api_key"),
    ],
)
def test_secret_field(credentials: dict[str, Any], field: str) -> None:
    assert secret_field(credentials) == field


def test_credentials_schema_is_valid_and_marks_secrets() -> None:
    jsonschema.Draft202012Validator.check_schema(CREDENTIALS_SCHEMA)
    secrets = {k for k, v in CREDENTIALS_SCHEMA["properties"].items() if v.get("secret") is True}
    assert secrets == {"password", "token", "api_key"}


@pytest.mark.parametrize(
    ("credentials", "field"),
    [
        ({"auth": "basic", "password": "p"}, "username"),
        ({"auth": "basic", "username": "u"}, "password"),
        ({"auth": "bearer"}, "token"),
        ({"auth": "api_key", "header_name": "X-Key"}, "api_key"),
        ({"auth": "digest"}, "auth"),
        ({"check_url": "http://h/", "chek_method": "GET"}, "chek_method"),
        ({"base_url": "ftp://h/"}, "base_url"),
        ({"check_timeout": 0}, "check_timeout"),
    ],
)
def test_schema_catches_missing_fields_naming_them(
    registry: ConnectorRegistry, credentials: dict[str, Any], field: str
) -> None:
    outcome = run_call(
        registry, Call(connector="webservice", method="verify_credentials", credentials=credentials)
    )
    assert isinstance(outcome, Succeeded)
    assert outcome.data["verified"] is False
    assert outcome.data["failure"] == {"kind": "config", "field": field}


@pytest.mark.parametrize(
    "credentials",
    [
        {},
        {"auth": "none", "check_url": "http://h/"},
        {"auth": "basic", "username": "u", "password": ""},
        {"auth": "bearer", "token": "t"},
        {"auth": "api_key", "api_key": "k", "base_url": "https://h/v1", "check_url": "/me"},
        # Fields of another auth type are ignored, so switching type in a UI is harmless.
        {"auth": "bearer", "token": "t", "username": "left-over"},
    ],
)
def test_schema_accepts(credentials: dict[str, Any]) -> None:
    assert jsonschema.Draft202012Validator(CREDENTIALS_SCHEMA).is_valid(credentials)


def test_verify_without_check_url_is_a_config_failure(registry: ConnectorRegistry) -> None:
    credentials = {"auth": "bearer", "token": "t0ken"}
    call = Call(connector="webservice", method="verify_credentials", credentials=credentials)
    outcome = run_call(registry, call)
    assert isinstance(outcome, Succeeded)
    assert outcome.data["failure"] == {"kind": "config", "field": "check_url"}
    assert "t0ken" not in outcome.data["message"]
