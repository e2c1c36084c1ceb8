"""SQL column types as JSON schema, for both dialects.

A dialect first reduces its own type description to a :class:`SqlType` (the few facts a
JSON schema can express); :func:`json_schema` then renders that, so both dialects produce
the same schema for the same kind of column.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Literal

Kind = Literal[
    "integer", "number", "decimal", "string", "boolean", "date", "datetime", "time",
    "uuid", "json", "binary", "array", "unknown",
]


@dataclass(frozen=True)
class SqlType:
    """What a column holds, as far as JSON can tell: ``item`` is set for ``array`` only."""

    kind: Kind
    max_length: int | None = None
    bits: int | None = None
    enum: tuple[str, ...] | None = None
    item: SqlType | None = None


UNKNOWN = SqlType("unknown")

_PG_KINDS: dict[str, Kind] = {
    "int2": "integer", "int4": "integer", "int8": "integer", "oid": "integer",
    "float4": "number", "float8": "number",
    "numeric": "decimal",
    "bool": "boolean",
    "date": "date", "timestamp": "datetime", "timestamptz": "datetime",
    "time": "time", "timetz": "time",
    "uuid": "uuid",
    "json": "json", "jsonb": "json",
    "bytea": "binary",
    # Text, and types whose text form is what a flow would pass around.
    "text": "string", "varchar": "string", "bpchar": "string", "name": "string",
    "citext": "string", "char": "string", "xml": "string", "money": "string",
    "interval": "string", "inet": "string", "cidr": "string", "macaddr": "string",
    "macaddr8": "string", "bit": "string", "varbit": "string",
}
_PG_BITS = {"int2": 16, "int4": 32, "int8": 64}
_PG_SIZED = frozenset({"varchar", "bpchar"})
# varchar(n) and char(n) store n + VARHDRSZ in atttypmod.
_VARHDRSZ = 4


def pg_type(
    typname: str,
    typmod: int = -1,
    element: str | None = None,
    enum: tuple[str, ...] | None = None,
) -> SqlType:
    """Classify a PostgreSQL base type (domains already resolved by the caller).

    ``element`` is the element type of an array, ``enum`` the labels of an enum type (or of
    the array's element enum); ``typmod`` carries the declared length of varchar/char.
    """
    if element is not None:
        return SqlType("array", item=pg_type(element, typmod, None, enum))
    if enum is not None:
        return SqlType("string", enum=enum)
    kind = _PG_KINDS.get(typname, "unknown")
    max_length = typmod - _VARHDRSZ if typname in _PG_SIZED and typmod >= _VARHDRSZ else None
    return SqlType(kind, max_length=max_length, bits=_PG_BITS.get(typname))


_SQLITE_NAMED: dict[str, Kind] = {
    "BOOLEAN": "boolean", "BOOL": "boolean",
    "DATE": "date", "DATETIME": "datetime", "TIMESTAMP": "datetime", "TIME": "time",
    "JSON": "json", "UUID": "uuid",
}


def sqlite_type(declared: str) -> SqlType:
    """Classify a SQLite declared column type.

    Well-known names (BOOLEAN, DATE, JSON, ...) come first because they say more than
    SQLite's affinity rules, which would file them all under NUMERIC; everything else
    follows those rules (https://sqlite.org/datatype3.html, 3.1) in their order, so
    ``declared`` maps the way SQLite itself treats the column. NUMERIC and DECIMAL become
    ``number``: SQLite stores them as INTEGER or REAL, so there is no exact decimal to keep.
    A declared length such as VARCHAR(20) is left out: SQLite does not enforce it.
    """
    text = declared.strip().upper()
    base = re.sub(r"\s*\(.*$", "", text)
    if base in _SQLITE_NAMED:
        return SqlType(_SQLITE_NAMED[base])
    if not text:
        return UNKNOWN  # no declared type: SQLite stores any value as it is given
    if "INT" in text:
        return SqlType("integer")
    if any(word in text for word in ("CHAR", "CLOB", "TEXT")):
        return SqlType("string")
    if "BLOB" in text:
        return SqlType("binary")
    return SqlType("number")  # REAL affinity, or NUMERIC: integers and reals


_FORMATS: dict[Kind, str] = {
    "date": "date", "datetime": "date-time", "time": "time", "uuid": "uuid",
    # Exact decimals travel as strings: a JSON number is read as a double by most
    # consumers, which silently rounds money-like values (psycopg returns Decimal, which
    # msgspec encodes as a string too).
    "decimal": "decimal",
}
_INT_RANGE = {bits: (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1) for bits in (16, 32, 64)}


def json_schema(sql_type: SqlType) -> dict[str, Any]:
    """The JSON schema of a non-null value of ``sql_type`` (see :func:`nullable`)."""
    kind = sql_type.kind
    if kind in ("unknown", "json"):
        return {}
    if kind == "array":
        return {"type": "array", "items": nullable(json_schema(sql_type.item or UNKNOWN))}
    if kind == "binary":
        return {"type": "string", "contentEncoding": "base64"}
    if kind == "integer":
        schema: dict[str, Any] = {"type": "integer"}
        if sql_type.bits in _INT_RANGE:
            schema["minimum"], schema["maximum"] = _INT_RANGE[sql_type.bits]
        return schema
    if kind in ("number", "boolean"):
        return {"type": kind}
    return _string_schema(sql_type)


def _string_schema(sql_type: SqlType) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "string"}
    if sql_type.kind in _FORMATS:
        schema["format"] = _FORMATS[sql_type.kind]
    if sql_type.max_length is not None:
        schema["maxLength"] = sql_type.max_length
    if sql_type.enum is not None:
        schema["enum"] = list(sql_type.enum)
    return schema


def nullable(schema: dict[str, Any]) -> dict[str, Any]:
    """``schema`` widened to accept null; a schema without a type accepts it already."""
    if "type" not in schema:
        return schema
    wider = {**schema, "type": [schema["type"], "null"]}
    if "enum" in schema:
        wider["enum"] = [*schema["enum"], None]
    return wider
