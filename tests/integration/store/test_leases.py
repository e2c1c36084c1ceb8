"""The store's contract for several nodes: leases, fencing tokens, reaping, the store's
clock and what a store tells about itself, on every backend."""

from __future__ import annotations

import time
from collections.abc import Callable

import msgspec

from connectord.runtime.store import Store
from connectord.runtime.store.records import (
    ClaimedJob,
    ExecutionEnd,
    JobEnd,
    NewExecution,
    NewJob,
    Reaped,
    Renewed,
    lost_attempt,
)

T0 = 1_800_000_000.0
LEASE = 30.0


def test_a_store_tells_what_it_is(open_store: Callable[[], Store], store: Store) -> None:
    assert store.url.startswith(("sqlite:///", "postgresql://"))
    assert isinstance(store.single_node, bool)
    assert store.concurrency == (1 if store.single_node else 8)
    assert store.schema_version >= 1
    assert store.applied == list(range(1, store.schema_version + 1))  # type: ignore[attr-defined]
    reopened = open_store()
    assert reopened.applied == []  # type: ignore[attr-defined]
    assert reopened.schema_version == store.schema_version


def test_settings_are_kept_and_replaced(open_store: Callable[[], Store], store: Store) -> None:
    assert store.setting("secret-key-check") is None
    store.put_setting("secret-key-check", b"sealed\x00one")
    store.put_setting("secret-key-check", b"sealed\x00two")
    other = open_store()  # another node (or a restart) sees it
    assert other.setting("secret-key-check") == b"sealed\x00two"
    assert type(other.setting("secret-key-check")) is bytes
    assert other.setting("other") is None


def test_of_two_first_settings_the_first_wins(open_store: Callable[[], Store], store: Store) -> None:
    assert store.add_setting("check", b"first") == b"first"
    assert open_store().add_setting("check", b"second") == b"first"  # another node starting
    assert store.setting("check") == b"first"


def test_the_database_time_is_unix_seconds(store: Store) -> None:
    before = time.time()
    now = store.database_time()
    assert isinstance(now, float)
    assert before - 5 < now < time.time() + 5


def test_renewing_extends_the_leases_of_one_node_only(store: Store, tenant: str) -> None:
    for i in range(3):
        store.add_execution(NewExecution(f"e{i}", tenant, b"call", T0 + i))
    store.claim_execution(T0, "node-1", T0 + LEASE)
    store.claim_execution(T0, "node-2", T0 + LEASE)
    store.add_job(NewJob("j1", tenant, "echo", "api", "WAITING", T0, run_at=T0))
    assert store.claim_job(T0, "node-1", T0 + LEASE) is not None
    assert store.renew_leases("node-1", T0 + 2 * LEASE, ["e0"], ["j1"]) == Renewed(["e0"], ["j1"])
    assert store.renew_leases("node-3", T0 + 2 * LEASE, ["e0", "e1"], ["j1"]) == Renewed([], [])  # not its
    # node-2 stopped renewing: only its execution is taken back
    reaped = store.reap_executions(
        T0 + LEASE + 1, 3, ExecutionEnd(b"crashed", b"[]", T0 + LEASE + 1, T0 + 1000)
    )
    assert (reaped.requeued, reaped.ended) == (1, [])
    assert store.reap_jobs(T0 + LEASE + 1).requeued == 0
    # it has nothing any more: the renewal tells it so (it stops running e1)
    assert store.renew_leases("node-2", T0 + 3 * LEASE, ["e1"], []) == Renewed([], [])


def test_a_claim_its_node_no_longer_runs_is_not_renewed(store: Store, tenant: str) -> None:
    """A node renews what it runs, not everything in its name: a claim whose task died (or
    whose answer was lost on the way) runs out and is taken back."""
    store.add_execution(NewExecution("e1", tenant, b"call", T0))
    store.add_execution(NewExecution("e2", tenant, b"call", T0 + 1))
    store.claim_execution(T0, "node-1", T0 + LEASE)
    store.claim_execution(T0, "node-1", T0 + LEASE)
    assert store.renew_leases("node-1", T0 + 10 * LEASE, ["e2"], []) == Renewed(["e2"], [])
    reaped = store.reap_executions(
        T0 + LEASE + 1, 3, ExecutionEnd(b"crashed", b"[]", T0 + LEASE + 1, T0 + 1000)
    )
    assert reaped.requeued == 1
    orphan = store.execution(tenant, "e1")
    assert orphan is not None and orphan.state == "queued"


def test_a_stopping_node_releases_its_claims_uncounted(store: Store, tenant: str) -> None:
    store.add_execution(NewExecution("e1", tenant, b"call", T0))
    store.add_job(NewJob("j1", tenant, "echo", "api", "WAITING", T0, run_at=T0))
    first = store.claim_execution(T0, "node-1", T0 + LEASE)
    claimed_job = store.claim_job(T0, "node-1", T0 + LEASE)
    assert first is not None and claimed_job is not None
    assert store.release_claims("node-2", ["e1"], ["j1"]) == 0  # not its claims
    assert store.release_claims("node-1", ["e1"], ["j1"]) == 2
    assert not store.finish_execution(
        "e1", first.fence, ExecutionEnd(b"late", b"[]", T0 + 1, T0 + 100)
    )  # fenced
    again = store.claim_execution(T0 + 1, "node-2", T0 + LEASE)
    assert again is not None and again.id == "e1" and again.fence > first.fence
    job_again = store.claim_job(T0 + 1, "node-2", T0 + LEASE)
    assert job_again is not None and job_again.job.attempt == 1  # the interrupted one not counted
    # released and claimed again: the claim limit still sees one claim
    crashed = store.reap_executions(
        T0 + LEASE + 1, 2, ExecutionEnd(b"crashed", b"[]", T0 + LEASE + 1, T0 + 1000)
    )
    assert (crashed.requeued, crashed.ended) == (1, [])


def test_a_node_back_after_its_lease_ran_out_cannot_overwrite_the_new_outcome(
    store: Store, tenant: str
) -> None:
    store.add_execution(NewExecution("e1", tenant, b"call", T0))
    old = store.claim_execution(T0, "node-1", T0 + LEASE)
    assert old is not None
    # before the lease ends, nothing is reaped
    assert (
        store.reap_executions(T0 + LEASE, 3, ExecutionEnd(b"crashed", b"[]", T0 + LEASE, T0 + 1000)).requeued
        == 0
    )
    reaped = store.reap_executions(
        T0 + LEASE + 1, 3, ExecutionEnd(b"crashed", b"[]", T0 + LEASE + 1, T0 + 1000)
    )
    assert (reaped.requeued, reaped.ended) == (1, [])
    queued = store.execution(tenant, "e1")
    assert queued is not None and queued.state == "queued"
    new = store.claim_execution(T0 + LEASE + 2, "node-2", T0 + 2 * LEASE)
    assert new is not None and new.id == "e1" and new.fence > old.fence
    assert new.sealed_call == b"call"  # the inputs are still there to run it again
    assert store.finish_execution("e1", new.fence, ExecutionEnd(b"new", b"[]", T0 + LEASE + 3, T0 + 1000))
    assert not store.finish_execution("e1", old.fence, ExecutionEnd(b"old", b"[]", T0 + LEASE + 4, T0 + 1000))
    delivered = store.deliver_result(tenant, "e1", T0 + LEASE + 5)
    assert delivered is not None and delivered.outcome == b"new"


def test_an_execution_claimed_too_often_ends_as_crashed(store: Store, tenant: str) -> None:
    store.add_execution(NewExecution("e1", tenant, b"call", T0))
    store.add_execution(NewExecution("e2", tenant, b"call", T0 + 1))
    now = T0
    for _ in range(2):  # two claims whose nodes die
        claimed = store.claim_execution(now, "node-1", now + LEASE)
        assert claimed is not None and claimed.id == "e1"
        now += LEASE + 1
        reaped = store.reap_executions(now, 2, ExecutionEnd(b"crashed", b"crash-logs", now, now + 1000))
    assert reaped.ended == ["e1"] and reaped.requeued == 0
    done = store.execution(tenant, "e1")
    assert done is not None and (done.state, done.expires_at) == ("done", now + 1000)
    delivered = store.deliver_result(tenant, "e1", now)
    assert delivered is not None and (delivered.outcome, delivered.logs) == (b"crashed", b"crash-logs")
    claimed = store.claim_execution(now, "node-1", now + LEASE)
    assert claimed is not None and claimed.id == "e2"  # e1 is not in the queue any more


def job(tenant: str, job_id: str, max_retries: int) -> NewJob:
    return NewJob(job_id, tenant, "echo", "api", "WAITING", T0, max_retries=max_retries, run_at=T0)


def attempts_of(store: Store, tenant: str, job_id: str) -> list[dict[str, object]]:
    record = store.job(tenant, job_id)
    assert record is not None
    return msgspec.json.decode(record.attempts)  # type: ignore[no-any-return]


def test_a_job_whose_node_was_lost_runs_again_while_it_has_retries(store: Store, tenant: str) -> None:
    store.add_job(job(tenant, "j1", max_retries=1))
    first = store.claim_job(T0, "node-1", T0 + LEASE)
    assert first is not None and first.job.attempt == 1
    assert store.reap_jobs(T0 + LEASE) == Reaped(0, [])  # not yet
    reaped = store.reap_jobs(T0 + LEASE + 1)
    assert (reaped.requeued, reaped.ended) == (1, [])
    record = store.job(tenant, "j1")
    assert record is not None and (record.status, record.run_at) == ("WAITING", T0 + LEASE + 1)
    assert attempts_of(store, tenant, "j1") == [lost_attempt(1, T0, T0 + LEASE + 1)]
    second = store.claim_job(T0 + LEASE + 1, "node-2", T0 + 2 * LEASE)
    assert second is not None and second.job.attempt == 2 and second.fence > first.fence
    assert second.sealed_params == first.sealed_params
    # the lost node comes back: it can record nothing
    assert not store.retry_job("j1", first.fence, b"[]", T0 + 100)
    assert not store.finish_job("j1", first.fence, JobEnd("COMPLETED", b"[]", None, None, T0 + 100))
    assert store.finish_job(
        "j1", second.fence, JobEnd("COMPLETED", second.job.attempts, b"{}", None, T0 + 100)
    )


def test_a_job_whose_node_was_lost_fails_once_out_of_retries(store: Store, tenant: str) -> None:
    store.add_job(job(tenant, "j1", max_retries=0))
    store.add_job(job(tenant, "j2", max_retries=5))
    claims: list[ClaimedJob | None] = [store.claim_job(T0, "node-1", T0 + LEASE) for _ in range(2)]
    assert all(c is not None for c in claims)
    reaped = store.reap_jobs(T0 + LEASE + 1)
    assert (reaped.requeued, reaped.ended) == (1, ["j1"])
    failed = store.job(tenant, "j1")
    assert failed is not None
    assert (failed.status, failed.finished_at, failed.run_at) == ("FAILED", T0 + LEASE + 1, None)
    assert attempts_of(store, tenant, "j1") == [lost_attempt(1, T0, T0 + LEASE + 1)]
    again = store.claim_job(T0 + LEASE + 1, "node-2", T0 + 2 * LEASE)
    assert again is not None and again.job.id == "j2"  # j1 is over
    assert store.claim_job(T0 + LEASE + 1, "node-2", T0 + 2 * LEASE) is None


def test_renewed_leases_are_not_reaped(store: Store, tenant: str) -> None:
    store.add_execution(NewExecution("e1", tenant, b"call", T0))
    store.add_job(job(tenant, "j1", max_retries=0))
    assert store.claim_execution(T0, "node-1", T0 + LEASE) is not None
    assert store.claim_job(T0, "node-1", T0 + LEASE) is not None
    assert store.renew_leases("node-1", T0 + 10 * LEASE, ["e1"], ["j1"]) == Renewed(["e1"], ["j1"])
    assert store.reap_executions(
        T0 + 5 * LEASE, 1, ExecutionEnd(b"crashed", b"[]", T0 + 5 * LEASE, T0 + 1000)
    ) == Reaped(0, [])
    assert store.reap_jobs(T0 + 5 * LEASE) == Reaped(0, [])
    running = store.execution(tenant, "e1")
    assert running is not None and running.state == "running"


def test_a_lost_job_past_its_retry_window_fails(store: Store, tenant: str) -> None:
    """Retrying a lost attempt at or after the job's next slot would run two slots at once."""
    store.add_job(
        NewJob("j1", tenant, "echo", "api", "WAITING", T0, run_at=T0, max_retries=3, retry_until=T0 + 60)
    )
    assert store.claim_job(T0, "node-1", T0 + LEASE) is not None
    reaped = store.reap_jobs(T0 + 61)
    assert (reaped.requeued, reaped.ended) == (0, ["j1"])
    failed = store.job(tenant, "j1")
    assert failed is not None and failed.status == "FAILED"
