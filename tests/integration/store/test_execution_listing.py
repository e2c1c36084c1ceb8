"""The store's contract for finding executions: what each runs and how it ended, listed
with filters and pages, looked up without touching the result, per tenant; on every
backend. And the queue depth /metrics reads."""

from __future__ import annotations

from connectord.runtime.store import Store
from connectord.runtime.store.records import ExecutionAbout, ExecutionEnd, ExecutionFilter, NewExecution

T0 = 1_800_000_000.0
NODE = "node-1"
LEASE = T0 + 600

VERIFY = ExecutionAbout("sql", "verify_credentials")
META = ExecutionAbout("shop", "get_meta_model", "get_products")


def ids(
    store: Store, tenant: str, now: float = T0 + 50, limit: int = 100, offset: int = 0, **wanted: object
) -> list[str]:
    found = store.list_executions(tenant, ExecutionFilter(**wanted), now, limit, offset)  # type: ignore[arg-type]
    return [e.id for e in found]


def five(store: Store, tenant: str) -> None:
    """e0..e4 at T0..T0+4: e0 delivered, e1 ready (expires T0+100), e2 expired at T0+20,
    e3 running, e4 queued; e0, e2 and e4 verify sql, e1 and e3 read shop's metadata."""
    for n in range(5):
        store.add_execution(NewExecution(f"e{n}", tenant, b"sealed", T0 + n, about=META if n % 2 else VERIFY))
    ended = [(0, "succeeded", T0 + 100), (1, "rejected", T0 + 100), (2, "timed_out", T0 + 20)]
    for n, outcome, expires in ended:
        claimed = store.claim_execution(T0 + 10, NODE, LEASE)
        assert claimed is not None and claimed.id == f"e{n}"
        end = ExecutionEnd(b"out", b"logs", T0 + 11, expires)
        assert store.finish_execution(f"e{n}", claimed.fence, end, outcome)
    assert store.deliver_result(tenant, "e0", T0 + 12) is not None
    claimed = store.claim_execution(T0 + 13, NODE, LEASE)
    assert claimed is not None
    assert (claimed.id, claimed.component, claimed.kind) == ("e3", "shop", "get_meta_model")


def test_listings_are_newest_first_filtered_and_paged(store: Store, tenant: str) -> None:
    five(store, tenant)
    assert ids(store, tenant) == ["e4", "e3", "e2", "e1", "e0"]
    assert ids(store, tenant, limit=2, offset=1) == ["e3", "e2"]
    assert ids(store, tenant, offset=5) == []
    assert ids(store, tenant, status="queued") == ["e4"]
    assert ids(store, tenant, status="running") == ["e3"]
    assert ids(store, tenant, status="ready") == ["e1"]
    assert ids(store, tenant, status="expired") == ["e2"]
    assert ids(store, tenant, status="delivered") == ["e0"]
    assert ids(store, tenant, now=T0 + 200, status="ready") == []  # all expired by then
    assert ids(store, tenant, component="shop") == ["e3", "e1"]
    assert ids(store, tenant, kind="verify_credentials") == ["e4", "e2", "e0"]
    assert ids(store, tenant, component="shop", kind="verify_credentials") == []
    assert ids(store, tenant, since=T0 + 1, until=T0 + 3) == ["e2", "e1"]


def test_a_lookup_tells_status_and_metadata_and_leaves_the_result(store: Store, tenant: str) -> None:
    five(store, tenant)
    ready = store.execution_info(tenant, "e1")
    assert ready is not None
    assert (ready.state, ready.component, ready.kind, ready.action, ready.outcome) == (
        "done", "shop", "get_meta_model", "get_products", "rejected"
    )
    assert (ready.created_at, ready.finished_at, ready.expires_at) == (T0 + 1, T0 + 11, T0 + 100)
    assert store.execution_info(tenant, "e1") == ready
    assert store.deliver_result(tenant, "e1", T0 + 50) is not None  # still there to deliver
    delivered = store.execution_info(tenant, "e1")
    assert delivered is not None and (delivered.state, delivered.outcome) == ("delivered", "rejected")
    queued = store.execution_info(tenant, "e4")
    assert queued is not None and (queued.state, queued.outcome, queued.started_at) == ("queued", None, None)
    assert store.execution_info(tenant, "missing") is None


def test_another_tenants_executions_are_not_found(store: Store, tenant: str) -> None:
    five(store, tenant)
    store.add_user("b@example.com", "beta", "hash-b", T0)
    other = store.principal("hash-b")
    assert other is not None
    assert ids(store, other.tenant_id) == []
    assert store.execution_info(other.tenant_id, "e1") is None


def test_cancelled_cached_and_crashed_executions_say_so(store: Store, tenant: str) -> None:
    store.add_execution(NewExecution("c", tenant, b"sealed", T0, about=VERIFY))
    assert store.cancel_execution(tenant, "c", ExecutionEnd(b"out", b"logs", T0 + 1, T0 + 100))
    store.add_answered_execution("a", tenant, ExecutionEnd(b"out", b"logs", T0, T0 + 100), META)
    store.add_execution(NewExecution("r", tenant, b"sealed", T0, about=VERIFY))
    assert store.claim_execution(T0, NODE, T0 + 1) is not None
    store.reap_executions(T0 + 5, 1, ExecutionEnd(b"crashed", b"logs", T0 + 5, T0 + 100))
    listed = store.list_executions(tenant, ExecutionFilter(), T0, 10, 0)
    found = {e.id: (e.state, e.outcome) for e in listed}
    assert found == {"c": ("done", "cancelled"), "a": ("done", "succeeded"), "r": ("done", "crashed")}


def test_the_queue_depth_counts_queued_executions(store: Store, tenant: str) -> None:
    assert store.queue_depth(T0) == (0, 0)
    five(store, tenant)
    assert store.queue_depth(T0 + 50) == (1, 0)
