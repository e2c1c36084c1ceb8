"""Events between nodes on PostgreSQL: two store objects on one database are two nodes;
what one writes, the other hears (the schema's triggers NOTIFY), and a listener that lost
its connection comes back by itself and says so."""

from __future__ import annotations

import queue
import threading
import time

import msgspec
import psycopg
import pytest

from connectord.runtime.store.postgres import LISTEN_POLL, PostgresStore, _Listener
from connectord.runtime.store.records import (
    DefinitionRecord,
    ExecutionEnd,
    Fire,
    JobEnd,
    NewExecution,
    NewJob,
)

pytestmark = pytest.mark.postgres
T0 = 1_800_000_000.0
LEASE = T0 + 60
WAIT = 10.0  # seconds an expected event may take at most (it takes milliseconds)


class Events:
    """A callback that collects events, and waits for them with a timeout."""

    def __init__(self) -> None:
        self.received: queue.Queue[str] = queue.Queue()

    def __call__(self, event: str) -> None:
        self.received.put(event)

    def expect(self, *events: str) -> None:
        got = []
        for _ in events:
            try:
                got.append(self.received.get(timeout=WAIT))
            except queue.Empty:
                break
        assert got == list(events)

    def expect_only(self, sender: PostgresStore, *events: str) -> None:
        """``events`` and nothing else: a marker announced after them comes next."""
        sender.announce("marker")
        self.expect(*events, "marker")


def test_executions_queued_and_done_on_one_node_are_heard_on_the_other(
    nodes: tuple[PostgresStore, PostgresStore], tenant: str
) -> None:
    a, b = nodes
    events = Events()
    stop = b.listen(events)
    try:
        a.add_execution(NewExecution("e1", tenant, b"call", T0))
        events.expect("execution-queued")
        claimed = a.claim_execution(T0, "node-a", LEASE)
        assert claimed is not None
        events.expect_only(a)  # a claim is no news
        a.finish_execution("e1", claimed.fence, ExecutionEnd(b"out", b"[]", T0, T0 + 100))
        events.expect("execution-done:e1")
        a.deliver_result(tenant, "e1", T0)
        a.add_execution(NewExecution("e2", tenant, b"call", T0))
        a.cancel_execution(tenant, "e2", ExecutionEnd(b"cancelled", b"[]", T0, T0 + 100))
        events.expect_only(a, "execution-queued", "execution-done:e2")
        a.add_answered_execution("e3", tenant, ExecutionEnd(b"cached", b"[]", T0, T0 + 100))
        events.expect_only(a)  # answered at once: no one waits for it
        # a node died: its execution is queued again, then ends as crashed
        a.add_execution(NewExecution("e4", tenant, b"call", T0))
        a.claim_execution(T0, "node-a", LEASE)
        a.reap_executions(LEASE + 1, 2, ExecutionEnd(b"crashed", b"[]", LEASE + 1, T0 + 100))
        a.claim_execution(T0, "node-a", LEASE)
        a.reap_executions(LEASE + 1, 2, ExecutionEnd(b"crashed", b"[]", LEASE + 1, T0 + 100))
        events.expect_only(a, "execution-queued", "execution-queued", "execution-done:e4")
    finally:
        stop()


def test_jobs_and_definitions_changes_are_heard_but_not_the_schedulers_moves(
    nodes: tuple[PostgresStore, PostgresStore], tenant: str
) -> None:
    a, b = nodes
    events = Events()
    stop = b.listen(events)
    try:
        a.add_job(NewJob("j1", tenant, "echo", "api", "WAITING", T0, run_at=T0))
        events.expect("job-queued")
        claimed = a.claim_job(T0, "node-a", LEASE)
        assert claimed is not None
        a.retry_job("j1", claimed.fence, b"[]", T0 + 1)
        claimed = a.claim_job(T0 + 1, "node-a", LEASE)
        assert claimed is not None
        a.finish_job("j1", claimed.fence, JobEnd("COMPLETED", b"[]", None, None, T0 + 2))
        events.expect_only(a, "job-queued", "job-done:j1")

        record = DefinitionRecord(
            "d1", tenant, "code", "echo", "STARTED", b"{}", b"sealed", T0, 1, 10, 86400.0, T0, T0
        )
        a.add_definition(record)
        events.expect("definition:d1")
        row = NewJob(
            "j2", tenant, "echo", "schedule", "WAITING", T0, "d1", "code", scheduled_for=T0, run_at=T0
        )
        assert a.fire([Fire("d1", 1, T0, T0 + 60, "STARTED", [row])], T0)
        events.expect_only(a, "job-queued")  # the ledger row, not the definition's move
        a.replace_definition(msgspec.structs.replace(record, version=2, next_fire_at=T0 + 60), 1)
        events.expect("definition:d1")
        a.delete_definition(tenant, "code", T0 + 3)
        events.expect_only(a, "definition:d1", "job-done:j2")  # its waiting job is cancelled
    finally:
        stop()


def test_announcements_reach_every_listener_this_node_included(
    nodes: tuple[PostgresStore, PostgresStore],
) -> None:
    a, b = nodes
    mine, theirs = Events(), Events()
    stops = [a.listen(mine), b.listen(theirs)]
    try:
        a.announce("cancel-execution:e1")
        mine.expect("cancel-execution:e1")
        theirs.expect("cancel-execution:e1")
    finally:
        for stop in stops:
            stop()


def test_a_listener_that_lost_its_connection_comes_back_and_says_so(
    nodes: tuple[PostgresStore, PostgresStore], tenant: str, pg_database: str, pg_admin_dsn: str
) -> None:
    a, b = nodes
    events = Events()
    stop = b.listen(events)
    try:
        with psycopg.connect(pg_admin_dsn, autocommit=True) as admin:
            killed = admin.execute(
                """SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity
                   WHERE datname = %s AND query = 'LISTEN connectord'""",
                (pg_database.rsplit("/", 1)[1],),
            ).fetchall()
        assert killed == [(True,)]
        events.expect("reconnected")
        a.add_execution(NewExecution("e1", tenant, b"call", T0))
        events.expect("execution-queued")
    finally:
        stop()


def test_stopping_a_listener_ends_its_thread_promptly(nodes: tuple[PostgresStore, PostgresStore]) -> None:
    a, _ = nodes
    before = {t for t in threading.enumerate() if t.name == "connectord-listen"}
    stop = a.listen(Events())
    started = {t for t in threading.enumerate() if t.name == "connectord-listen"} - before
    assert len(started) == 1
    begun = time.monotonic()
    stop()
    assert time.monotonic() - begun < 5 * LISTEN_POLL
    assert not started.pop().is_alive()


def test_a_listener_without_a_server_keeps_trying_and_still_stops_promptly() -> None:
    events = Events()
    listener = _Listener("postgresql://postgres@127.0.0.1:1/nowhere", (), events, lambda _: None)
    listener.start()  # cannot connect: it retries in the background
    begun = time.monotonic()
    listener.stop()
    assert time.monotonic() - begun < 5 * LISTEN_POLL
    assert events.received.empty()
