"""sql connector: dropdown cursors and table values round-trip, and bad ones are refused."""

from __future__ import annotations

import pytest

from connectord.connectors.sql.names import TableName, TableNameError, format_table, parse_table
from connectord.connectors.sql.paging import MAX_PAGE, decode_cursor, encode_cursor, page_size, split_page
from connectord.plugins.errors import ConfigError


def test_cursor_round_trip() -> None:
    key = ("sales", 'Ärger "odd" name')
    cursor = encode_cursor("tables", key)
    assert decode_cursor("tables", cursor, 2) == key
    assert decode_cursor("tables", None, 2) is None


@pytest.mark.parametrize(
    "cursor",
    [
        "",
        "not base64 !!",
        "e30",  # base64 of {}
        encode_cursor("schemas", ("public",)),  # another dropdown's cursor
        encode_cursor("tables", ("only-one-part",)),
    ],
)
def test_foreign_or_broken_cursors_are_config_errors(cursor: str) -> None:
    with pytest.raises(ConfigError) as error:
        decode_cursor("tables", cursor, 2)
    assert error.value.field == "cursor"


def test_split_page_gives_a_cursor_only_when_more_rows_follow() -> None:
    rows = ["a", "b", "c"]
    page, cursor = split_page(rows, 2, "schemas", lambda r: (r,))
    assert page == ["a", "b"]
    assert cursor is not None and decode_cursor("schemas", cursor, 1) == ("b",)
    assert split_page(rows, 3, "schemas", lambda r: (r,)) == (rows, None)
    assert split_page([], 3, "schemas", lambda r: (r,)) == ([], None)


def test_page_size_is_capped_and_must_be_positive() -> None:
    assert page_size(10) == 10
    assert page_size(10**6) == MAX_PAGE
    with pytest.raises(ConfigError) as error:
        page_size(0)
    assert error.value.field == "limit"


@pytest.mark.parametrize(
    ("schema", "name", "value"),
    [
        ("public", "orders", "public.orders"),
        ("Sales", "Orders", "Sales.Orders"),
        ("public", "v1.2", 'public."v1.2"'),
        ("my.schema", 'say "hi"', '"my.schema"."say ""hi"""'),
        ("public", " padded ", 'public." padded "'),
    ],
)
def test_table_values_round_trip(schema: str, name: str, value: str) -> None:
    assert format_table(schema, name) == value
    assert parse_table(value) == TableName(schema, name)


def test_bare_table_names() -> None:
    assert parse_table("orders") == TableName(None, "orders")
    assert parse_table('"a.b"') == TableName(None, "a.b")
    assert str(TableName(None, "a.b")) == '"a.b"' and str(TableName("s", "t")) == "s.t"


@pytest.mark.parametrize("text", ["", "a.b.c", "a..b", '"open', 'a"b', '"x"y.z', "."])
def test_malformed_table_values(text: str) -> None:
    with pytest.raises(TableNameError):
        parse_table(text)
