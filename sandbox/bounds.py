"""How much of what a worker sends back is kept, and which shapes it may have.

Written once here for both sides: the worker checks its reply before it encodes it (so it
never fails to encode one), and the supervisor checks again what it decoded, since
connector code holds the socket and can write any frame msgpack can carry.
"""

from __future__ import annotations

import re
from collections.abc import Generator
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

#: Values a result may hold: each object, array, key, string, number, boolean and null
#: counts one. What a value costs the supervisor is not its size in the frame: an empty
#: object is one byte of msgpack but a 64-byte dict, so 2,000,000 of them (2 MB) held the
#: server's loop for seconds. 500,000 is 10,000 rows of 49 columns (``runQuery``'s most).
MAX_VALUES = 500_000

#: Values of a reply frame that are not its result's: its own fields and its outcome's.
REPLY_VALUES = 32

NESTS_TOO_DEEP = f"the result nests deeper than {MAX_DEPTH} levels"
TOO_MANY_VALUES = (
    f"the result holds more than {MAX_VALUES:,} values (objects, arrays, keys, strings, numbers)"
)
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


def shape_problem(value: Any) -> str | None:
    """Why ``value`` (JSON-like data as msgspec decodes it) cannot be a result: it nests
    deeper than MAX_DEPTH objects or arrays, or holds more than MAX_VALUES values; None
    when it fits. Walks with a stack of its own, never by recursion, so any depth is
    answered without a RecursionError; a container of scalars only is looked through in C."""
    if type(value) not in _CONTAINERS:
        return None
    values = 1
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        is_dict = type(item) is dict
        values += 2 * len(item) if is_dict else len(item)
        if values > MAX_VALUES:
            return TOO_MANY_VALUES
        children = item.values() if is_dict else item
        if _CONTAINERS.isdisjoint(map(type, children)):
            continue
        if depth >= MAX_DEPTH:
            return NESTS_TOO_DEEP
        stack.extend((child, depth + 1) for child in children if type(child) in _CONTAINERS)
    return None


def _msgpack_kinds() -> tuple[tuple[int, int], ...]:
    """For each first byte of a msgpack value: (kind, n). Kind 0: a value of n bytes in
    all; 1: a string, binary or extension whose length follows in n bytes (``_EXTRA``
    more after it for an extension's type); 2: an array of n items; 3: a map of n pairs;
    4, 5: an array, a map whose length follows in n bytes; -1: no msgpack."""
    kinds = [(0, 1)] * 256
    for b in range(0x80, 0x90):
        kinds[b] = (3, b & 0x0F)
    for b in range(0x90, 0xA0):
        kinds[b] = (2, b & 0x0F)
    for b in range(0xA0, 0xC0):
        kinds[b] = (0, 1 + (b & 0x1F))
    kinds[0xC1] = (-1, 0)
    for first, n in zip(b"\xc4\xc5\xc6\xc7\xc8\xc9\xd9\xda\xdb", (1, 2, 4) * 3, strict=True):
        kinds[first] = (1, n)  # bin, ext, str 8/16/32
    for first, n in zip(b"\xca\xcb\xcc\xcd\xce\xcf", (5, 9, 2, 3, 5, 9), strict=True):
        kinds[first] = (0, n)  # float 32/64, uint 8-64
    for first, n in zip(b"\xd0\xd1\xd2\xd3\xd4\xd5\xd6\xd7\xd8", (2, 3, 5, 9, 3, 4, 6, 10, 18), strict=True):
        kinds[first] = (0, n)  # int 8-64, fixext 1-16
    kinds[0xDC], kinds[0xDD], kinds[0xDE], kinds[0xDF] = (4, 2), (4, 4), (5, 2), (5, 4)
    return tuple(kinds)


_KINDS = _msgpack_kinds()
_EXTRA = {0xC7: 1, 0xC8: 1, 0xC9: 1}


def msgpack_shape_problem(
    body: bytes, depth_limit: int = MAX_DEPTH, value_limit: int = MAX_VALUES
) -> str | None:
    """Why the msgpack ``body`` holds more than a result may: ``msgpack_shape_scan`` at once."""
    scan = msgpack_shape_scan(body, depth_limit, value_limit)
    while True:
        try:
            next(scan)
        except StopIteration as done:
            problem: str | None = done.value
            return problem


#: Values ``msgpack_shape_scan`` reads between two pauses: ≈ 6 ms of a 2-core machine's CPU.
SCAN_STEP = 16_384


def msgpack_shape_scan(
    body: bytes, depth_limit: int = MAX_DEPTH, value_limit: int = MAX_VALUES, step: int = SCAN_STEP
) -> Generator[None, None, str | None]:
    """Why the msgpack ``body`` holds more than a result may (deeper than ``depth_limit``
    containers, more than ``value_limit`` values), read without building any of it: what a
    value costs once decoded is not its size in bytes. None when it fits, or is no msgpack
    (the decoder says so then). It stops at the first value past a limit, so its cost is
    bounded by the limits, not by the body, and pauses (yields) every ``step`` values: the
    supervisor's event loop serves others meanwhile."""
    kinds, extra = _KINDS, _EXTRA
    end = len(body)
    pos = values = 0
    pause = min(step, value_limit)  # one comparison a value for both
    left = [1]  # values still to read in each open container, the body itself outermost
    while left:
        if not left[-1]:
            left.pop()
            continue
        left[-1] -= 1
        if pos >= end:
            return None
        values += 1
        if values > pause:
            if values > value_limit:
                return TOO_MANY_VALUES
            yield
            pause = min(pause + step, value_limit)
        first = body[pos]
        kind, n = kinds[first]
        if kind == 0:
            pos += n
        elif kind == 1:
            size = int.from_bytes(body[pos + 1 : pos + 1 + n], "big")
            pos += 1 + n + extra.get(first, 0) + size
        elif kind < 0:
            return None
        else:
            if kind >= 4:
                count = int.from_bytes(body[pos + 1 : pos + 1 + n], "big")
                pos += 1 + n
            else:
                count = n
                pos += 1
            if len(left) > depth_limit:
                return NESTS_TOO_DEEP
            left.append(2 * count if kind in (3, 5) else count)
    return None


def without_surrogates(text: str) -> str:
    """``text`` with each lone surrogate (which UTF-8 cannot encode) as U+FFFD."""
    return _SURROGATE.sub("\ufffd", text)
