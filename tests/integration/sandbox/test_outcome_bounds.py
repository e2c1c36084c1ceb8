"""What a worker sends back is bounded, then redacted, and checked again by the supervisor:
secrets in names, invalid Unicode, deep nesting, huge lines and hand-made frames end as a
clear outcome, never as a crash or a flood of the server's log."""

from __future__ import annotations

import logging
import re
import tracemalloc
from typing import Any

import pytest

from connectord.runtime.calls import run_in_sandbox
from connectord.sandbox.bounds import (
    MAX_DEPTH,
    MAX_NAME_CHARS,
    MAX_TEXT_CHARS,
    MAX_VALUES,
    TOO_MANY_VALUES,
    cut_note,
)
from connectord.sandbox.calls import Call
from connectord.sandbox.outcomes import Rejected, Succeeded
from connectord.sandbox.redact import MASK
from connectord.sandbox.supervisor import InvocationResult, Supervisor

pytestmark = pytest.mark.asyncio(loop_scope="module")

TOKEN = "tok-0123456789-secret"


async def shape(supervisor: Supervisor, probe: str, **credentials: Any) -> InvocationResult:
    call = Call(connector="shaper", method="verify_credentials", credentials={"probe": probe, **credentials})
    return await run_in_sandbox(supervisor, call)


def assert_quiet(caplog: pytest.LogCaptureFixture) -> None:
    """At most one warning line for a bad call, and never a traceback."""
    records = [r for r in caplog.records if r.name.startswith("connectord")]
    assert len(records) <= 1, [r.getMessage() for r in records]
    assert not any(r.exc_info for r in records)
    assert "Traceback" not in caplog.text


async def test_a_secret_in_a_config_errors_field_is_masked_and_the_field_cut(supervisor: Supervisor) -> None:
    result = await shape(supervisor, "config_field", token=TOKEN, size=1000)
    field = TOKEN + "f" * 1000
    assert result.outcome == Rejected(
        "ConfigError",
        "the token is wrong",
        MASK + "f" * (MAX_NAME_CHARS - len(TOKEN)) + cut_note(field, MAX_NAME_CHARS),
    )
    assert TOKEN not in repr(result)


async def test_a_secret_in_a_verify_failures_field_is_masked_and_the_field_cut(
    supervisor: Supervisor,
) -> None:
    result = await shape(supervisor, "failure_field", token=TOKEN, size=1000)
    field = TOKEN + "f" * 1000
    assert result.outcome == Succeeded(
        {
            "verified": False,
            "message": "the token is wrong",
            "failure": {
                "kind": "config",
                "field": MASK + "f" * (MAX_NAME_CHARS - len(TOKEN)) + cut_note(field, MAX_NAME_CHARS),
            },
        }
    )


async def test_a_secret_in_an_error_type_name_is_masked_and_the_name_cut(supervisor: Supervisor) -> None:
    result = await shape(supervisor, "error_type", token=TOKEN, size=1000)
    name = f"Refused{TOKEN}" + "E" * 1000
    kept = MAX_NAME_CHARS - len("Refused") - len(TOKEN)
    assert result.outcome == Rejected(
        "Refused" + MASK + "E" * kept + cut_note(name, MAX_NAME_CHARS), "refused"
    )


@pytest.mark.parametrize(
    ("probe", "expected"),
    [
        ("odd_field", Rejected("ConfigError", "odd", "7")),
        ("unshowable", Rejected("Unshowable", "(Unshowable that cannot be shown)")),
    ],
)
async def test_exceptions_that_do_not_say_what_they_should_are_still_rejections(
    supervisor: Supervisor, probe: str, expected: Rejected
) -> None:
    assert (await shape(supervisor, probe, size=7)).outcome == expected


async def test_an_integer_msgpack_cannot_carry_is_rejected_not_a_crash(supervisor: Supervisor) -> None:
    call = Call(connector="shaper", method="get_meta_model", action="deep", cfg={"integer": 2**40})
    result = await run_in_sandbox(supervisor, call)
    assert result.outcome == Rejected("InvalidResult", "the result holds an integer beyond 64 bits")


async def test_lone_surrogates_in_a_result_are_rejected_not_a_crash(
    supervisor: Supervisor, caplog: pytest.LogCaptureFixture
) -> None:
    result = await shape(supervisor, "surrogate_result")
    assert result.outcome == Rejected(
        "InvalidResult", "the result holds a string that is not valid Unicode (a lone surrogate)"
    )
    assert_quiet(caplog)


async def test_lone_surrogates_in_an_error_message_are_replaced(supervisor: Supervisor) -> None:
    result = await shape(supervisor, "surrogate_error")
    assert result.outcome == Rejected("RuntimeError", "bad \ufffd text")


async def test_lone_surrogates_in_logs_and_prints_are_replaced_and_the_call_succeeds(
    supervisor: Supervisor, caplog: pytest.LogCaptureFixture
) -> None:
    result = await shape(supervisor, "surrogate_log")
    assert result.outcome == Succeeded({"verified": True, "message": "logged"})
    assert [line.message for line in result.logs] == ["bad \ufffd line", "bad \ufffd print"]
    assert_quiet(caplog)


async def test_a_result_nested_deeper_than_the_limit_is_rejected(
    supervisor: Supervisor, caplog: pytest.LogCaptureFixture
) -> None:
    async def meta(depth: int) -> InvocationResult:
        call = Call(connector="shaper", method="get_meta_model", action="deep", cfg={"depth": depth})
        return await run_in_sandbox(supervisor, call)

    rejected = Rejected("InvalidResult", f"the result nests deeper than {MAX_DEPTH} levels")
    with caplog.at_level(logging.WARNING):
        assert (await meta(700)).outcome == rejected
        assert (await meta(5000)).outcome == rejected  # too deep for msgspec's own recursion
        assert_quiet(caplog)
        assert (await meta(MAX_DEPTH)).outcome == rejected  # {"in": ...} adds the 65th level
    assert isinstance((await meta(MAX_DEPTH - 1)).outcome, Succeeded)


@pytest.mark.parametrize("depth", [MAX_DEPTH + 1, 100_000])
async def test_a_hand_made_reply_nested_too_deep_is_rejected_by_the_supervisor(
    supervisor: Supervisor, caplog: pytest.LogCaptureFixture, depth: int
) -> None:
    """The worker's own check bypassed: the supervisor checks again, also a frame too deep to
    decode at all."""
    with caplog.at_level(logging.WARNING):
        result = await shape(supervisor, "raw_deep", size=depth)
    assert result.outcome == Rejected("InvalidResult", f"the result nests deeper than {MAX_DEPTH} levels")
    assert_quiet(caplog)
    assert isinstance((await shape(supervisor, "failure_field", size=0)).outcome, Succeeded)


async def test_a_hand_made_reply_with_invalid_utf8_is_rejected_by_the_supervisor(
    supervisor: Supervisor, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING):
        result = await shape(supervisor, "raw_utf8")
    assert result.outcome == Rejected("InvalidResult", "the worker sent a string that is not valid UTF-8")
    assert_quiet(caplog)


async def test_a_log_frame_longer_than_a_worker_sends_is_not_decoded(
    supervisor: Supervisor, caplog: pytest.LogCaptureFixture
) -> None:
    """A worker cuts a log line before it sends it: a longer frame can only be hand-made,
    and the supervisor decodes no more than one reply of that size per call."""
    size = 4 * 1024 * 1024
    with caplog.at_level(logging.WARNING):
        result = await shape(supervisor, "raw_long_log", size=size)
    assert isinstance(result.outcome, Rejected)
    assert result.outcome.error_type == "InvalidResult"
    framed = re.fullmatch(r"the worker sent a frame of (\d+) bytes that is no reply", result.outcome.message)
    assert framed is not None and int(framed.group(1)) > size, result.outcome.message
    assert result.logs == []
    assert_quiet(caplog)


async def test_a_reply_of_many_tiny_objects_costs_the_supervisor_a_few_times_its_size(
    supervisor: Supervisor,
) -> None:
    count = 1_000_000  # a frame of 1 MB
    credentials = {"probe": "raw_tiny_objects", "size": count}
    call = Call(connector="shaper", method="verify_credentials", credentials=credentials)
    tracemalloc.start()
    try:
        # tracemalloc slows the supervisor's count of the values tenfold: past the usual deadline
        result = await run_in_sandbox(supervisor, call, timeout=30)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert result.outcome == Rejected("ResultTooLarge", TOO_MANY_VALUES)
    assert peak < 16 * count, f"the supervisor held {peak / 2**20:.0f} MiB for a reply of 1 MB"


async def test_a_result_of_more_values_than_the_limit_is_rejected_by_the_worker(
    supervisor: Supervisor, caplog: pytest.LogCaptureFixture
) -> None:
    """Said by the worker itself: a connector's honest result (a tenant's ``json_agg`` of a
    million empty objects through the ``sql`` connector) is refused before it is sent."""

    async def meta(values: int) -> InvocationResult:
        call = Call(connector="shaper", method="get_meta_model", action="deep", cfg={"values": values})
        return await run_in_sandbox(supervisor, call)

    with caplog.at_level(logging.WARNING):
        assert (await meta(MAX_VALUES - 6)).outcome == Rejected("ResultTooLarge", TOO_MANY_VALUES)
        assert (await meta(2_000_000)).outcome == Rejected("ResultTooLarge", TOO_MANY_VALUES)
        assert_quiet(caplog)
    # The most a result may hold passes the supervisor's own count of the reply, too.
    kept = (await meta(MAX_VALUES - 7)).outcome
    assert isinstance(kept, Succeeded) and len(kept.data["in"]["enum"]) == MAX_VALUES - 7


async def test_a_huge_log_line_is_cut_and_the_supervisor_goes_on(supervisor: Supervisor) -> None:
    size = 15 * 1024 * 1024
    result = await shape(supervisor, "huge_log", size=size)
    assert result.outcome == Succeeded({"verified": True, "message": "logged"})
    [line] = result.logs
    assert line.message == "x" * MAX_TEXT_CHARS + cut_note("x" * size, MAX_TEXT_CHARS)
    assert line.logger == "n" * MAX_NAME_CHARS + cut_note("n" * 1000, MAX_NAME_CHARS)
    assert isinstance((await shape(supervisor, "failure_field", size=0)).outcome, Succeeded)


async def test_a_secret_split_by_the_cut_is_masked_whole(supervisor: Supervisor) -> None:
    result = await shape(supervisor, "split", token=TOKEN, size=MAX_TEXT_CHARS)
    text = "x" * (MAX_TEXT_CHARS - len(TOKEN) // 2) + TOKEN + "y" * 100
    expected = "x" * (MAX_TEXT_CHARS - len(TOKEN) // 2) + MASK + cut_note(text, MAX_TEXT_CHARS)
    assert result.outcome == Rejected("RuntimeError", expected)
    assert [line.message for line in result.logs] == [expected]
    assert TOKEN[:4] not in repr(result)
