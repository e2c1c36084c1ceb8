"""sql connector: database URLs are read correctly and never shown with their password."""

from __future__ import annotations

from pathlib import Path

import pytest

from connectord.connectors.sql.failures import ConnectFailure
from connectord.connectors.sql.urls import (
    DEFAULT_CONNECT_TIMEOUT,
    MAX_CONNECT_TIMEOUT,
    PostgresTarget,
    SqliteTarget,
    parse_url,
    strip_password,
)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("postgresql://shop:s3cret@db:5432/shop", "postgresql://shop@db:5432/shop"),
        ("postgresql://shop:p%40ss@db/shop", "postgresql://shop@db/shop"),
        # Unencoded @, / and ? in a password: everything up to the last @ goes.
        ("postgresql://shop:p@ss/w?rd@db/shop", "postgresql://shop@db/shop"),
        ("postgresql://:onlypw@db/shop", "postgresql://db/shop"),
        ("postgresql://db/shop?password=s3cret&sslmode=require", "postgresql://db/shop?sslmode=require"),
        ("postgresql://db/shop?sslmode=require&PASSWORD=s3cret", "postgresql://db/shop?sslmode=require"),
        ("postgresql://db/shop?password=s3cret", "postgresql://db/shop"),
        ("postgresql://shop@db/shop", "postgresql://shop@db/shop"),
        ("sqlite:///var/data/shop.db", "sqlite:///var/data/shop.db"),
    ],
)
def test_strip_password_removes_every_password_form(url: str, expected: str) -> None:
    assert strip_password(url) == expected


def test_strip_password_keeps_urls_without_userinfo() -> None:
    assert strip_password("postgresql://db:5432/shop") == "postgresql://db:5432/shop"
    assert strip_password("not a url") == "not a url"


def test_sqlite_url_names_an_absolute_file() -> None:
    assert parse_url("sqlite:///var/data/my%20shop.db") == SqliteTarget(Path("/var/data/my shop.db"))
    # The SQLAlchemy spelling of an absolute path means the same file.
    assert parse_url("sqlite:////var/data/shop.db") == SqliteTarget(Path("/var/data/shop.db"))


@pytest.mark.parametrize("url", ["sqlite://shop.db", "sqlite://host/var/shop.db", "sqlite://", "sqlite:///"])
def test_sqlite_url_without_an_absolute_path_is_a_config_failure(url: str) -> None:
    with pytest.raises(ConnectFailure) as failure:
        parse_url(url)
    assert (failure.value.kind, failure.value.field) == ("config", "url")
    assert "sqlite:///absolute/path" in str(failure.value)


def test_postgres_url_keeps_the_password_apart() -> None:
    target = parse_url("postgresql://shop:p%40ss@db.example:6543/orders?sslmode=require")
    assert isinstance(target, PostgresTarget)
    assert target.password == "p@ss"
    assert "password" not in target.params
    assert target.params["sslmode"] == "require"
    assert (target.where, target.user, target.dbname) == ("db.example:6543", "shop", "orders")
    assert "p@ss" not in repr(target)


def test_password_credential_wins_over_the_url() -> None:
    target = parse_url("postgres://shop:inurl@db/orders?password=inquery", password="field")
    assert isinstance(target, PostgresTarget)
    assert target.password == "field"
    target = parse_url("postgres://shop@db/orders?password=inquery")
    assert isinstance(target, PostgresTarget) and target.password == "inquery"


def test_postgres_defaults_for_messages_and_timeouts() -> None:
    target = parse_url("postgresql:///orders")
    assert isinstance(target, PostgresTarget)
    assert target.where == "localhost (local socket):5432"
    assert target.timeout == DEFAULT_CONNECT_TIMEOUT
    slow = parse_url("postgresql://db/x?connect_timeout=600")
    assert isinstance(slow, PostgresTarget) and slow.timeout == MAX_CONNECT_TIMEOUT


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("mysql://root@db/shop", "unsupported database URL scheme 'mysql'"),
        ("/var/data/shop.db", "must start with sqlite:/// or postgresql://"),
        ("postgresql://shop@db:port/x", "invalid port"),
        ("postgresql://db/x?connect_timeout=soon", "connect_timeout"),
        ("postgresql://db/x?bogus=1", "url postgresql://db/x?bogus=1 is not a valid PostgreSQL URL"),
        ("postgresql://db/x?service=prod", "the service parameter is not supported"),
        ("postgresql://db/x?passfile=/root/.pgpass", "the passfile parameter is not supported"),
    ],
)
def test_unusable_urls_are_config_failures_of_the_url_field(url: str, words: str) -> None:
    with pytest.raises(ConnectFailure) as failure:
        parse_url(url)
    assert (failure.value.kind, failure.value.field) == ("config", "url")
    assert words in str(failure.value)


def test_a_password_with_an_unencoded_slash_is_not_echoed_as_a_port() -> None:
    # urlsplit reads "u:12ab/cd@db" as host "u", port "12ab": the message must not show it.
    with pytest.raises(ConnectFailure) as failure:
        parse_url("postgresql://u:12ab/cd@db/x")
    assert str(failure.value) == "url postgresql://u@db/x has an invalid port (expected digits)"


def test_invalid_url_messages_show_the_url_without_its_password() -> None:
    with pytest.raises(ConnectFailure) as failure:
        parse_url("postgresql://shop:s3cret-pw@db/x?bogus=1")
    assert "s3cret-pw" not in str(failure.value)
    assert "postgresql://shop@db/x?bogus=1" in str(failure.value)
