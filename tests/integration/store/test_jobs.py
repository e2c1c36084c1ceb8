"""The store's contract for job definitions and the jobs ledger, on every backend."""

from __future__ import annotations

from collections.abc import Callable

import msgspec
import pytest

from connectord.runtime.store import Store
from connectord.runtime.store.records import (
    ClaimedJob,
    ConflictError,
    DefinitionRecord,
    Fire,
    JobEnd,
    NewJob,
    Renewed,
)

T0 = 1_800_000_000.0
NODE = "node-1"
LEASE = T0 + 10**6
CANCELLED = {"kind": "cancelled", "message": "the job was cancelled"}


@pytest.fixture
def store(store: Store, tenant: str) -> Store:
    """The store, with the user (and tenant) the definitions belong to."""
    return store


def tenant_of(store: Store) -> str:
    principal = store.principal("hash-a")
    assert principal is not None
    return principal.tenant_id


def claim(store: Store, now: float) -> ClaimedJob | None:
    return store.claim_job(now, NODE, LEASE)


def finish(store: Store, claimed: ClaimedJob | None, now: float) -> None:
    assert claimed is not None
    assert store.finish_job(claimed.job.id, claimed.fence, JobEnd("COMPLETED", b"[]", None, b"[]", now))


def definition(
    store: Store, code: str = "d1", next_fire_at: float | None = T0, **changes: object
) -> DefinitionRecord:
    record = DefinitionRecord(
        id=f"id-{code}",
        tenant_id=tenant_of(store),
        code=code,
        job_type="echo",
        state="STARTED",
        document=b"{}",
        sealed_params=b"sealed",
        next_fire_at=next_fire_at,
        version=1,
        history_count=2,
        history_seconds=86400.0,
        created_at=T0,
        updated_at=T0,
    )
    record = msgspec.structs.replace(record, **changes)
    store.add_definition(record)
    return record


def ledger_row(record: DefinitionRecord, slot: float, job_id: str, **changes: object) -> NewJob:
    job = NewJob(
        id=job_id,
        tenant_id=record.tenant_id,
        job_type=record.job_type,
        trigger="schedule",
        status="WAITING",
        created_at=slot,
        definition_id=record.id,
        definition_code=record.code,
        scheduled_for=slot,
        run_at=slot,
    )
    return msgspec.structs.replace(job, **changes)


def fire(record: DefinitionRecord, slot: float, nxt: float | None, *jobs: NewJob) -> Fire:
    return Fire(record.id, record.version, slot, nxt, "STARTED" if nxt else "COMPLETED", list(jobs))


def test_a_fire_moves_the_slot_and_records_it_once(store: Store) -> None:
    record = definition(store)
    added = store.fire([fire(record, T0, T0 + 60, ledger_row(record, T0, "j1"))], T0)
    assert [j.id for j in added] == ["j1"]
    # The same decision again (another scheduler, a retry): the slot has moved on.
    assert store.fire([fire(record, T0, T0 + 60, ledger_row(record, T0, "j2"))], T0) == []
    assert store.scheduled_definitions() == [(T0 + 60, record.id, 1)]
    job = store.job(record.tenant_id, "j1")
    assert job is not None and job.status == "WAITING" and job.scheduled_for == T0
    assert store.job(record.tenant_id, "j2") is None


def test_the_ledger_refuses_a_second_row_for_one_slot(store: Store) -> None:
    record = definition(store)
    assert store.add_definition_job(ledger_row(record, T0, "j1"))
    assert not store.add_definition_job(ledger_row(record, T0, "j2"))
    # Runs without a slot (run now) are not slots: any number of them.
    assert store.add_definition_job(ledger_row(record, T0, "j3", scheduled_for=None, trigger="api"))
    assert store.add_definition_job(ledger_row(record, T0, "j4", scheduled_for=None, trigger="api"))


def test_a_changed_definition_is_not_fired_with_a_stale_decision(store: Store) -> None:
    record = definition(store)
    changed = msgspec.structs.replace(record, version=2, next_fire_at=T0 + 3600)
    assert store.replace_definition(changed, expected_version=1)
    assert not store.replace_definition(changed, expected_version=1)
    assert store.fire([fire(record, T0, T0 + 60, ledger_row(record, T0, "j1"))], T0) == []


def test_a_fired_job_carries_the_definitions_params_and_claims_count_attempts(store: Store) -> None:
    record = definition(store)
    store.fire([fire(record, T0, T0 + 60, ledger_row(record, T0, "j1"))], T0)
    assert claim(store, T0 - 1) is None  # not due yet
    claimed = claim(store, T0)
    assert claimed is not None
    assert claimed.sealed_params == b"sealed"
    assert (claimed.job.status, claimed.job.attempt, claimed.job.started_at) == ("STARTED", 1, T0)
    assert claim(store, T0) is None


def test_overlap_skip_records_a_skipped_slot_while_the_previous_job_runs(store: Store) -> None:
    record = definition(store)
    store.fire([fire(record, T0, T0 + 60, ledger_row(record, T0, "j1", overlap="skip"))], T0)
    assert claim(store, T0) is not None
    record = msgspec.structs.replace(record, next_fire_at=T0 + 60)
    added = store.fire(
        [fire(record, T0 + 60, T0 + 120, ledger_row(record, T0 + 60, "j2", overlap="skip"))], T0
    )
    assert [(j.id, j.status) for j in added] == [("j2", "SKIPPED")]
    job = store.job(record.tenant_id, "j2")
    assert job is not None and job.status == "SKIPPED"


def test_overlap_queue_waits_for_the_running_job_of_its_definition(store: Store) -> None:
    record = definition(store)
    store.add_definition_job(ledger_row(record, T0, "j1", overlap="queue"))
    store.add_definition_job(ledger_row(record, T0 + 1, "j2", overlap="queue"))
    first = claim(store, T0 + 2)
    assert first is not None and first.job.id == "j1"
    assert claim(store, T0 + 2) is None  # j2 waits its turn
    assert store.finish_job("j1", first.fence, JobEnd("COMPLETED", b"[]", b'{"data": 1}', b"[]", T0 + 3))
    second = claim(store, T0 + 3)
    assert second is not None and second.job.id == "j2"


def test_retry_finish_cancel_and_requeue(store: Store) -> None:
    record = definition(store)
    store.add_definition_job(ledger_row(record, T0, "j1"))
    first = claim(store, T0)
    assert first is not None
    assert not store.retry_job("j1", first.fence + 1, b'[{"attempt": 1}]', T0 + 30)  # not its claim
    assert store.retry_job("j1", first.fence, b'[{"attempt": 1}]', T0 + 30)
    assert store.next_job_due() == T0 + 30
    assert claim(store, T0 + 29) is None
    claimed = claim(store, T0 + 30)
    assert claimed is not None and claimed.job.attempt == 2
    # Interrupted by a restart: it runs again, and the interrupted attempt is not counted.
    assert store.requeue_started_jobs() == 1
    interrupted = claimed
    claimed = claim(store, T0 + 31)
    assert claimed is not None and claimed.job.attempt == 2
    assert claimed.fence > interrupted.fence  # the interrupted claim can record nothing
    assert not store.finish_job("j1", interrupted.fence, JobEnd("COMPLETED", b"[]", None, b"[]", T0 + 32))
    assert store.finish_job("j1", claimed.fence, JobEnd("FAILED", b"[]", None, b"[]", T0 + 32))
    again = JobEnd("COMPLETED", b"[]", None, b"[]", T0 + 33)
    assert not store.finish_job("j1", claimed.fence, again)  # once only
    finished = store.job(record.tenant_id, "j1")
    assert finished is not None and finished.status == "FAILED" and finished.finished_at == T0 + 32
    store.add_definition_job(ledger_row(record, T0 + 60, "j2"))
    assert store.cancel_job(record.tenant_id, "j2", T0 + 61, CANCELLED) == "WAITING"
    assert store.cancel_job(record.tenant_id, "j2", T0 + 62, CANCELLED) is None  # ended
    assert store.cancel_job("another-tenant", "j1", T0 + 62, CANCELLED) is None
    cancelled = store.job(record.tenant_id, "j2")
    assert cancelled is not None and cancelled.status == "CANCELLED" and cancelled.attempts == b"[]"


def test_a_running_job_is_cancelled_under_a_new_fence_with_its_attempt_ended(store: Store) -> None:
    record = definition(store)
    store.add_definition_job(ledger_row(record, T0, "j1"))
    claimed = claim(store, T0)
    assert claimed is not None
    assert store.cancel_job(record.tenant_id, "j1", T0 + 5, CANCELLED) == "STARTED"
    # the node running it can record nothing else, and the renewal finds it gone
    assert not store.finish_job("j1", claimed.fence, JobEnd("COMPLETED", b"[]", None, b"[]", T0 + 6))
    assert store.renew_leases(NODE, T0 + 60, [], ["j1"]) == Renewed([], [])
    cancelled = store.job(record.tenant_id, "j1")
    assert cancelled is not None and cancelled.status == "CANCELLED" and cancelled.finished_at == T0 + 5
    assert msgspec.json.decode(cancelled.attempts) == [
        {"attempt": 1, "startedAt": T0, "finishedAt": T0 + 5, "outcome": "failed", "error": CANCELLED}
    ]


def test_jobs_are_listed_newest_first_with_filters_and_scoped_by_tenant(store: Store) -> None:
    record = definition(store)
    for i in range(3):
        store.add_definition_job(ledger_row(record, T0 + i, f"j{i}"))
    claim(store, T0 + 10)
    listed = store.jobs(record.tenant_id, 10, 0)
    assert [j.id for j in listed] == ["j2", "j1", "j0"]
    assert [j.id for j in store.jobs(record.tenant_id, 10, 0, status="STARTED")] == ["j0"]
    assert [j.id for j in store.jobs(record.tenant_id, 10, 0, since=T0 + 1)] == ["j2", "j1"]
    assert [j.id for j in store.jobs(record.tenant_id, 1, 1, definition_code="d1")] == ["j1"]
    assert store.jobs("another-tenant", 10, 0) == []
    assert store.job("another-tenant", "j0") is None


def test_codes_are_unique_per_tenant(store: Store) -> None:
    definition(store, "d1")
    with pytest.raises(ConflictError, match="d1"):
        store.add_definition(msgspec.structs.replace(definition_template(store), id="other"))


def definition_template(store: Store) -> DefinitionRecord:
    found = store.definition(tenant_of(store), "d1")
    assert found is not None
    return found


def test_deleting_a_definition_cancels_its_waiting_jobs_and_keeps_history(store: Store) -> None:
    record = definition(store)
    store.add_definition_job(ledger_row(record, T0, "done"))
    finish(store, claim(store, T0), T0 + 1)
    store.add_definition_job(ledger_row(record, T0 + 60, "waiting"))
    assert store.delete_definition(record.tenant_id, "d1", T0 + 2) == record.id
    assert store.delete_definition(record.tenant_id, "d1", T0 + 2) is None
    statuses = {j.id: j.status for j in store.jobs(record.tenant_id, 10, 0)}
    assert statuses == {"done": "COMPLETED", "waiting": "CANCELLED"}


def test_purge_keeps_the_newest_runs_of_each_definition_and_unfinished_ones(store: Store) -> None:
    record = definition(store)  # history_count=2, history_seconds=1 day
    for i in range(4):
        store.add_definition_job(ledger_row(record, T0 + i, f"j{i}"))
        finish(store, claim(store, T0 + i), T0 + i)
    store.add_definition_job(ledger_row(record, T0 + 10, "waiting", run_at=T0 + 10**6))
    adhoc = NewJob("adhoc", record.tenant_id, "echo", "api", "WAITING", T0, run_at=T0)
    store.add_job(adhoc)
    finish(store, claim(store, T0 + 20), T0 + 20)
    assert store.purge_jobs(T0 + 100, adhoc_seconds=3600) == 2  # j0, j1: beyond the newest 2
    remaining = {j.id for j in store.jobs(record.tenant_id, 10, 0)}
    assert remaining == {"j2", "j3", "waiting", "adhoc"}
    assert store.purge_jobs(T0 + 2 * 86400, adhoc_seconds=3600) == 3  # by age; 'waiting' stays
    assert {j.id for j in store.jobs(record.tenant_id, 10, 0)} == {"waiting"}


def test_a_fire_survives_reopening_the_store(open_store: Callable[[], Store], store: Store) -> None:
    record = definition(store)
    store.fire([fire(record, T0, T0 + 60, ledger_row(record, T0, "j1"))], T0)
    store.close()
    reopened = open_store()
    try:
        assert reopened.scheduled_definitions() == [(T0 + 60, record.id, 1)]
        assert reopened.job(record.tenant_id, "j1") is not None
    finally:
        reopened.close()


def test_a_definition_and_its_jobs_keep_the_connector_they_are_bound_to(store: Store) -> None:
    record = definition(store, "bound", job_type="runQuery", connector="sql")
    assert store.definition(record.tenant_id, "bound") == record
    assert store.definitions_by_id([record.id]) == [record]
    # fired, run now or ad hoc: each job carries the connector it may run in
    store.fire([fire(record, T0, T0 + 60, ledger_row(record, T0, "j1", connector="sql"))], T0)
    store.add_definition_job(ledger_row(record, T0, "j2", scheduled_for=None, connector="sql"))
    store.add_job(
        NewJob("j3", record.tenant_id, "runQuery", "api", "WAITING", T0, run_at=T0, connector="sql")
    )
    claimed = claim(store, T0)
    assert claimed is not None and claimed.job.connector == "sql"
    connectors = {j.id: j.connector for j in store.jobs(record.tenant_id, 10, 0)}
    assert connectors == {"j1": "sql", "j2": "sql", "j3": "sql"}
    # a definition whose job type changed is bound again
    rebound = msgspec.structs.replace(record, version=2, job_type="echo", connector="jobber")
    assert store.replace_definition(rebound, expected_version=1)
    found = store.definition(record.tenant_id, "bound")
    assert found is not None and (found.job_type, found.connector) == ("echo", "jobber")


def test_binding_job_types_binds_only_unbound_definitions_and_unfinished_jobs(store: Store) -> None:
    old = definition(store, "old")  # stored before connectors were recorded
    new = definition(store, "new", connector="jobber")
    store.add_definition_job(ledger_row(old, T0, "finished"))
    store.add_definition_job(ledger_row(old, T0 + 1, "waiting"))
    store.add_definition_job(ledger_row(new, T0 + 2, "bound", connector="jobber"))
    finish(store, claim(store, T0 + 0.5), T0 + 0.5)  # 'finished' is over before the binding
    store.add_job(NewJob("other-type", old.tenant_id, "runQuery", "api", "WAITING", T0, run_at=T0))
    assert store.bind_job_types({"echo": "evil", "unused": "nobody"}) == 2  # 'old', 'waiting'
    connectors = {j.id: j.connector for j in store.jobs(old.tenant_id, 10, 0)}
    assert connectors == {"finished": None, "waiting": "evil", "bound": "jobber", "other-type": None}
    assert [store.definition(old.tenant_id, code).connector for code in ("old", "new")] == ["evil", "jobber"]  # type: ignore[union-attr]
    assert store.bind_job_types({"echo": "another"}) == 0  # bound once: by the first to bind


def test_a_definitions_sealed_webhooks_are_kept_and_replaced(store: Store) -> None:
    record = definition(store)
    assert record.sealed_webhooks is None  # none given: none kept
    found = store.definition(record.tenant_id, record.code)
    assert found is not None and found.sealed_webhooks is None
    sealed = msgspec.structs.replace(record, version=2, sealed_webhooks=b"sealed-hooks")
    assert store.replace_definition(sealed, expected_version=1)
    assert store.definitions_by_id([record.id]) == [sealed]
    cleared = msgspec.structs.replace(sealed, version=3, sealed_webhooks=None)
    assert store.replace_definition(cleared, expected_version=2)
    assert store.definitions(record.tenant_id, 10, 0) == [cleared]


def test_webhook_deliveries_are_recorded_on_a_finished_job(store: Store) -> None:
    record = definition(store)
    store.fire([fire(record, T0, T0 + 60, ledger_row(record, T0, "j1"))], T0)
    claimed = claim(store, T0)
    finish(store, claimed, T0 + 1)
    assert store.job(record.tenant_id, "j1").webhooks is None  # type: ignore[union-attr]
    deliveries = b'[{"webhook":"onCompletion[0]","outcome":"delivered"}]'
    assert store.record_webhooks("j1", deliveries)
    assert store.job(record.tenant_id, "j1").webhooks == deliveries  # type: ignore[union-attr]
    assert [j.webhooks for j in store.jobs(record.tenant_id, 10, 0)] == [deliveries]
    assert not store.record_webhooks("gone", deliveries)


def test_webhooks_of_a_definition_stored_before_they_were_sealed_are_found_and_sealed_once(
    store: Store,
) -> None:
    empty = b'"webhooks":{"onCompletion":[],"onFailure":[]}'
    plain = msgspec.structs.replace(definition(store, "old"), document=b'{"webhooks":{"onCompletion":["u"]}}')
    assert store.replace_definition(msgspec.structs.replace(plain, version=2), expected_version=1)
    definition(store, "none")  # its document names no webhooks at all: nothing to seal
    new = msgspec.structs.replace(definition(store, "new"), document=b"{" + empty + b"}")
    assert store.replace_definition(msgspec.structs.replace(new, version=2), expected_version=1)
    found = store.definitions_with_plain_webhooks(empty)
    assert sorted(r.code for r in found) == ["none", "old"]
    assert not store.seal_webhooks(plain.id, 1, b"{}", b"sealed")  # changed meanwhile
    assert store.seal_webhooks(plain.id, 2, b"{" + empty + b"}", b"sealed")
    assert not store.seal_webhooks(plain.id, 2, b"{}", b"again")  # sealed already
    sealed = store.definition(plain.tenant_id, "old")
    assert sealed is not None and (sealed.document, sealed.sealed_webhooks, sealed.version) == (
        b"{" + empty + b"}",
        b"sealed",
        2,
    )
    assert [r.code for r in store.definitions_with_plain_webhooks(empty)] == ["none"]


def test_the_tenant_with_fewest_jobs_running_goes_first_and_none_takes_every_slot(store: Store) -> None:
    """One tenant's slow jobs held another's quick one 95 s when jobs were taken by due time
    alone, every slot of the node theirs: now turns go by jobs running, and a tenant holding
    ``tenant_cap`` of a node's jobs waits there for the others."""
    busy = tenant_of(store)
    store.add_user("b@example.com", "globex", "hash-b", T0)
    quiet = store.principal("hash-b")
    assert quiet is not None
    for i in range(5):
        store.add_job(NewJob(f"busy-{i}", busy, "echo", "api", "WAITING", T0, run_at=T0 + i / 10))
    store.add_job(NewJob("quiet", quiet.tenant_id, "echo", "api", "WAITING", T0, run_at=T0 + 1))

    def next_claimed(node: str = NODE) -> str | None:
        claimed = store.claim_job(T0 + 2, node, LEASE, tenant_cap=3)
        return None if claimed is None else claimed.job.id

    assert next_claimed() == "busy-0"  # none running yet: the earliest due
    assert next_claimed() == "quiet"  # due later, but its tenant runs none
    assert [next_claimed(), next_claimed()] == ["busy-1", "busy-2"]
    assert next_claimed() is None  # three of this node's jobs are the busy tenant's
    assert next_claimed("another-node") == "busy-3"  # the cap is each node's
