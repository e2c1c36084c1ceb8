"""References in connectors' JSON schemas: only within the schema, never fetched, and never
so many paths through them that checking one input takes unbounded work.

jsonschema resolves a ``$ref`` it does not hold by fetching its URL (``urlopen``, no
timeout), in the process that checks the input: the server, on its event loop. A
connector's schema could then make the server request any address it can reach (the
connector's own network cut notwithstanding) and hold every tenant's requests while the
other end keeps the connection open. So a description whose schemas refer outside
themselves is refused (``outside_reference`` says where), and every validator of a
connector's schema is given a registry that fetches nothing (``no_retrieval``): what does
not resolve within the schema is an error of the schema, not a request.

References within a schema can still multiply: 20 definitions each referring twice to the
next made checking one input visit 2^20 subschemas, which held the server's event loop
for 20 s. ``reference_problem`` refuses a schema whose references, followed, would visit
more than ``MAX_EXPANDED`` subschemas at one place of the input, and the forms of reference
it cannot follow as jsonschema does (a ``$ref`` that is no JSON pointer from the root, an
``$id`` below the root, ``$dynamicRef``): a connector's schema needs none of them.
"""

from __future__ import annotations

import functools
import urllib.parse
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import referencing

#: Keywords whose value is a reference to resolve (2020-12; ``$recursiveRef`` of 2019-09).
REFERENCES = ("$ref", "$dynamicRef", "$recursiveRef")
#: Values one place of an input may be checked against, references followed: far beyond
#: a form's schema (the bundled connectors' largest counts 43), a few ms of checking where
#: 2^20 held the server for 20 s.
MAX_EXPANDED = 2_000


def outside_reference(schema: Any) -> str | None:
    """Where ``schema`` refers to anything but a part of itself (a reference that does not
    begin with ``#``), with the reference, or None. Every object of the document counts,
    not only subschemas: ``"$ref": "#/x"`` can point anywhere in it."""
    for path, value in objects(schema):
        for keyword in REFERENCES:
            target = value.get(keyword)
            if isinstance(target, str) and not target.startswith("#"):
                return (
                    f"{at(path, keyword)}: {target[:200]!r} refers outside the schema; only references "
                    "within it ('#...') are supported"
                )
    return None


def objects(schema: Any) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every object of the JSON document ``schema`` with its dotted place, itself first. A
    loop, not recursion: a description may nest deeper than Python's stack."""
    stack: list[tuple[str, Any]] = [("", schema)]
    while stack:
        path, value = stack.pop()
        if isinstance(value, dict):
            yield path, value
            stack.extend((at(path, str(key)), item) for key, item in value.items())
        elif isinstance(value, list):
            stack.extend((f"{path}.{index}", item) for index, item in enumerate(value))


def at(path: str, key: str) -> str:
    """``key`` beneath the dotted place ``path`` ("" is the root)."""
    return f"{path}.{key}" if path else key


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


def reference_problem(schema: Any) -> str | None:
    """Why ``schema``'s references cannot be allowed, or None: a reference outside it
    (``outside_reference``), one of a form it cannot follow, or so many paths through them
    that one input would be checked against more than MAX_EXPANDED subschemas."""
    outside = outside_reference(schema)
    if outside is not None:
        return outside
    unfollowed = _unfollowed_form(schema)
    if unfollowed is not None:
        return unfollowed
    if _expanded_size(schema) > MAX_EXPANDED:
        return f"its references multiply: checking one input would visit more than {MAX_EXPANDED} subschemas"
    return None


def _unfollowed_form(schema: Any) -> str | None:
    for path, value in objects(schema):
        where = f"{path}." if path else ""
        if "$id" in value and path:
            return f"{where}$id: an identifier below the root is not supported"
        if "$dynamicRef" in value or "$recursiveRef" in value:
            return f"{where}$dynamicRef: dynamic references are not supported"
        target = value.get("$ref")
        if target is not None and (not isinstance(target, str) or not _pointer(target)):
            return f"{where}$ref: only JSON pointers within the schema ('#' or '#/...') are supported"
    return None


def _pointer(ref: str) -> bool:
    return ref == "#" or ref.startswith("#/")


def _resolve(root: Any, ref: str) -> Any:
    """The value the JSON pointer ``ref`` ('#' or '#/a/b') names in ``root``, or None,
    read as ``referencing`` reads it (it resolves for jsonschema): the pointer unquoted
    whole, then split (``%2F`` separates), a list indexed by ``int`` (``-1`` is the last)."""
    value = root
    for segment in urllib.parse.unquote(ref[2:]).split("/") if ref != "#" else ():
        try:
            if isinstance(value, list):
                value = value[int(segment)]
            elif isinstance(value, dict):
                value = value[segment.replace("~1", "/").replace("~0", "~")]
            else:
                return None
        except (LookupError, ValueError):
            return None
    return value


def _expanded_size(root: Any) -> int:
    """How many values checking one place of an input could visit, every reference
    followed (one that leads back to where it started counts once: the input's depth
    bounds those). Counted bottom-up, each value once: a loop, not recursion."""
    sizes: dict[int, int] = {}
    on_path: set[int] = set()
    stack: list[tuple[Any, bool]] = [(root, False)]
    while stack:
        value, children_done = stack.pop()
        key = id(value)
        if children_done:
            on_path.discard(key)
            sizes[key] = min(MAX_EXPANDED + 1, 1 + sum(_size_of(c, sizes) for c in _children(root, value)))
            continue
        if key in sizes or key in on_path:
            continue
        on_path.add(key)
        stack.append((value, True))
        stack.extend((child, False) for child in _children(root, value) if id(child) not in sizes)
    return sizes.get(id(root), 1)


def _children(root: Any, value: Any) -> list[Any]:
    if isinstance(value, dict):
        children = [v for v in value.values() if isinstance(v, (dict, list))]
        target = value.get("$ref")
        if isinstance(target, str) and _pointer(target):
            resolved = _resolve(root, target)
            if isinstance(resolved, (dict, list)):
                children.append(resolved)
        return children
    if isinstance(value, list):
        return [v for v in value if isinstance(v, (dict, list))]
    return []


def _size_of(child: Any, sizes: dict[int, int]) -> int:
    return sizes.get(id(child), 1)  # not counted yet: it is on the path (a loop back)
