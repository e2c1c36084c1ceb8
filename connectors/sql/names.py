"""Table references as dropdown values: ``schema.table``, with quoting only when needed.

Values are the exact catalog names (no case folding), so ``public.Orders`` means the
table called ``Orders``. A part that contains a dot or a double quote (or would otherwise
be ambiguous) is written in double quotes with ``""`` escapes, as in SQL, so every name
round-trips through :func:`format_table` and :func:`parse_table`.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class TableName:
    """A table as the user named it; ``schema`` is ``None`` for a bare name."""

    schema: str | None
    name: str

    def __str__(self) -> str:
        """As the user would write it back, for messages."""
        if self.schema is None:
            return format_part(self.name)
        return format_table(self.schema, self.name)


class TableNameError(ValueError):
    """The text is not ``table`` or ``schema.table``."""


def format_part(name: str) -> str:
    """``name`` as it appears in a value: quoted only if a plain reading would be wrong."""
    if not name or '"' in name or "." in name or name != name.strip():
        return '"' + name.replace('"', '""') + '"'
    return name


def format_table(schema: str, name: str) -> str:
    """The dropdown value of a table."""
    return f"{format_part(schema)}.{format_part(name)}"


def parse_table(text: str) -> TableName:
    """Read ``table`` or ``schema.table`` (parts may be double-quoted)."""
    parts = _split(text.strip())
    if len(parts) == 1:
        return TableName(None, parts[0])
    if len(parts) == 2:
        return TableName(parts[0], parts[1])
    raise TableNameError(f"{text!r} is not 'table' or 'schema.table' (quote names with dots)")


def _split(text: str) -> list[str]:
    parts: list[str] = []
    pos = 0
    while True:
        part, pos = _read_part(text, pos)
        if not part:
            raise TableNameError(f"{text!r} has an empty name part")
        parts.append(part)
        if pos == len(text):
            return parts
        pos += 1  # the dot between parts


def _read_part(text: str, pos: int) -> tuple[str, int]:
    """One part starting at ``pos``; returns it and the position of the following dot or end."""
    if not text.startswith('"', pos):
        end = text.find(".", pos)
        end = len(text) if end < 0 else end
        if '"' in text[pos:end]:
            raise TableNameError(f"{text!r}: a quote may only enclose a whole name part")
        return text[pos:end], end
    chars: list[str] = []
    pos += 1
    while pos < len(text):
        if text[pos] != '"':
            chars.append(text[pos])
            pos += 1
        elif text.startswith('""', pos):
            chars.append('"')
            pos += 2
        elif pos + 1 == len(text) or text[pos + 1] == ".":
            return "".join(chars), pos + 1
        else:
            break
    raise TableNameError(f"{text!r} has an unbalanced or misplaced double quote")
