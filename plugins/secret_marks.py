"""``"secret": true`` in a job type's params schema: where the mark may stand, and which
values of given params it covers.

The mark is read on the schema of a property and, deeper down, on the schemas reached
through ``properties``, ``patternProperties``, ``additionalProperties``, ``items`` and
``prefixItems``. It holds for every string inside the value at that place (an object's
values and an array's items, not keys), except where a schema further down says
``"secret": false``: ``headers`` marked secret with ``"Accept": {"secret": false}`` keeps
every header value secret but Accept's. Other keywords (``$ref``, ``allOf``,
``if``/``then``, ...) are not followed: put the mark where the property is declared.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from connectord.plugins.schema_patterns import UnsupportedPatternError, search

#: Keywords whose value is a mapping of names to subschemas.
_MAPS = ("properties", "patternProperties")
#: Keywords whose value is one subschema.
_SINGLE = ("additionalProperties", "items")


def bad_secret_mark(schema: Any, path: str = "") -> str | None:
    """The place (``properties.headers``, say) of the first ``secret`` that is not a
    boolean, or None when every mark is ``true`` or ``false``."""
    if not isinstance(schema, dict):
        return None
    if "secret" in schema and not isinstance(schema["secret"], bool):
        return path or "(the schema itself)"
    for where, sub in _subschemas(schema):
        found = bad_secret_mark(sub, f"{path}.{where}" if path else where)
        if found is not None:
            return found
    return None


#: Where a value sits in params: its keys and list indexes from the top.
Path = tuple[str | int, ...]


def marked_values(schema: Any, value: Any, inherited: bool = False) -> list[str]:
    """The strings of ``value`` that ``schema`` marks secret (``inherited``: a schema above
    marked them already)."""
    return [string for _, string in marked_paths(schema, value, inherited)]


def marked_paths(schema: Any, value: Any, inherited: bool = False, path: Path = ()) -> list[tuple[Path, str]]:
    """Each string of ``value`` that ``schema`` marks secret, with where it is (``path``:
    where ``value`` itself is). A place several subschemas mark is listed once for each."""
    schema = schema if isinstance(schema, dict) else {}
    mark = schema.get("secret")
    secret = mark if isinstance(mark, bool) else inherited
    if isinstance(value, str):
        return [(path, value)] if secret else []
    found: list[tuple[Path, str]] = []
    if isinstance(value, dict):
        for key, item in value.items():
            for sub in _schemas_of_property(schema, str(key)):
                found += marked_paths(sub, item, secret, (*path, key))
    elif isinstance(value, list):
        prefix = schema.get("prefixItems")
        prefix = prefix if isinstance(prefix, list) else []
        for index, item in enumerate(value):
            sub = prefix[index] if index < len(prefix) else schema.get("items")
            found += marked_paths(sub, item, secret, (*path, index))
    return found


def _schemas_of_property(schema: dict[str, Any], key: str) -> list[Any]:
    """The subschemas that apply to property ``key``, as JSON Schema applies them (an
    empty schema when none does, so a mark from above still holds)."""
    properties = schema.get("properties")
    patterns = schema.get("patternProperties")
    matched: list[Any] = []
    if isinstance(properties, dict) and key in properties:
        matched.append(properties[key])
    if isinstance(patterns, dict):
        matched += [sub for pattern, sub in patterns.items() if _search(pattern, key)]
    if not matched:
        matched.append(schema.get("additionalProperties"))
    return matched


def _search(pattern: str, key: str) -> bool:
    try:
        return search(pattern, key)  # RE2: a connector's pattern must not hang the server
    except UnsupportedPatternError:  # cannot happen for a loaded connector: its patterns were checked
        return False


def _subschemas(schema: dict[str, Any]) -> Iterator[tuple[str, Any]]:
    for keyword in _MAPS:
        subs = schema.get(keyword)
        if isinstance(subs, dict):
            yield from ((f"{keyword}.{name}", sub) for name, sub in subs.items())
    for keyword in _SINGLE:
        if keyword in schema:
            yield keyword, schema[keyword]
    prefix = schema.get("prefixItems")
    if isinstance(prefix, list):
        yield from ((f"prefixItems.{i}", sub) for i, sub in enumerate(prefix))
