"""The store's contract for executions: the queue, claims and fenced finishes,
idempotency, the result cache, delivery exactly once, cancel and purge, on every backend."""

from __future__ import annotations

from connectord.runtime.executions.work import waiting_a_turn
from connectord.runtime.store import Store
from connectord.runtime.store.records import ClaimedExecution, ExecutionEnd, NewExecution, Renewed

from .conftest import add_tenant

T0 = 1_800_000_000.0
NODE = "node-1"
LEASE = T0 + 60


def test_claims_take_the_oldest_queued_execution_with_a_fresh_fence(store: Store, tenant: str) -> None:
    store.add_execution(NewExecution("late", tenant, b"call-late", T0 + 1))
    record, created = store.add_execution(
        NewExecution("early", tenant, b"call-early", T0, cache_key="k", cache_seconds=5.0)
    )
    assert created and (record.id, record.state, record.created_at, record.expires_at) == (
        "early",
        "queued",
        T0,
        None,
    )
    first = store.claim_execution(T0 + 2, NODE, LEASE)
    assert first is not None
    assert (first.id, first.tenant_id, first.sealed_call) == ("early", tenant, b"call-early")
    assert (first.cache_key, first.cache_seconds) == ("k", 5.0)
    second = store.claim_execution(T0 + 2, NODE, LEASE)
    assert second is not None and second.id == "late" and second.cache_key is None
    assert store.claim_execution(T0 + 2, NODE, LEASE) is None
    running = store.execution(tenant, "early")
    assert running is not None and running.state == "running"
    assert first.fence >= 1 and second.fence >= 1


def test_a_finish_counts_only_under_its_own_claim(store: Store, tenant: str) -> None:
    store.add_execution(NewExecution("e1", tenant, b"call", T0))
    claimed = store.claim_execution(T0, NODE, LEASE)
    assert claimed is not None
    assert not store.finish_execution(
        "e1", claimed.fence + 1, ExecutionEnd(b"out", b"logs", T0 + 1, T0 + 100)
    )
    assert store.finish_execution("e1", claimed.fence, ExecutionEnd(b"out", b"logs", T0 + 1, T0 + 100))
    assert not store.finish_execution(
        "e1", claimed.fence, ExecutionEnd(b"again", b"logs", T0 + 2, T0 + 100)
    )  # once
    assert not store.finish_execution("missing", 1, ExecutionEnd(b"out", b"logs", T0 + 1, T0 + 100))
    done = store.execution(tenant, "e1")
    assert done is not None and (done.state, done.expires_at) == ("done", T0 + 100)


def test_a_queued_execution_cannot_be_finished_without_a_claim(store: Store, tenant: str) -> None:
    store.add_execution(NewExecution("e1", tenant, b"call", T0))
    assert not store.finish_execution("e1", 0, ExecutionEnd(b"out", b"logs", T0 + 1, T0 + 100))
    queued = store.execution(tenant, "e1")
    assert queued is not None and queued.state == "queued"


def test_an_idempotency_key_adds_once_per_tenant(store: Store, tenant: str) -> None:
    other = add_tenant(store, "b", "beta")
    first, created = store.add_execution(
        NewExecution("e1", tenant, b"call", T0, idempotency_key="key-1", request_hash="hash-1")
    )
    assert created and first.request_hash == "hash-1"
    again, created = store.add_execution(
        NewExecution("e2", tenant, b"call", T0 + 1, idempotency_key="key-1", request_hash="hash-2")
    )
    assert not created and (again.id, again.request_hash, again.created_at) == ("e1", "hash-1", T0)
    assert store.execution(tenant, "e2") is None
    # another tenant's key is its own
    theirs, created = store.add_execution(
        NewExecution("e3", other, b"call", T0, idempotency_key="key-1", request_hash="hash-1")
    )
    assert created and theirs.id == "e3"
    # no key: always added
    assert store.add_execution(NewExecution("e4", tenant, b"call", T0))[1]
    assert store.add_execution(NewExecution("e5", tenant, b"call", T0))[1]


def test_results_are_delivered_once_and_only_to_their_tenant_before_they_expire(
    store: Store, tenant: str
) -> None:
    for execution_id in ("e1", "e2"):
        store.add_execution(NewExecution(execution_id, tenant, b"call", T0))
        claimed = store.claim_execution(T0, NODE, LEASE)
        assert claimed is not None
        store.finish_execution(
            claimed.id, claimed.fence, ExecutionEnd(b"out-" + claimed.id.encode(), b"logs", T0, T0 + 100)
        )
    assert store.deliver_result("another-tenant", "e1", T0 + 1) is None
    delivered = store.deliver_result(tenant, "e1", T0 + 1)
    assert delivered is not None and (delivered.id, delivered.outcome, delivered.logs) == (
        "e1",
        b"out-e1",
        b"logs",
    )
    assert type(delivered.outcome) is bytes and type(delivered.logs) is bytes
    assert store.deliver_result(tenant, "e1", T0 + 1) is None
    record = store.execution(tenant, "e1")
    assert record is not None and record.state == "delivered"
    assert store.deliver_result(tenant, "e2", T0 + 100) is None  # expired
    assert store.deliver_result(tenant, "missing", T0) is None


def test_a_result_not_yet_done_is_not_delivered(store: Store, tenant: str) -> None:
    store.add_execution(NewExecution("e1", tenant, b"call", T0))
    assert store.deliver_result(tenant, "e1", T0) is None
    store.claim_execution(T0, NODE, LEASE)
    assert store.deliver_result(tenant, "e1", T0) is None


def test_cached_outcomes_answer_at_once_until_they_expire(store: Store, tenant: str) -> None:
    assert store.cached_outcome(tenant, "k", T0) is None
    store.cache_outcome(tenant, "k", b"old", T0 + 10)
    store.cache_outcome(tenant, "k", b"new", T0 + 20)  # replaced
    assert store.cached_outcome(tenant, "k", T0 + 15) == b"new"
    assert store.cached_outcome(tenant, "k", T0 + 20) is None
    assert store.cached_outcome("another-tenant", "k", T0) is None
    answered = store.add_answered_execution("e1", tenant, ExecutionEnd(b"new", b"[]", T0, T0 + 100))
    assert (answered.state, answered.expires_at) == ("done", T0 + 100)
    assert store.claim_execution(T0, NODE, LEASE) is None  # nothing to run
    delivered = store.deliver_result(tenant, "e1", T0 + 1)
    assert delivered is not None and delivered.outcome == b"new"


def test_cancel_finishes_a_queued_or_running_execution(store: Store, tenant: str) -> None:
    store.add_execution(NewExecution("e1", tenant, b"call", T0))
    store.add_execution(NewExecution("e2", tenant, b"call", T0 + 1))
    assert not store.cancel_execution("another-tenant", "e1", ExecutionEnd(b"cancelled", b"[]", T0, T0 + 100))
    assert store.cancel_execution(tenant, "e1", ExecutionEnd(b"cancelled", b"[]", T0, T0 + 100))
    assert not store.cancel_execution(tenant, "e1", ExecutionEnd(b"cancelled", b"[]", T0, T0 + 100))  # ended
    claimed = store.claim_execution(T0, NODE, LEASE)
    assert claimed is not None and claimed.id == "e2"  # a cancelled one is not claimed
    assert store.cancel_execution(tenant, "e2", ExecutionEnd(b"cancelled", b"[]", T0, T0 + 100))  # running
    # the node running it can no longer record another outcome, nor keep its lease
    assert not store.finish_execution("e2", claimed.fence, ExecutionEnd(b"out", b"[]", T0, T0 + 100))
    assert store.renew_leases(NODE, LEASE + 60, ["e2"], []) == Renewed([], [])
    for execution_id in ("e1", "e2"):
        delivered = store.deliver_result(tenant, execution_id, T0)
        assert delivered is not None and delivered.outcome == b"cancelled"


def test_requeue_running_puts_every_running_execution_back_under_a_new_fence(
    store: Store, tenant: str
) -> None:
    store.add_execution(NewExecution("e1", tenant, b"call", T0))
    store.add_execution(NewExecution("e2", tenant, b"call", T0 + 1))
    interrupted = store.claim_execution(T0, NODE, LEASE)
    assert interrupted is not None and interrupted.id == "e1"
    assert store.requeue_running() == 1
    again = store.claim_execution(T0, "node-2", LEASE)
    assert again is not None and again.id == "e1" and again.fence > interrupted.fence
    assert not store.finish_execution("e1", interrupted.fence, ExecutionEnd(b"late", b"[]", T0, T0 + 100))
    assert store.finish_execution("e1", again.fence, ExecutionEnd(b"out", b"[]", T0, T0 + 100))


def test_purge_forgets_old_delivered_and_expired_results(store: Store, tenant: str) -> None:
    for execution_id in ("delivered", "expired", "fresh"):
        store.add_execution(NewExecution(execution_id, tenant, b"call", T0))
        claimed = store.claim_execution(T0, NODE, LEASE)
        assert claimed is not None
        expires = T0 + 10 if execution_id == "expired" else T0 + 10**6
        store.finish_execution(claimed.id, claimed.fence, ExecutionEnd(b"out", b"[]", T0, expires))
    store.add_execution(NewExecution("queued", tenant, b"call", T0))
    assert store.deliver_result(tenant, "delivered", T0 + 1) is not None
    store.cache_outcome(tenant, "old", b"o", T0 + 5)
    store.cache_outcome(tenant, "new", b"n", T0 + 10**6)
    assert store.purge_executions(T0 + 100, keep_delivered=1000) == 0  # within the memory
    assert store.purge_executions(T0 + 2000, keep_delivered=1000) == 2
    assert store.execution(tenant, "delivered") is None and store.execution(tenant, "expired") is None
    assert store.execution(tenant, "fresh") is not None and store.execution(tenant, "queued") is not None
    assert store.cached_outcome(tenant, "new", T0) == b"n"
    assert store.cached_outcome(tenant, "old", T0) is None  # purged (it had expired at T0 + 5)


def test_claims_are_fair_across_tenants_beyond_the_oldest(store: Store, tenant: str) -> None:
    other = add_tenant(store, "b", "beta")
    for i in range(30):  # one tenant queues many, then another tenant one
        store.add_execution(NewExecution(f"a-{i:02}", tenant, b"call", T0 + i))
    store.add_execution(NewExecution("b-0", other, b"call", T0 + 100))
    # one claim of two: the oldest of each tenant, not A's two oldest (a claim's rows come
    # back in no particular order: they start together)
    assert {c.id for c in store.claim_executions(T0 + 200, NODE, LEASE, 2)} == {"a-00", "b-0"}
    rest = store.claim_executions(T0 + 200, NODE, LEASE, 64)
    assert sorted(c.id for c in rest) == [f"a-{i:02}" for i in range(1, 30)]  # all at once
    assert store.claim_executions(T0 + 200, NODE, LEASE, 64) == []


def first_of_many(store: Store, tenant: str, many: int, other: str) -> ClaimedExecution:
    """``many`` executions of ``tenant`` queued ("a-0"…), then one of ``other`` ("b-0");
    the first claimed: the oldest, "a-0"."""
    for i in range(many):
        store.add_execution(NewExecution(f"a-{i}", tenant, b"call", T0 + i))
    store.add_execution(NewExecution("b-0", other, b"call", T0 + 100))
    [first] = store.claim_executions(T0 + 200, NODE, LEASE, 1)
    assert first.id == "a-0"
    return first


def test_one_tenant_single_call_is_claimed_before_the_others_second(store: Store, tenant: str) -> None:
    other = add_tenant(store, "b", "beta")
    first = first_of_many(store, tenant, 10, other)
    # while A's first runs, B's single call is next, not A's second
    [second] = store.claim_executions(T0 + 200, NODE, LEASE, 1, [tenant])
    assert second.id == "b-0"
    # one slot at a time (nothing of either runs): the tenant the last claim served waits
    # a turn, however much older its queued calls are
    for claimed in (first, second):
        assert store.finish_execution(claimed.id, claimed.fence, ExecutionEnd(b"o", b"l", T0, T0 + 1))
    store.add_execution(NewExecution("b-1", other, b"call", T0 + 101))
    [third] = store.claim_executions(T0 + 202, NODE, LEASE, 1, [tenant])
    assert third.id == "b-1"
    [fourth] = store.claim_executions(T0 + 202, NODE, LEASE, 1, [other])
    assert fourth.id == "a-1"


def test_a_finish_claims_the_next_execution_fairly_in_its_own_transaction(store: Store, tenant: str) -> None:
    other = add_tenant(store, "b", "beta")
    first = first_of_many(store, tenant, 3, other)
    end = ExecutionEnd(b"o", b"l", T0 + 201, T0 + 300)
    # the tenant just served waits a turn: B's single call is next, not A's second
    finished, [second] = store.finish_and_claim(
        first.id, first.fence, end, "succeeded", (T0 + 201, NODE, LEASE), [tenant]
    )
    assert finished and second.id == "b-0" and second.fence == 1
    record = store.execution(tenant, first.id)
    assert record is not None and record.state == "done"
    # a stale fence records nothing, and the claim still takes the next one
    finished, [third] = store.finish_and_claim(
        first.id, first.fence, end, "succeeded", (T0 + 202, NODE, LEASE)
    )
    assert not finished and third.id == "a-1"
    finished, [fourth] = store.finish_and_claim(second.id, second.fence, end, None, (T0 + 203, NODE, LEASE))
    assert finished and fourth.id == "a-2"
    assert store.finish_and_claim(third.id, third.fence, end, None, (T0 + 204, NODE, LEASE)) == (True, [])


def test_two_tenants_with_work_queued_do_not_keep_a_third_tenants_call_waiting(
    store: Store, tenant: str
) -> None:
    others = [add_tenant(store, name, name) for name in ("b", "c")]
    for i in range(20):
        store.add_execution(NewExecution(f"a-{i:02}", tenant, b"call", T0 + i))
        store.add_execution(NewExecution(f"b-{i:02}", others[0], b"call", T0 + i + 0.5))
    running = store.claim_executions(T0 + 100, NODE, LEASE, 2)  # two slots: A's and B's
    served = [each.tenant_id for each in running]
    end = ExecutionEnd(b"o", b"l", T0 + 201, T0 + 300)

    def hand_over() -> str:
        """The oldest running one finishes and claims the next, as the dispatcher does."""
        nonlocal served
        done = running.pop(0)
        recent = waiting_a_turn(served, done.tenant_id)
        _, [successor] = store.finish_and_claim(
            done.id, done.fence, end, None, (T0 + 201, NODE, LEASE), recent
        )
        running.append(successor)
        served = [successor.tenant_id]
        return successor.id

    assert [hand_over(), hand_over()] == ["a-01", "b-01"]
    store.add_execution(NewExecution("c-00", others[1], b"call", T0 + 200))
    # the next slot freed goes to C, not to A and B by turns until they run dry
    assert hand_over() == "c-00"


def test_an_execution_added_claimed_runs_under_its_first_fence(store: Store, tenant: str) -> None:
    record, created = store.add_execution(NewExecution("now", tenant, b"call", T0), (NODE, LEASE))
    assert created and record.state == "running"
    assert store.claim_executions(T0, NODE, LEASE, 8) == []  # not queued: nothing to claim
    running = store.execution(tenant, "now")
    assert running is not None and running.state == "running"
    assert store.renew_leases(NODE, LEASE + 1, ["now"], []) == Renewed(["now"], [])
    end = ExecutionEnd(b"outcome", b"logs", T0 + 1, T0 + 100)
    assert store.finish_execution("now", 1, end)  # the fence a claim would have given it
    finished = store.deliver_result(tenant, "now", T0 + 2)
    assert finished is not None and finished.outcome == b"outcome"
    # given back at a restart like any claim: queued again
    store.add_execution(NewExecution("cut", tenant, b"call", T0 + 3), (NODE, LEASE))
    assert store.requeue_running() == 1
    again = store.claim_execution(T0 + 4, "node-2", LEASE)
    assert again is not None and again.id == "cut" and again.fence > 1
