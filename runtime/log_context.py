"""The ids a log line carries (request, execution, job, definition, tenant, connector),
kept in context variables: set where the work starts, they follow it into every call and
task it makes, and every line logged meanwhile carries them (see log_format.py)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextvars import ContextVar

#: The ids, in the order a line shows them.
ID_FIELDS = ("request_id", "execution_id", "job_id", "definition_code", "tenant", "connector")

_vars: dict[str, ContextVar[str | None]] = {name: ContextVar(name, default=None) for name in ID_FIELDS}


@contextlib.contextmanager
def bound(**ids: str | None) -> Iterator[None]:
    """Lines logged within carry these ids (None values are left as they were)."""
    tokens = [(_vars[name], _vars[name].set(value)) for name, value in ids.items() if value is not None]
    try:
        yield
    finally:
        for var, token in reversed(tokens):
            var.reset(token)


def bind(**ids: str | None) -> None:
    """Set ids for the rest of the current task (a task's context is its own copy)."""
    for name, value in ids.items():
        if value is not None:
            _vars[name].set(value)


def current() -> dict[str, str]:
    """The ids set now."""
    return {name: value for name, var in _vars.items() if (value := var.get()) is not None}
