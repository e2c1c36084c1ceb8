"""The supervisor counts a reply's values in its msgpack bytes before it decodes any: what
a value costs once decoded is not its size (an empty object: 1 byte, a 64-byte dict)."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from connectord.sandbox.bounds import (
    MAX_DEPTH,
    MAX_VALUES,
    NESTS_TOO_DEEP,
    TOO_MANY_VALUES,
    msgpack_shape_problem,
    msgpack_shape_scan,
    shape_problem,
)


def nested(depth: int) -> Any:
    value: Any = []
    for _ in range(depth - 1):
        value = [value]
    return value


#: Every kind of msgpack value, in every length encoding.
EVERY_KIND: list[Any] = [
    None, True, False, 0, 127, -1, -32, -33, 255, 65535, 2**32 - 1, 2**64 - 1, -(2**63), 1.5,
    "", "x" * 31, "x" * 32, "x" * 256, "x" * 65536, b"", b"y" * 256, b"y" * 65536,
    *(msgspec.msgpack.Ext(code, b"z" * size) for code, size in enumerate((1, 2, 16, 3, 300, 70000))),
    [0] * 15, [0] * 16, [0] * 65536, {str(i): i for i in range(15)}, {str(i): i for i in range(16)},
    {str(i): None for i in range(65536)},
]


@pytest.mark.parametrize("value", [EVERY_KIND, {"all": EVERY_KIND, "deep": nested(MAX_DEPTH - 1)}])
def test_a_result_within_the_limits_is_read_to_its_end(value: Any) -> None:
    body = msgspec.msgpack.encode(value)
    assert msgpack_shape_problem(body) is None
    if isinstance(value, list):  # the count stops past the limit, and only there
        count = 1 + len(value) + sum(len(v) * (2 if isinstance(v, dict) else 1) for v in value if _has_len(v))
        assert msgpack_shape_problem(body, value_limit=count) is None
        assert msgpack_shape_problem(body, value_limit=count - 1) == TOO_MANY_VALUES


def _has_len(value: Any) -> bool:
    return isinstance(value, list | dict)


def test_too_many_values_are_refused_before_any_is_built() -> None:
    tiny = b"\xdd" + (2_000_000).to_bytes(4, "big") + b"\x80" * 2_000_000  # empty objects
    assert msgpack_shape_problem(tiny) == TOO_MANY_VALUES
    assert shape_problem([{}] * MAX_VALUES) == TOO_MANY_VALUES
    assert shape_problem([{}] * (MAX_VALUES - 1)) is None
    assert msgpack_shape_problem(msgspec.msgpack.encode([{}] * (MAX_VALUES - 1))) is None


@pytest.mark.parametrize("depth", [MAX_DEPTH + 1, 100_000])
def test_nesting_deeper_than_the_limit_is_refused_in_bytes_and_objects(depth: int) -> None:
    body = b"\x91" * (depth - 1) + b"\x90"
    assert msgpack_shape_problem(body) == NESTS_TOO_DEEP
    assert shape_problem(nested(depth)) == NESTS_TOO_DEEP
    assert msgpack_shape_problem(body[depth - MAX_DEPTH :]) is None


def test_what_is_no_msgpack_is_left_to_the_decoder() -> None:
    assert msgpack_shape_problem(b"\xc1") is None
    assert msgpack_shape_problem(b"\x92\x01") is None  # cut short


def test_the_scan_pauses_every_step_so_the_loop_serves_others_meanwhile() -> None:
    body = msgspec.msgpack.encode([0] * 100)  # 101 values
    assert len(list(msgpack_shape_scan(body, step=10))) == 10
    assert len(list(msgpack_shape_scan(body, step=10, value_limit=55))) == 5  # then stopped
