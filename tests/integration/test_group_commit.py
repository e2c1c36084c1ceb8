"""Group commit on the SQLite store: calls that queue behind a transaction share the next one,
yet each call succeeds or fails as it would alone, and nothing is reported before it is
committed."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from connectord.runtime.store.records import ConflictError, StoreSyncError, StoreUnavailableError
from connectord.runtime.store.runner import GroupCommitRunner, store_runner
from connectord.runtime.store.sqlite import SQLiteStore


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SQLiteStore]:
    opened = SQLiteStore(tmp_path / "store.sqlite3")
    yield opened
    opened.close()


@pytest_asyncio.fixture
async def runner(store: SQLiteStore) -> AsyncIterator[GroupCommitRunner]:
    made = store_runner(store)
    assert isinstance(made, GroupCommitRunner)
    yield made
    made.close()


@contextlib.asynccontextmanager
async def held(runner: GroupCommitRunner) -> AsyncIterator[None]:
    """The runner's thread busy until the block ends: what is queued meanwhile is one batch."""
    entered, release = threading.Event(), threading.Event()

    def hold() -> None:
        entered.set()
        release.wait(10)

    turn = asyncio.ensure_future(runner(hold))
    assert await asyncio.to_thread(entered.wait, 10)
    try:
        yield
    finally:
        release.set()
        await turn


async def behind_a_held_turn(runner: GroupCommitRunner, calls: list[Callable[[], Any]]) -> list[Any]:
    """Each call's value, or the exception it raised, run as one batch."""
    async with held(runner):
        queued = [asyncio.ensure_future(runner(call)) for call in calls]
        await asyncio.sleep(0)  # each task puts its call on the queue when it first runs
    return await asyncio.gather(*queued, return_exceptions=True)


def settings(store: SQLiteStore, *names: str) -> list[bytes | None]:
    return [store.setting(name) for name in names]


async def test_queued_calls_share_one_transaction(runner: GroupCommitRunner, store: SQLiteStore) -> None:
    names = [f"s{i}" for i in range(10)]
    results = await behind_a_held_turn(runner, [lambda n=n: store.put_setting(n, n.encode()) for n in names])
    assert results == [None] * 10
    assert runner.turns == 2  # the held call, then all ten at once
    assert settings(store, *names) == [n.encode() for n in names]


async def test_a_call_that_fails_in_a_batch_is_undone_alone(
    runner: GroupCommitRunner, store: SQLiteStore
) -> None:
    store.add_user("taken@example.com", "acme", "hash-1", 1.0)
    results = await behind_a_held_turn(
        runner,
        [
            lambda: store.put_setting("before", b"1"),
            # a new tenant and user are written, then the key's insert breaks a constraint
            lambda: store.add_user("new@example.com", "globex", "hash-1", 2.0),
            lambda: store.put_setting("after", b"2"),
        ],
    )
    assert results[0] is None and results[2] is None
    assert isinstance(results[1], Exception) and not isinstance(results[1], StoreUnavailableError)
    assert runner.turns == 2
    assert settings(store, "before", "after") == [b"1", b"2"]
    # the failed call left nothing behind: the same user can be added now
    store.add_user("new@example.com", "globex", "hash-2", 3.0)


@pytest.mark.parametrize("alone", [True, False])
async def test_a_call_that_fails_first_is_undone_alone(
    runner: GroupCommitRunner, store: SQLiteStore, alone: bool
) -> None:
    """The first write of a batch (or of a lone call) begins its transaction: a failure
    there undoes that call's writes, not the calls after it."""
    store.add_user("taken@example.com", "acme", "hash-1", 1.0)
    failing = [lambda: store.add_user("new@example.com", "globex", "hash-1", 2.0)]
    if alone:
        with pytest.raises(Exception) as failed:
            await runner(failing[0])
        assert not isinstance(failed.value, StoreUnavailableError)
    else:
        results = await behind_a_held_turn(runner, [*failing, lambda: store.put_setting("after", b"2")])
        assert isinstance(results[0], Exception) and results[1] is None
        assert settings(store, "after") == [b"2"]
    with contextlib.closing(sqlite3.connect(store.path)) as db:
        assert db.execute("SELECT count(*) FROM tenants WHERE name = 'globex'").fetchone() == (0,)


async def test_a_batch_that_finds_the_store_unavailable_runs_again_call_by_call(
    runner: GroupCommitRunner, store: SQLiteStore
) -> None:
    failures = [StoreUnavailableError("disk I/O error")]

    def flaky() -> str:
        if failures:
            raise failures.pop()
        return "ok"

    results = await behind_a_held_turn(
        runner,
        [
            lambda: store.add_user("once@example.com", "acme", "hash-once", 1.0),
            flaky,
            lambda: store.put_setting("later", b"3"),
        ],
    )
    # Had the batch's first write been kept, the second run would find the user there.
    assert not isinstance(results[0], ConflictError), results[0]
    assert results[1:] == ["ok", None]
    assert runner.turns == 1 + 3  # the held call; the batch (rolled back) counts for nothing
    assert store.principal("hash-once") is not None


async def test_a_caller_that_gives_up_does_not_stop_the_others(
    runner: GroupCommitRunner, store: SQLiteStore
) -> None:
    async with held(runner):
        gone = asyncio.ensure_future(runner(store.put_setting, "gone", b"g"))
        kept = asyncio.ensure_future(runner(store.put_setting, "kept", b"k"))
        await asyncio.sleep(0)
        gone.cancel()
    assert await kept is None
    assert gone.cancelled()
    # the call was on its way: it ran all the same, as with a thread pool
    assert settings(store, "gone", "kept") == [b"g", b"k"]


async def test_a_batch_the_disk_did_not_confirm_is_not_made_again(
    runner: GroupCommitRunner, store: SQLiteStore
) -> None:
    """Its commit was made, then the sync of the WAL failed (here: the WAL file is gone
    from the directory, so it cannot be opened to sync): each call is told so, and none
    is run again on its own (which would make it twice)."""
    store.put_setting("first", b"1")  # the WAL exists from here
    wal = Path(f"{store.path}-wal")
    async with held(runner):
        queued = [
            asyncio.ensure_future(runner(lambda n=n: store.add_user(f"{n}@example.com", n, f"hash-{n}", 1.0)))
            for n in ("a", "b")
        ]
        await asyncio.sleep(0)
        wal.unlink()  # SQLite writes on through the descriptor it holds
    results = await asyncio.gather(*queued, return_exceptions=True)
    assert [type(r) for r in results] == [StoreSyncError, StoreSyncError]
    assert runner.turns == 2  # the held call, then the batch: no call alone after it
    assert store.principal("hash-a") is not None and store.principal("hash-b") is not None


async def test_what_a_call_made_reaches_its_caller_when_the_disk_did_not_confirm_it(
    runner: GroupCommitRunner, store: SQLiteStore
) -> None:
    """Alone or in a batch, a call whose commit was not confirmed is told so with what it
    returned: a claim it made must not be forgotten, and it is not made again."""

    def add(name: str) -> str:
        store.add_user(f"{name}@example.com", name, f"hash-{name}", 1.0)
        return name

    store.put_setting("first", b"1")  # the WAL exists from here
    Path(f"{store.path}-wal").unlink()  # every sync fails from here
    with pytest.raises(StoreSyncError) as alone:
        await runner(add, "c")
    assert alone.value.made == ("c",)
    async with held(runner):
        queued = [asyncio.ensure_future(runner(add, name)) for name in ("d", "e")]
        await asyncio.sleep(0)
    errors = await asyncio.gather(*queued, return_exceptions=True)
    assert [getattr(error, "made", None) for error in errors] == [("d",), ("e",)]
    assert runner.turns == 3  # c alone, the held call, d and e together: none made twice
    assert all(store.principal(f"hash-{name}") is not None for name in "cde")


async def test_a_read_does_not_wait_for_the_write_lock(runner: GroupCommitRunner, store: SQLiteStore) -> None:
    """Another process writing (``connectord users`` beside a running server) holds the
    one write lock; reads go on meanwhile, as they would without a batch."""
    store.add_user("r@example.com", "r", "hash-r", 1.0)
    writer = sqlite3.connect(store.path, isolation_level=None)
    try:
        writer.execute("BEGIN IMMEDIATE")
        found = await asyncio.wait_for(runner(store.principal, "hash-r"), 2)  # not the 5 s busy wait
        assert found is not None
    finally:
        writer.execute("ROLLBACK")
        writer.close()
