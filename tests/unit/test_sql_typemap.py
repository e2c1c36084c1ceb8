"""sql connector: SQL types and defaults become the right JSON schema."""

from __future__ import annotations

from typing import Any

import jsonschema
import pytest

from connectord.connectors.sql.defaults import default_value, literal
from connectord.connectors.sql.typemap import SqlType, json_schema, nullable, pg_type, sqlite_type


@pytest.mark.parametrize(
    ("typname", "typmod", "schema"),
    [
        ("int2", -1, {"type": "integer", "minimum": -32768, "maximum": 32767}),
        ("int8", -1, {"type": "integer", "minimum": -(2**63), "maximum": 2**63 - 1}),
        ("float8", -1, {"type": "number"}),
        ("numeric", 655366, {"type": "string", "format": "decimal"}),
        ("varchar", 24, {"type": "string", "maxLength": 20}),
        ("varchar", -1, {"type": "string"}),
        ("bpchar", 7, {"type": "string", "maxLength": 3}),
        ("text", -1, {"type": "string"}),
        ("bool", -1, {"type": "boolean"}),
        ("date", -1, {"type": "string", "format": "date"}),
        ("timestamptz", -1, {"type": "string", "format": "date-time"}),
        ("time", -1, {"type": "string", "format": "time"}),
        ("uuid", -1, {"type": "string", "format": "uuid"}),
        ("jsonb", -1, {}),
        ("bytea", -1, {"type": "string", "contentEncoding": "base64"}),
        ("point", -1, {}),
    ],
)
def test_postgres_types(typname: str, typmod: int, schema: dict[str, Any]) -> None:
    assert json_schema(pg_type(typname, typmod)) == schema


def test_postgres_arrays_and_enums() -> None:
    array = json_schema(pg_type("_varchar", 14, element="varchar"))
    assert array == {"type": "array", "items": {"type": ["string", "null"], "maxLength": 10}}
    mood = json_schema(pg_type("mood", enum=("sad", "ok")))
    assert mood == {"type": "string", "enum": ["sad", "ok"]}
    moods = json_schema(pg_type("_mood", element="mood", enum=("sad", "ok")))
    assert moods["items"]["enum"] == ["sad", "ok", None]


@pytest.mark.parametrize(
    ("declared", "kind"),
    [
        ("INTEGER", "integer"),
        ("BIGINT", "integer"),
        ("VARCHAR(20)", "string"),
        ("nvarchar", "string"),
        ("TEXT", "string"),
        ("BLOB", "binary"),
        ("", "unknown"),
        ("REAL", "number"),
        ("DOUBLE PRECISION", "number"),
        ("NUMERIC(10,2)", "number"),
        ("DECIMAL", "number"),
        ("BOOLEAN", "boolean"),
        ("datetime", "datetime"),
        ("TIMESTAMP", "datetime"),
        ("DATE", "date"),
        ("JSON", "json"),
        ("POINT", "integer"),  # SQLite's own rule: any type containing INT has INTEGER affinity
    ],
)
def test_sqlite_types_follow_affinity(declared: str, kind: str) -> None:
    assert sqlite_type(declared).kind == kind


def test_sqlite_declared_length_is_not_a_max_length() -> None:
    assert "maxLength" not in json_schema(sqlite_type("VARCHAR(20)"))


def test_nullable_widens_type_and_enum_but_not_untyped_schemas() -> None:
    assert nullable({"type": "integer"}) == {"type": ["integer", "null"]}
    assert nullable({"type": "string", "enum": ["a"]}) == {"type": ["string", "null"], "enum": ["a", None]}
    assert nullable({}) == {}
    validator = jsonschema.Draft202012Validator(nullable(json_schema(SqlType("string", enum=("a",)))))
    assert validator.is_valid(None) and validator.is_valid("a") and not validator.is_valid("b")


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("'new'::text", (True, "new")),
        ("'it''s'::character varying", (True, "it's")),
        ("'x'::\"Mood\"", (True, "x")),
        ("'new'::sales.mood", (True, "new")),
        ('\'{}\'::"My Schema"."Tags"[]', (True, "{}")),
        ("'5'::numeric(10,2)", (True, "5")),
        ("NULL", (True, None)),
        ("TRUE", (True, True)),
        ("((-1))", (True, -1)),
        ("nextval('orders_id_seq'::regclass)", (False, None)),
        ("CURRENT_TIMESTAMP", (False, None)),
        ("'a'::text || 'b'::text", (False, None)),
        ("(1 + 1)", (False, None)),
        ("'unterminated", (False, None)),
    ],
)
def test_literal_defaults(expression: str, expected: tuple[bool, Any]) -> None:
    assert literal(expression) == expected


@pytest.mark.parametrize(
    ("expression", "sql_type", "expected"),
    [
        ("0", SqlType("integer"), (True, 0)),
        ("'-1'::integer", SqlType("integer"), (True, -1)),
        ("1.5", SqlType("integer"), (False, None)),
        ("0.00", SqlType("decimal"), (True, "0.00")),
        ("2.5", SqlType("number"), (True, 2.5)),
        ("false", SqlType("boolean"), (True, False)),
        ("1", SqlType("boolean"), (True, True)),
        ("'new'::text", SqlType("string"), (True, "new")),
        ("'gone'::mood", SqlType("string", enum=("new",)), (False, None)),
        ("'{\"a\": 1}'::jsonb", SqlType("json"), (True, {"a": 1})),
        ("'abc'::text", SqlType("integer"), (False, None)),
        ("now()", SqlType("datetime"), (False, None)),
    ],
)
def test_defaults_are_converted_to_the_column_type(
    expression: str, sql_type: SqlType, expected: tuple[bool, Any]
) -> None:
    assert default_value(expression, sql_type) == expected
