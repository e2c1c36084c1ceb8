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
#: How far past its bound a worker sends a log line it cuts itself: a secret that starts
#: before the bound is masked whole only if the supervisor sees all of it (a longer one
#: could show its first characters).
SECRET_ROOM = 16 * 1024
#: The largest frame of a worker but its reply: a log record whose texts the worker cut to
#: their bound plus SECRET_ROOM, at 4 bytes a character. The supervisor decodes a larger
#: frame only if it is the reply, which ends the call: a worker that sent one 15 MiB log
#: line after another had the supervisor decode each whole (≈ 20 ms of its loop apiece).
MAX_LOG_FRAME = 256 * 1024

NESTS_TOO_DEEP = f"the result nests deeper than {MAX_DEPTH} levels"
NOT_UNICODE = "the result holds a string that is not valid Unicode (a lone surrogate)"
NOT_UTF8 = "the worker sent a string that is not valid UTF-8"
TOO_LARGE_INTEGER = "the result holds an integer beyond 64 bits"

_SURROGATE = re.compile("[\ud800-\udfff]")
_CONTAINERS = frozenset({dict, list, tuple})


def cut_note(value: str, limit: int, total: int | None = None) -> str:
    """What follows the first ``limit`` characters of ``value`` (of ``total`` characters,
    where the worker sent only the first ones) once it is cut."""
    total = max(len(value), total or 0)
    return f"… [cut: {total - limit} more of {total} characters]"


def sent_part(text: str, limit: int) -> tuple[str, int]:
    """What of ``text`` a worker sends where only ``limit`` characters are kept: those and
    SECRET_ROOM more; and how many characters it left out."""
    sent = text[: limit + SECRET_ROOM]
    return sent, len(text) - len(sent)


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
