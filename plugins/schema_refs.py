"""References in connectors' JSON schemas: only within the schema, never fetched.

jsonschema resolves a ``$ref`` it does not hold by fetching its URL (``urlopen``, no
timeout), in the process that checks the input: the server, on its event loop. A
connector's schema could then make the server request any address it can reach (the
connector's own network cut notwithstanding) and hold every tenant's requests while the
other end keeps the connection open. So a description whose schemas refer outside
themselves is refused (``outside_reference`` says where), and every validator of a
connector's schema is given a registry that fetches nothing (``no_retrieval``): what does
not resolve within the schema is an error of the schema, not a request.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import referencing

#: Keywords whose value is a reference to resolve (2020-12; ``$recursiveRef`` of 2019-09).
REFERENCES = ("$ref", "$dynamicRef", "$recursiveRef")


def outside_reference(schema: Any) -> str | None:
    """Where ``schema`` refers to anything but a part of itself (a reference that does not
    begin with ``#``), with the reference, or None. Every object of the document counts,
    not only subschemas: ``"$ref": "#/x"`` can point anywhere in it. A loop, not
    recursion: a description may nest deeper than Python's stack."""
    stack: list[tuple[str, Any]] = [("", schema)]
    while stack:
        path, value = stack.pop()
        if isinstance(value, dict):
            for keyword in REFERENCES:
                target = value.get(keyword)
                if isinstance(target, str) and not target.startswith("#"):
                    where = f"{path}.{keyword}" if path else keyword
                    return (
                        f"{where}: {target[:200]!r} refers outside the schema; only references "
                        "within it ('#...') are supported"
                    )
            stack.extend((f"{path}.{key}" if path else str(key), item) for key, item in value.items())
        elif isinstance(value, list):
            stack.extend((f"{path}.{index}", item) for index, item in enumerate(value))
    return None


@functools.cache
def no_retrieval() -> referencing.Registry[Any]:
    """A registry that resolves nothing beyond the schema itself: a reference it does not
    hold fails as unresolvable (``referencing.exceptions.Unresolvable``) instead of being
    fetched."""
    from referencing import Registry
    from referencing.exceptions import NoSuchResource

    def refuse(uri: str) -> Any:
        raise NoSuchResource(ref=uri)  # type: ignore[call-arg]  # an attrs class

    return Registry(retrieve=refuse)  # type: ignore[call-arg]  # attrs: the field is _retrieve
