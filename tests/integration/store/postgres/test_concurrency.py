"""Several nodes on one PostgreSQL database at once (store objects with pools of their own,
used from many threads): claims never overlap nor wait, a result is delivered once, a slot
is fired once, a 'queue' definition runs one job at a time, reapers share the work."""

from __future__ import annotations

import collections
import threading
from collections.abc import Callable
from functools import partial
from typing import TypeVar

import psycopg
import pytest

from connectord.runtime.store.postgres import PostgresStore
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
R = TypeVar("R")


def together(*calls: Callable[[], R]) -> list[R]:
    """Run the calls on threads of their own, released at once; their results in order."""
    barrier = threading.Barrier(len(calls))
    results: list[R | None] = [None] * len(calls)
    errors: list[BaseException] = []

    def run(i: int) -> None:
        barrier.wait(timeout=10)
        try:
            results[i] = calls[i]()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert errors == []
    return results  # type: ignore[return-value]


def test_many_claimers_on_two_nodes_claim_each_execution_exactly_once(
    nodes: tuple[PostgresStore, PostgresStore], tenant: str
) -> None:
    a, b = nodes
    count, per_node = 200, 4
    for i in range(count):
        a.add_execution(NewExecution(f"e{i:03}", tenant, b"call", T0 + i))

    def claimer(store: PostgresStore, node: str) -> Callable[[], list[tuple[str, int]]]:
        def claim_all() -> list[tuple[str, int]]:
            claimed = []
            while (execution := store.claim_execution(T0, node, LEASE)) is not None:
                claimed.append((execution.id, execution.fence))
            return claimed

        return claim_all

    results = together(*(claimer(s, n) for s, n in ((a, "node-a"), (b, "node-b")) for _ in range(per_node)))
    claimed = [c for result in results for c in result]
    assert collections.Counter(i for i, _ in claimed) == {f"e{i:03}": 1 for i in range(count)}
    assert {fence for _, fence in claimed} == {1}
    assert sum(1 for r in results if r) > 1  # the work was shared, not done by one thread


def test_a_result_asked_on_two_nodes_at_once_is_delivered_to_one(
    nodes: tuple[PostgresStore, PostgresStore], tenant: str
) -> None:
    a, b = nodes
    for i in range(20):
        a.add_execution(NewExecution(f"e{i}", tenant, b"call", T0))
        claimed = a.claim_execution(T0, "node-a", LEASE)
        assert claimed is not None
        a.finish_execution(claimed.id, claimed.fence, ExecutionEnd(b"out", b"[]", T0, T0 + 100))
        got = together(
            partial(a.deliver_result, tenant, f"e{i}", T0), partial(b.deliver_result, tenant, f"e{i}", T0)
        )
        assert sorted(r is None for r in got) == [False, True]
        assert [r.outcome for r in got if r is not None] == [b"out"]


def definition(tenant: str, code: str) -> DefinitionRecord:
    return DefinitionRecord(
        f"id-{code}", tenant, code, "echo", "STARTED", b"{}", b"sealed", T0, 1, 10, 86400.0, T0, T0
    )


def fire(store: PostgresStore, record: DefinitionRecord, job_id: str) -> list[NewJob]:
    row = NewJob(
        job_id,
        record.tenant_id,
        "echo",
        "schedule",
        "WAITING",
        T0,
        record.id,
        record.code,
        scheduled_for=T0,
        run_at=T0,
    )
    return store.fire([Fire(record.id, 1, T0, T0 + 60, "STARTED", [row])], T0)


def test_two_nodes_firing_one_decision_record_the_slot_once(
    nodes: tuple[PostgresStore, PostgresStore], tenant: str
) -> None:
    a, b = nodes
    for i in range(10):
        record = definition(tenant, f"d{i}")
        a.add_definition(record)
        added = together(partial(fire, a, record, f"a{i}"), partial(fire, b, record, f"b{i}"))
        assert sorted(len(jobs) for jobs in added) == [0, 1]
        assert len(a.jobs(tenant, 10, 0, definition_code=record.code)) == 1
        assert (T0 + 60, record.id, 1) in a.scheduled_definitions()


def test_nodes_firing_overlapping_decisions_in_any_order_do_not_deadlock(
    nodes: tuple[PostgresStore, PostgresStore], tenant: str
) -> None:
    a, b = nodes
    for i in range(10):
        first, second = definition(tenant, f"x{i}"), definition(tenant, f"y{i}")
        a.add_definition(first)
        a.add_definition(second)

        def fire_both(store: PostgresStore, records: list[DefinitionRecord], node: str) -> list[NewJob]:
            return store.fire(
                [
                    Fire(
                        r.id,
                        1,
                        T0,
                        T0 + 60,
                        "STARTED",
                        [
                            NewJob(
                                f"{node}-{r.code}",
                                tenant,
                                "echo",
                                "schedule",
                                "WAITING",
                                T0,
                                r.id,
                                r.code,
                                scheduled_for=T0,
                                run_at=T0,
                            )
                        ],
                    )
                    for r in records
                ],
                T0,
            )

        added = together(
            partial(fire_both, a, [first, second], "a"), partial(fire_both, b, [second, first], "b")
        )
        assert sorted(len(jobs) for jobs in added) == [0, 2]
        # the jobs come back in the order of the decisions
        assert [[j.definition_id for j in jobs] for jobs in added if jobs] in (
            [[first.id, second.id]],
            [[second.id, first.id]],
        )
        assert (added[0] and added[0][0].definition_id == first.id) or (
            added[1] and added[1][0].definition_id == second.id
        )


def test_a_queue_definition_runs_one_job_at_a_time_whichever_node_claims(
    nodes: tuple[PostgresStore, PostgresStore], tenant: str
) -> None:
    a, b = nodes
    for i in range(10):
        record = definition(tenant, f"d{i}")
        a.add_definition(record)
        for n in range(2):
            job = NewJob(
                f"d{i}-j{n}",
                tenant,
                "echo",
                "api",
                "WAITING",
                T0 + n,
                record.id,
                record.code,
                overlap="queue",
                run_at=T0,
            )
            assert a.add_definition_job(job)
        claims = together(
            partial(a.claim_job, T0, "node-a", LEASE), partial(b.claim_job, T0, "node-b", LEASE)
        )
        started = [c for c in claims if c is not None]
        assert len(started) == 1
        assert len(a.jobs(tenant, 10, 0, definition_code=record.code, status="STARTED")) == 1
        # once it is over, the other one runs
        done = started[0]
        assert a.finish_job(done.job.id, done.fence, JobEnd("COMPLETED", b"[]", None, None, T0 + 1))
        following = b.claim_job(T0 + 1, "node-b", LEASE)
        assert following is not None and following.job.definition_id == record.id
        assert b.finish_job(following.job.id, following.fence, JobEnd("COMPLETED", b"[]", None, None, T0 + 2))


def test_reapers_on_two_nodes_share_the_expired_leases(
    nodes: tuple[PostgresStore, PostgresStore], tenant: str
) -> None:
    a, b = nodes
    count = 50
    for i in range(count):
        a.add_execution(NewExecution(f"e{i}", tenant, b"call", T0 + i))
        a.add_job(NewJob(f"j{i}", tenant, "echo", "api", "WAITING", T0, max_retries=1, run_at=T0))
        assert a.claim_execution(T0, "dead-node", LEASE) is not None
        assert a.claim_job(T0, "dead-node", LEASE) is not None
    reaped = together(
        partial(a.reap_executions, LEASE + 1, 5, ExecutionEnd(b"crashed", b"[]", LEASE + 1, T0 + 100)),
        partial(b.reap_executions, LEASE + 1, 5, ExecutionEnd(b"crashed", b"[]", LEASE + 1, T0 + 100)),
        partial(a.reap_jobs, LEASE + 1),
        partial(b.reap_jobs, LEASE + 1),
    )
    assert reaped[0].requeued + reaped[1].requeued == count
    assert reaped[2].requeued + reaped[3].requeued == count
    assert all(r.ended == [] for r in reaped)
    assert len(a.jobs(tenant, 100, 0, status="WAITING")) == count


def test_a_claim_looks_past_rows_other_nodes_are_claiming(
    nodes: tuple[PostgresStore, PostgresStore], tenant: str, pg_database: str
) -> None:
    a, b = nodes
    for i in range(400):
        a.add_execution(NewExecution(f"e{i:03}", tenant, b"call", T0 + i))
    # Three other nodes' largest claims in flight: the head of the tenant's queue locked.
    others = [psycopg.connect(pg_database) for _ in range(3)]
    try:
        for k, other in enumerate(others):
            ids = [f"e{i:03}" for i in range(64 * k, 64 * k + 64)]
            other.execute("SELECT id FROM executions WHERE id = ANY(%s) FOR UPDATE", (ids,))
        claimed = b.claim_executions(T0 + 500, "node-b", LEASE, 64)
    finally:
        for other in others:
            other.rollback()
            other.close()
    assert sorted(each.id for each in claimed) == [f"e{i:03}" for i in range(192, 256)]


def test_a_finish_and_the_claim_it_makes_are_one_transaction(
    nodes: tuple[PostgresStore, PostgresStore], tenant: str
) -> None:
    a, _ = nodes
    for i in range(2):
        a.add_execution(NewExecution(f"e{i}", tenant, b"call", T0 + i))
    [first] = a.claim_executions(T0 + 5, "node-a", LEASE, 1)
    before = a.db.transactions()
    end = ExecutionEnd(b"o", b"l", T0 + 6, T0 + 60)
    finished, [second] = a.finish_and_claim(first.id, first.fence, end, None, (T0 + 6, "node-a", LEASE))
    assert finished and second.id == "e1"
    # all or nothing: a finish committed without its claim would be retried, and then
    # find itself recorded already
    assert a.db.transactions() - before == 1
