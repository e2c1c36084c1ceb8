"""``despite_cancel``: a store call commits whether or not its caller still waits, so what
it made reaches ``keep`` when the caller is cancelled, once, however often."""

from __future__ import annotations

import asyncio

import pytest

from connectord.runtime.store.runner import despite_cancel


async def made(committed: asyncio.Event, answer: list[str]) -> list[str]:
    await committed.wait()
    return answer


async def test_an_answered_call_is_returned_and_not_kept() -> None:
    kept: list[list[str]] = []
    committed = asyncio.Event()
    committed.set()
    assert await despite_cancel(made(committed, ["a"]), kept.append) == ["a"]
    assert kept == []  # the caller has it


@pytest.mark.parametrize("cancels", [1, 2, 3])
async def test_a_cancelled_caller_waits_for_the_call_and_keeps_what_it_made(cancels: int) -> None:
    kept: list[list[str]] = []
    committed = asyncio.Event()
    caller = asyncio.ensure_future(despite_cancel(made(committed, ["a", "b"]), kept.append))
    await asyncio.sleep(0)  # the caller waits for the call
    for _ in range(cancels):  # a shutdown that is itself cancelled cancels again
        caller.cancel()
        await asyncio.sleep(0)
    assert not caller.done()  # still waiting for the call
    committed.set()
    await asyncio.wait([caller])
    assert caller.cancelled()  # the cancel goes on
    assert kept == [["a", "b"]]  # once


async def test_a_call_that_failed_keeps_nothing() -> None:
    kept: list[object] = []
    failing = asyncio.Event()

    async def fails() -> object:
        await failing.wait()
        raise OSError("disk gone")

    caller = asyncio.ensure_future(despite_cancel(fails(), kept.append))
    await asyncio.sleep(0)
    caller.cancel()
    await asyncio.sleep(0)
    failing.set()
    await asyncio.wait([caller])
    assert caller.cancelled()
    assert kept == []
