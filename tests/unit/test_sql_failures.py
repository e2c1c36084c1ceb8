"""sql connector: connection failures are classified precisely and never leak a password."""

from __future__ import annotations

import pytest

from connectord.connectors.sql.failures import classify_postgres, reason_of, server_detail

WHERE = "db.example:5432"


def classify(sqlstate: str | None, message: str):  # type: ignore[no-untyped-def]
    return classify_postgres(sqlstate, message, where=WHERE, user="shop", dbname="orders", timeout=5)


def test_sqlstate_28p01_is_a_bad_password() -> None:
    failure = classify("28P01", 'FATAL:  password authentication failed for user "shop"')
    assert (failure.kind, failure.field) == ("auth", "password")
    assert str(failure) == f'password authentication failed for user "shop" on {WHERE}'


def test_bad_password_is_recognised_without_a_sqlstate() -> None:
    # What psycopg 3 raises: libpq gives no SQLSTATE during the connection phase.
    message = (
        'connection failed: connection to server at "10.0.0.5", port 5432 failed: '
        'FATAL:  password authentication failed for user "admin"'
    )
    failure = classify(None, message)
    assert (failure.kind, failure.field) == ("auth", "password")
    assert '"admin"' in str(failure)


CASES = [
    # (sqlstate, libpq/server message, kind, field, words in the reported message)
    (
        "28000",
        'FATAL:  role "ghost" does not exist',
        "auth",
        "url",
        f'role "ghost" does not exist on {WHERE}',
    ),
    (None, 'failed: FATAL:  role "ghost" does not exist', "auth", "url", 'role "ghost" does not exist'),
    (
        "28000",
        'FATAL:  no pg_hba.conf entry for host "10.1.1.1", user "shop", database "orders"',
        "auth",
        "url",
        "refused the connection: no pg_hba.conf entry",
    ),
    ("3D000", 'FATAL:  database "nope" does not exist', "config", "url", 'database "nope" does not exist on'),
    (None, "connection failed: fe_sendauth: no password supplied", "auth", "password", "requires a password"),
    (None, "connection timeout expired", "network", "url", "timed out after 5 s connecting to"),
    (None, "failed: Connection refused\n\tIs the server running", "network", "url", "connection refused by"),
    (None, "failed to resolve host 'nowhere.invalid': [Errno]", "network", "url", 'host "nowhere.invalid"'),
    (None, 'could not translate host name "nowhere.invalid" to address', "network", "url", "nowhere.invalid"),
    ("53300", "FATAL:  sorry, too many clients already", "network", None, "cannot take a connection now"),
    (None, "SSL SYSCALL error: EOF detected", "network", None, f"could not connect to {WHERE}: SSL SYSCALL"),
]


@pytest.mark.parametrize(("sqlstate", "message", "kind", "field", "text"), CASES)
def test_classification(sqlstate: str | None, message: str, kind: str, field: str | None, text: str) -> None:
    failure = classify(sqlstate, message)
    assert (failure.kind, failure.field) == (kind, field)
    assert text in str(failure)


def test_the_most_specific_reason_wins_when_several_addresses_failed() -> None:
    message = (
        'connection to server at "localhost" (::1), port 5432 failed: Connection refused\n'
        'connection to server at "localhost" (127.0.0.1), port 5432 failed: '
        'FATAL:  database "nope" does not exist'
    )
    assert reason_of(None, message) == ("unknown_database", "nope")


def test_server_detail_drops_libpq_framing() -> None:
    message = 'connection failed: connection to server at "h", port 1 failed: FATAL:  sorry\nmore'
    assert server_detail(message) == "sorry"
    assert server_detail("") == "no details"
