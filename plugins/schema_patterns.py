"""The regular expressions of connectors' JSON schemas (``pattern``, the keys of
``patternProperties``), matched in linear time.

A connector describes its schemas and the server checks a tenant's input against them in
its own process, on its event loop. Python's ``re`` backtracks: ``^(a|aa)+$`` on 61
characters runs for hours while holding the GIL, which stops the whole server. RE2 (Google's
engine, ``google-re2``) matches in time linear in the input whatever the pattern, and
refuses what it cannot match that way: lookaround and backreferences. A schema with such a
pattern is not loaded (``unsupported_pattern`` says where) rather than matched with ``re``.

Semantics are ECMA-262's where they matter to schemas: a pattern is searched for, not
anchored; ``\\d`` and ``\\w`` are ASCII; ``$`` ends the text (Python's ``re`` also takes a
final newline); ``\\p{L}`` works.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

from connectord.plugins.schema_cost import (
    TEXT_PER_STEP,
    costing_its_length,
    costing_the_inputs_length,
    counted,
    spend,
    unique_items,
)
from connectord.plugins.server_errors import Invalid

if TYPE_CHECKING:
    # Imported where used, as in runtime/calls.py: zygotes never check schemas.
    import jsonschema


class UnsupportedPatternError(Invalid, ValueError):
    """RE2 cannot compile the pattern; the message says why."""


#: The memory RE2 may give one pattern's programs (its default is 8 MiB). Compiling costs
#: time in proportion, in one C call that holds the GIL: ``\\pL{200}k`` took 100 to 180 ms at
#: the default, and a description of 300 such patterns held the server's loop 25 s. At
#: 2 MiB a compile holds it ≈ 65 ms at most (``^[\\p{L}\\p{N} _-]{1,100}$``), and the rest
#: are refused within ≈ 12 ms.
MAX_PATTERN_MEMORY = 2 * 1024 * 1024
#: Seconds of CPU the patterns of one connector's description may take to compile, once.
COMPILE_BUDGET = 0.5
#: The patterns of the descriptions the server took, compiled once and kept while it runs:
#: a check on the event loop finds them here, never compiles them (``compiled``'s cache
#: alone could be flushed by a description's 1,100 cheap patterns, and every call then
#: compiled the costly ones again, on the loop).
_pinned: dict[str, Any] = {}


def compiled(pattern: str) -> Any:
    """``pattern`` compiled by RE2 (a description's, kept: see ``pin``; any other, cached: a
    validator matches the same few patterns on every call); raises UnsupportedPatternError."""
    found = _pinned.get(pattern)
    return found if found is not None else _compiled(pattern)


def pin(schemas: Iterable[Any]) -> str | None:
    """Compile and keep every pattern of ``schemas`` (a description's) not kept yet; why
    not, if they take more than COMPILE_BUDGET of CPU (then none of them is kept). A pattern
    RE2 refuses is left to ``unsupported_pattern``, which says where it is."""
    started, new = time.thread_time(), []
    for schema in schemas:
        for pattern in _patterns(schema):
            if pattern in _pinned:
                continue
            try:
                _pinned[pattern] = _compiled(pattern)
            except UnsupportedPatternError:
                continue
            new.append(pattern)
            if time.thread_time() - started > COMPILE_BUDGET:
                for added in new:
                    del _pinned[added]
                return f"its schemas' patterns take more than {COMPILE_BUDGET:g} s to compile"
    return None


def _patterns(schema: Any) -> Iterator[str]:
    for _path, sub in _subschemas(schema):
        if isinstance(sub.get("pattern"), str):
            yield sub["pattern"]
        if isinstance(sub.get("patternProperties"), dict):
            yield from (key for key in sub["patternProperties"] if isinstance(key, str))


@functools.lru_cache(maxsize=1024)
def _compiled(pattern: str) -> Any:
    import re2  # here: a connector's zygote, which never checks schemas, need not load it

    options = re2.Options()
    options.log_errors = False  # the reason is raised, not printed on stderr
    options.max_mem = MAX_PATTERN_MEMORY
    try:
        return re2.compile(pattern, options=options)
    except re2.error as exc:
        reason = exc.args[0] if exc.args else "invalid"
        reason = reason.decode(errors="replace") if isinstance(reason, bytes) else str(reason)
        raise UnsupportedPatternError(
            f"pattern {pattern!r} cannot be matched in linear time (RE2: {reason}; lookaround "
            "and backreferences are not supported)"
        ) from None


def search(pattern: str, text: str) -> bool:
    """Whether ``pattern`` matches anywhere in ``text`` (JSON Schema's ``pattern``);
    raises UnsupportedPatternError."""
    return compiled(pattern).search(text) is not None


@functools.cache
def validator_class() -> type[jsonschema.Draft202012Validator]:
    """jsonschema's Draft 2020-12 validator with every keyword counted against the budget
    of a check (plugins/schema_cost.py), ``uniqueItems`` in linear time, and every keyword
    that matches a pattern (``pattern``, ``patternProperties``, ``additionalProperties``)
    matching it with RE2,
    and whose ``check_schema`` takes as a ``regex`` only what RE2 compiles (pass it
    ``format_checker=``: jsonschema looks its own up otherwise). A pattern RE2 cannot compile
    raises UnsupportedPatternError from ``iter_errors``: ``unsupported_pattern`` finds them
    before."""
    import jsonschema
    from jsonschema.exceptions import ValidationError

    def pattern(validator: Any, patrn: str, instance: Any, schema: Any) -> Iterator[ValidationError]:
        if validator.is_type(instance, "string"):
            spend(len(instance) // TEXT_PER_STEP)  # RE2 reads the whole text: ≈ 3 ms per MB
        if validator.is_type(instance, "string") and not search(patrn, instance):
            yield ValidationError(f"{instance!r} does not match {patrn!r}")

    def pattern_properties(
        validator: Any, patterns: dict[str, Any], instance: Any, schema: Any
    ) -> Iterator[ValidationError]:
        if not validator.is_type(instance, "object"):
            return
        spend(len(patterns) * (len(instance) + sum(map(len, instance)) // TEXT_PER_STEP))
        for patrn, subschema in patterns.items():
            for key, value in instance.items():
                if search(patrn, key):
                    yield from validator.descend(value, subschema, path=key, schema_path=patrn)

    def additional_properties(
        validator: Any, additional: Any, instance: Any, schema: Any
    ) -> Iterator[ValidationError]:
        if not validator.is_type(instance, "object"):
            return
        keys = len(instance) + sum(map(len, instance)) // TEXT_PER_STEP
        spend(keys * (1 + len(schema.get("patternProperties") or ())))
        extras = sorted(additional_keys(schema, instance), key=str)
        if validator.is_type(additional, "object"):
            for extra in extras:
                yield from validator.descend(instance[extra], additional, path=extra)
        elif not additional and extras:
            listed = ", ".join(repr(extra) for extra in extras[:20])
            verb = "was" if len(extras) == 1 else "were"
            yield ValidationError(f"Additional properties are not allowed ({listed} {verb} unexpected)")

    def is_pattern(instance: object) -> bool:
        if isinstance(instance, str):
            compiled(instance)
        return True

    checker = jsonschema.FormatChecker(formats=())
    checker.checkers = dict(jsonschema.Draft202012Validator.FORMAT_CHECKER.checkers)
    checker.checks("regex", raises=UnsupportedPatternError)(is_pattern)
    keywords = {
        **jsonschema.Draft202012Validator.VALIDATORS,
        "pattern": pattern,
        "patternProperties": pattern_properties,
        "additionalProperties": additional_properties,
        "uniqueItems": unique_items,
        "enum": costing_its_length(jsonschema.Draft202012Validator.VALIDATORS["enum"]),
        # each item or key is a descent, which costs no step where its subschema is {}
        **{
            name: costing_the_inputs_length(jsonschema.Draft202012Validator.VALIDATORS[name])
            for name in ("items", "prefixItems", "contains", "propertyNames")
        },
        "required": costing_its_length(jsonschema.Draft202012Validator.VALIDATORS["required"]),
    }
    extend: Any = jsonschema.validators.extend  # untyped in types-jsonschema
    extended: type[jsonschema.Draft202012Validator] = extend(
        jsonschema.Draft202012Validator, counted(keywords), format_checker=checker
    )
    return extended


def additional_keys(schema: Any, instance: Any) -> set[str]:
    """The keys of ``instance`` that neither ``properties`` nor ``patternProperties`` of
    ``schema`` declare."""
    if not isinstance(schema, dict) or not isinstance(instance, dict):
        return set()
    known = schema.get("properties", {})
    patterns = schema.get("patternProperties", {})
    return {key for key in instance if key not in known and not any(search(p, str(key)) for p in patterns)}


#: Keywords whose value is a subschema, a list of them, or a mapping of names to them.
_SINGLE = (
    "additionalProperties",
    "unevaluatedProperties",
    "items",
    "unevaluatedItems",
    "contains",
    "propertyNames",
    "not",
    "if",
    "then",
    "else",
    "additionalItems",
)
_LISTS = ("allOf", "anyOf", "oneOf", "prefixItems", "items")
_MAPS = ("properties", "patternProperties", "$defs", "definitions", "dependentSchemas")


def unsupported_pattern(schema: Any) -> str | None:
    """Why ``schema`` cannot be checked in linear time, naming the place
    (``properties.name.pattern``) and the pattern, or None. jsonschema's own
    ``unevaluatedProperties`` matches ``patternProperties`` with ``re``: a schema may use one
    or the other."""
    uses: set[str] = set()
    for path, sub in _subschemas(schema):
        pattern = sub.get("pattern")
        if isinstance(pattern, str) and (reason := _reason(pattern)) is not None:
            return f"{_at(path, 'pattern')}: {reason}"
        patterns = sub.get("patternProperties")
        if isinstance(patterns, dict):
            uses.add("patternProperties")
            for key in patterns:
                if (reason := _reason(key)) is not None:
                    return f"{_at(path, 'patternProperties')}: {reason}"
        if "unevaluatedProperties" in sub:
            uses.add("unevaluatedProperties")
    if len(uses) == 2:
        return "it uses both unevaluatedProperties and patternProperties, which cannot be checked together"
    return None


def _reason(pattern: str) -> str | None:
    try:
        compiled(pattern)
    except UnsupportedPatternError as exc:
        return str(exc)
    return None


def _at(path: str, keyword: str) -> str:
    return f"{path}.{keyword}" if path else keyword


def _subschemas(schema: Any) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every object subschema of ``schema`` with its dotted place, itself first (a loop,
    not recursion: a description may nest deeper than Python's stack)."""
    stack: list[tuple[str, Any]] = [("", schema)]
    while stack:
        path, sub = stack.pop()
        if not isinstance(sub, dict):
            continue
        yield path, sub
        found: list[tuple[str, Any]] = []
        for keyword in _SINGLE:
            if isinstance(sub.get(keyword), dict):
                found.append((_at(path, keyword), sub[keyword]))
        for keyword in _LISTS:
            if isinstance(sub.get(keyword), list):
                found += [(f"{_at(path, keyword)}.{i}", item) for i, item in enumerate(sub[keyword])]
        for keyword in _MAPS:
            if isinstance(sub.get(keyword), dict):
                found += [(f"{_at(path, keyword)}.{name}", item) for name, item in sub[keyword].items()]
        stack.extend(reversed(found))
