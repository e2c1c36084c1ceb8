"""Column lists written from the records: a record's fields are its table's columns, in
order, so adding a column to a record adds it to every SELECT and INSERT of it."""

from __future__ import annotations

import msgspec


def fields(record: type[msgspec.Struct]) -> tuple[str, ...]:
    return record.__struct_fields__


def columns(record: type[msgspec.Struct], **sql: str) -> str:
    """``record``'s fields as a column list; ``sql`` names the expression of a field whose
    column is named otherwise."""
    return ", ".join(sql.get(name, name) for name in fields(record))


def values(record: type[msgspec.Struct], **sql: str) -> str:
    """A ``:field`` parameter per field of ``record``; ``sql`` gives other values."""
    return ", ".join(sql.get(name, f":{name}") for name in fields(record))


def assignments(record: type[msgspec.Struct], *names: str) -> str:
    """``column = :column`` for each of ``names`` (all fields of ``record`` when none)."""
    return ", ".join(f"{name} = :{name}" for name in names or fields(record))


def params(record: msgspec.Struct, **more: object) -> dict[str, object]:
    """A record's fields as query parameters, with ``more``."""
    found = msgspec.structs.asdict(record)
    found.update(more)
    return found
