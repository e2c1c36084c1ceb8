"""How much of what a worker sends back is kept, and which shapes it may have.

Written once here for both sides: the worker checks its reply before it encodes it (so it
never fails to encode one), and the supervisor checks again what it decoded, since
connector code holds the socket and can write any frame msgpack can carry.
"""

from __future__ import annotations

import re
from typing import Any

#: Containers (objects and arrays) a result may nest; a top-level object is level one.
MAX_DEPTH = 64
#: Characters kept of a name: an error type, a ``field``, a logger.
MAX_NAME_CHARS = 200
#: Characters kept of a message: an error's, a verification's, a log line.
MAX_TEXT_CHARS = 4000
#: Characters kept of a connector's traceback (``debug`` calls only).
MAX_TRACEBACK_CHARS = 16000

NESTS_TOO_DEEP = f"the result nests deeper than {MAX_DEPTH} levels"
NOT_UNICODE = "the result holds a string that is not valid Unicode (a lone surrogate)"
NOT_UTF8 = "the worker sent a string that is not valid UTF-8"
TOO_LARGE_INTEGER = "the result holds an integer beyond 64 bits"

_SURROGATE = re.compile("[\ud800-\udfff]")
_CONTAINERS = frozenset({dict, list, tuple})


def cut_note(value: str, limit: int) -> str:
    """What follows the first ``limit`` characters of ``value`` once it is cut."""
    return f"… [cut: {len(value) - limit} more of {len(value)} characters]"


def nests_too_deep(value: Any, limit: int = MAX_DEPTH) -> bool:
    """Whether ``value`` (JSON-like data as msgspec decodes it) nests more than ``limit``
    objects or arrays. Walks with a stack of its own, never by recursion, so any depth is
    answered without a RecursionError; a container of scalars only is looked through in C."""
    if type(value) not in _CONTAINERS:
        return False
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        children = item.values() if type(item) is dict else item
        if _CONTAINERS.isdisjoint(map(type, children)):
            continue
        if depth >= limit:
            return True
        stack.extend((child, depth + 1) for child in children if type(child) in _CONTAINERS)
    return False


def without_surrogates(text: str) -> str:
    """``text`` with each lone surrogate (which UTF-8 cannot encode) as U+FFFD."""
    return _SURROGATE.sub("\ufffd", text)
