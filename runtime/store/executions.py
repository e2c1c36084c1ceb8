"""Scheduled executions: a queue that nodes claim from (on PostgreSQL several at once,
skipping the rows another is claiming), fenced finishes, results delivered exactly once,
and the cache of successful outcomes.

An execution's way through the store is ``add``, ``claim``, ``finish`` and ``deliver``:
each a function of a ``Session``, so that one transaction can carry several of them; the
``Executions`` methods run each in one of its own (on PostgreSQL, one statement each: one
round trip in autocommit).
"""

from __future__ import annotations

from collections.abc import Sequence

from connectord.runtime.store.columns import columns, params
from connectord.runtime.store.dialect import Dialect, Session
from connectord.runtime.store.execution_listing import INFO_COLUMNS, listing_query
from connectord.runtime.store.records import (
    ClaimedExecution,
    ExecutionAbout,
    ExecutionEnd,
    ExecutionFilter,
    ExecutionInfo,
    ExecutionRecord,
    ExecutionState,
    FinishedExecution,
    NewExecution,
    StoreUnavailableError,
    has_nul,
    refuse_nul,
)

_RECORD = columns(ExecutionRecord)
#: Inserting with an idempotency key races another node's insert at most this many times.
_IDEMPOTENT_ATTEMPTS = 5
_ADD = """INSERT INTO executions (id, tenant_id, state, sealed_call, idempotency_key, request_hash,
                                  created_at, cache_key, cache_seconds, component, execution_type,
                                  action, started_at, claimed_by, lease_until, fence, claims)
          VALUES (:id, :tenant_id, :state, :sealed_call, :idempotency_key, :request_hash,
                  :created_at, :cache_key, :cache_seconds, :component, :kind, :action,
                  :started_at, :claimed_by, :lease_until, :fence, :fence)"""
_ADD_UNLESS_KEY_TAKEN = f"{_ADD} ON CONFLICT (tenant_id, idempotency_key) DO NOTHING RETURNING id"
_BY_KEY = f"SELECT {_RECORD} FROM executions WHERE tenant_id = :tenant_id AND idempotency_key = :key"
_BY_ID = "FROM executions WHERE id = :id AND tenant_id = :tenant_id"
_RECORD_BY_ID = f"SELECT {_RECORD} {_BY_ID}"
_INFO_BY_ID = f"SELECT {INFO_COLUMNS} {_BY_ID}"
_CLAIMED = columns(ClaimedExecution, kind="execution_type")
#: Fair across tenants, round robin: a tenant's queued executions take turns 1, 2, 3…
#: (oldest first), after as many turns as it has running already, and one more if it was
#: served by this node's last claim (``:recent``); lowest turns first, oldest first within
#: a turn. So one tenant's thousand queued calls do not hold up another's single call,
#: even one slot at a time. Only the head of each tenant's queue is ranked (its first
#: ``:window`` rows, ``{first_queued}``, the tenants found by an index seek each): a
#: tenant's k-th queued row has k - 1 of its own ranked before it, so none past ``:limit``
#: can be picked, and only the best ``:window`` of those are joined back to the table to
#: be locked. Nothing grows with the queue's length: behind 20,000 queued, a claim of one
#: takes 0.35 ms on SQLite (4.3 when every queued row was read) and 1.4 on PostgreSQL
#: (6.4). On PostgreSQL the window reaches further, past rows other nodes may be claiming
#: at that moment (``claimed_elsewhere``), and a claim left short looks down the whole
#: queue; the picked rows are locked once (MATERIALIZED) and rows another node is
#: claiming skipped.
_CLAIM = f"""WITH picked AS MATERIALIZED (
                 SELECT q.id FROM executions q
                 JOIN (SELECT e.id, e.created_at,
                              row_number() OVER (PARTITION BY e.tenant_id ORDER BY e.created_at)
                              + coalesce(r.running, 0)
                              + CASE WHEN e.tenant_id {{in_list:recent}} THEN 1 ELSE 0 END AS turn
                       FROM {{first_queued:e}}
                       LEFT JOIN (SELECT tenant_id, count(*) AS running FROM executions
                                  WHERE state = 'running' GROUP BY tenant_id) r
                              ON r.tenant_id = e.tenant_id
                       ORDER BY turn, e.created_at LIMIT :window) ranked ON ranked.id = q.id
                 WHERE q.state = 'queued'
                 ORDER BY ranked.turn, ranked.created_at LIMIT :limit {{skip_locked_of:q}})
             UPDATE executions SET state = 'running', started_at = :now, claimed_by = :node,
                                   lease_until = :lease_until, fence = fence + 1, claims = claims + 1
             WHERE id IN (SELECT id FROM picked)
             RETURNING {_CLAIMED}"""
#: A window past any queue's length.
_WHOLE_QUEUE = 2**31 - 1
#: Done: the outcome kept, the inputs (credentials included) forgotten.
_DONE = """state = 'done', outcome = :outcome, logs = :logs, finished_at = :finished_at,
           expires_at = :expires_at, sealed_call = NULL, lease_until = NULL"""
_FINISH = f"""UPDATE executions SET {_DONE}, outcome_kind = :kind
              WHERE id = :id AND state = 'running' AND fence = :fence"""


def add(
    db: Session, execution: NewExecution, claim_for: tuple[str, float] | None = None
) -> tuple[ExecutionRecord, bool]:
    """Queue ``execution``; with an idempotency key the tenant used already, the execution
    that has it, and False (two nodes adding one key at once: one adds, the other gets it).

    ``claim_for`` (node, lease_until): added already claimed by that node, as ``claim``
    would have marked it (running, fence 1), in the same transaction: for a node with a
    free slot and nothing queued, which would claim it next anyway."""
    args = {**params(execution, **_about(execution.about)), **_claim_args(execution, claim_for)}
    state: ExecutionState = "queued" if claim_for is None else "running"
    record = ExecutionRecord(
        execution.id, execution.tenant_id, state, execution.created_at, None, execution.request_hash
    )
    added = record, True
    if execution.idempotency_key is None:
        db.run(_ADD, args)
        return added
    for _ in range(_IDEMPOTENT_ATTEMPTS):
        if db.one(_ADD_UNLESS_KEY_TAKEN, args):
            return added
        # Taken: the other insert has committed (ON CONFLICT waited for it), so this
        # statement, with a snapshot of its own, sees it (unless purged meanwhile).
        row = db.one(_BY_KEY, {"tenant_id": execution.tenant_id, "key": execution.idempotency_key})
        if row is not None:
            return ExecutionRecord(*row), False
    raise StoreUnavailableError(f"Idempotency-Key '{execution.idempotency_key}' keeps changing; try again")


def claim(
    db: Session, now: float, node: str, lease_until: float, limit: int = 1, recent: Sequence[str] = ()
) -> list[ClaimedExecution]:
    """Take up to ``limit`` queued executions, fairly across tenants (see ``_CLAIM``;
    ``recent``: the tenants this node's last claim served), and mark them running on
    ``node`` until ``lease_until``, each with a new fencing token. Rows other nodes are
    claiming are skipped, not waited for."""
    args = {
        "now": now,
        "node": node,
        "lease_until": lease_until,
        "limit": limit,
        "window": limit + db.claimed_elsewhere,
        "recent": db.array(recent),
    }
    rows = db.all(_CLAIM, args)
    if len(rows) < limit and db.claimed_elsewhere:
        # Short: the queue is short (ranking all of it is cheap), or more of its head than
        # the window was being claimed by other nodes (skipped): look down all of it.
        rows += db.all(_CLAIM, {**args, "limit": limit - len(rows), "window": _WHOLE_QUEUE})
    return [ClaimedExecution(*row) for row in rows]


def finish(db: Session, execution_id: str, fence: int, end: ExecutionEnd, kind: str | None) -> bool:
    """Record how a running execution ended (``kind``: its outcome's) and forget its inputs;
    False when it is not running under claim ``fence`` any more (cancelled, or requeued
    after its lease ran out). The node that ran it stays recorded."""
    args = {"id": execution_id, "fence": fence, "kind": kind, **params(end)}
    return db.run(_FINISH, args) == 1


def deliver(db: Session, tenant_id: str, execution_id: str, now: float) -> FinishedExecution | None:
    """Hand out a finished, unexpired result exactly once: marked delivered and emptied in
    the step that reads it, so no second reader (on any node) can get it."""
    if has_nul(tenant_id, execution_id):
        return None
    row = db.take(
        "executions",
        columns(FinishedExecution),
        "id = :id AND tenant_id = :tenant_id AND state = 'done' AND expires_at > :now",
        "state = 'delivered', outcome = NULL, logs = NULL",
        {"id": execution_id, "tenant_id": tenant_id, "now": now},
    )
    return FinishedExecution(*row) if row else None


def _claim_args(execution: NewExecution, claim_for: tuple[str, float] | None) -> dict[str, object]:
    """What ``claim`` would set, for an execution added claimed (``claim_for``: node, lease)."""
    if claim_for is None:
        return {"state": "queued", "started_at": None, "claimed_by": None, "lease_until": None, "fence": 0}
    node, lease_until = claim_for
    return {
        "state": "running",
        "started_at": execution.created_at,
        "claimed_by": node,
        "lease_until": lease_until,
        "fence": 1,
    }


def claimed_as_added(execution: NewExecution) -> ClaimedExecution:
    """The claim of an execution ``add`` added claimed (what ``claim`` would have returned)."""
    about = execution.about
    return ClaimedExecution(
        execution.id,
        execution.tenant_id,
        execution.sealed_call,
        1,
        execution.cache_key,
        execution.cache_seconds,
        about.component if about else None,
        about.kind if about else None,
    )


def _about(about: ExecutionAbout | None) -> dict[str, object]:
    if about is None:
        return {"component": None, "kind": None, "action": None}
    return {"component": about.component, "kind": about.kind, "action": about.action}


class Executions:
    db: Dialect

    def add_execution(
        self, execution: NewExecution, claim_for: tuple[str, float] | None = None
    ) -> tuple[ExecutionRecord, bool]:
        """Queue an execution (or add it claimed, see ``add``), committed before this
        returns. With an idempotency key already used by the tenant, nothing is added: the
        existing execution is returned with ``False``."""
        refuse_nul(
            id=execution.id,
            tenant=execution.tenant_id,
            idempotency_key=execution.idempotency_key,
            request_hash=execution.request_hash,
            cache_key=execution.cache_key,
        )
        with self.db.write() as db:
            return add(db, execution, claim_for)

    def claim_execution(self, now: float, node: str, lease_until: float) -> ClaimedExecution | None:
        """The one execution ``claim_executions`` would take first, or None."""
        claimed = self.claim_executions(now, node, lease_until, 1)
        return claimed[0] if claimed else None

    def claim_executions(
        self, now: float, node: str, lease_until: float, limit: int = 1, recent: Sequence[str] = ()
    ) -> list[ClaimedExecution]:
        with self.db.write(synced=False) as db:
            return claim(db, now, node, lease_until, limit, recent)

    def finish_execution(
        self, execution_id: str, fence: int, end: ExecutionEnd, kind: str | None = None
    ) -> bool:
        with self.db.write(synced=False) as db:
            return finish(db, execution_id, fence, end, kind)

    def finish_and_claim(
        self,
        execution_id: str,
        fence: int,
        end: ExecutionEnd,
        kind: str | None,
        claim_for: tuple[float, str, float],
        recent: Sequence[str] = (),
    ) -> tuple[bool, list[ClaimedExecution]]:
        """``finish_execution``, and in the same transaction ``claim_executions`` of one
        for ``claim_for`` (now, node, lease_until): the slot the finished execution held
        goes to the next one without a transaction of its own."""
        now, node, lease_until = claim_for
        # All or nothing (on PostgreSQL too, where each statement of ``write`` is a
        # transaction of its own): a finish committed without its claim would be retried
        # and find itself recorded already.
        with self.db.transaction(synced=False) as db:
            finished = finish(db, execution_id, fence, end, kind)
            return finished, claim(db, now, node, lease_until, 1, recent)

    def deliver_result(self, tenant_id: str, execution_id: str, now: float) -> FinishedExecution | None:
        with self.db.write(synced=False) as db:
            return deliver(db, tenant_id, execution_id, now)

    def add_answered_execution(
        self, execution_id: str, tenant_id: str, end: ExecutionEnd, about: ExecutionAbout | None = None
    ) -> ExecutionRecord:
        """An execution answered at once (from the cache): nothing to run."""
        refuse_nul(id=execution_id, tenant=tenant_id)
        args = {"id": execution_id, "tenant_id": tenant_id, **params(end), **_about(about)}
        with self.db.write() as db:
            db.run(
                """INSERT INTO executions (id, tenant_id, state, outcome, logs, created_at,
                                           finished_at, expires_at, component, execution_type,
                                           action, outcome_kind)
                   VALUES (:id, :tenant_id, 'done', :outcome, :logs, :finished_at, :finished_at,
                           :expires_at, :component, :kind, :action, 'succeeded')""",
                args,
            )
        return ExecutionRecord(execution_id, tenant_id, "done", end.finished_at, end.expires_at, None)

    def execution(self, tenant_id: str, execution_id: str) -> ExecutionRecord | None:
        if has_nul(tenant_id, execution_id):
            return None
        with self.db.read() as db:
            row = db.one(_RECORD_BY_ID, {"id": execution_id, "tenant_id": tenant_id})
        return ExecutionRecord(*row) if row else None

    def execution_info(self, tenant_id: str, execution_id: str) -> ExecutionInfo | None:
        """An execution's status and metadata; its result stays where it is."""
        if has_nul(tenant_id, execution_id):
            return None
        with self.db.read() as db:
            row = db.one(_INFO_BY_ID, {"id": execution_id, "tenant_id": tenant_id})
        return ExecutionInfo(*row) if row else None

    def list_executions(
        self, tenant_id: str, wanted: ExecutionFilter, now: float, limit: int, offset: int
    ) -> list[ExecutionInfo]:
        """A page of the tenant's executions that match ``wanted``, newest first."""
        if has_nul(tenant_id, wanted.component, wanted.kind):
            return []
        sql, args = listing_query(tenant_id, wanted, now, limit, offset)
        with self.db.read() as db:
            rows = db.all(sql, args)
        return [ExecutionInfo(*row) for row in rows]

    def queue_depth(self, now: float) -> tuple[int, int]:
        """How much work waits: queued executions, and jobs due that wait for a runner."""
        with self.db.read() as db:
            row = db.one(
                """SELECT (SELECT count(*) FROM executions WHERE state = 'queued'),
                          (SELECT count(*) FROM jobs WHERE status = 'WAITING' AND run_at <= :now)""",
                {"now": now},
            )
        return (int(row[0]), int(row[1])) if row else (0, 0)

    def cancel_execution(self, tenant_id: str, execution_id: str, cancelled: ExecutionEnd) -> bool:
        """Finish a queued or running execution with ``cancelled`` under a new fence, so
        whichever node runs it cannot record another; False if it has ended."""
        if has_nul(tenant_id, execution_id):
            return False
        args = {"id": execution_id, "tenant_id": tenant_id, **params(cancelled)}
        with self.db.write() as db:
            return (
                db.run(
                    f"""UPDATE executions SET {_DONE}, fence = fence + 1, outcome_kind = 'cancelled'
                        WHERE id = :id AND tenant_id = :tenant_id AND state IN ('queued', 'running')""",
                    args,
                )
                == 1
            )

    def cached_outcome(self, tenant_id: str, cache_key: str, now: float) -> bytes | None:
        if has_nul(tenant_id, cache_key):
            return None
        with self.db.read() as db:
            row = db.one(
                """SELECT outcome FROM result_cache
                   WHERE tenant_id = :tenant_id AND cache_key = :cache_key AND expires_at > :now""",
                {"tenant_id": tenant_id, "cache_key": cache_key, "now": now},
            )
        return bytes(row[0]) if row else None

    def cache_outcome(self, tenant_id: str, cache_key: str, outcome: bytes, expires_at: float) -> None:
        refuse_nul(tenant=tenant_id, cache_key=cache_key)
        with self.db.write(synced=False) as db:
            db.run(
                """INSERT INTO result_cache (tenant_id, cache_key, outcome, expires_at)
                   VALUES (:tenant_id, :cache_key, :outcome, :expires_at)
                   ON CONFLICT (tenant_id, cache_key) DO UPDATE
                   SET outcome = excluded.outcome, expires_at = excluded.expires_at""",
                {
                    "tenant_id": tenant_id,
                    "cache_key": cache_key,
                    "outcome": outcome,
                    "expires_at": expires_at,
                },
            )

    def purge_executions(self, now: float, keep_delivered: float) -> int:
        """Delete delivered executions older than ``keep_delivered`` seconds and expired
        results (their ids then answer 404 'Result does not exist.'), and expired cache."""
        with self.db.write(synced=False) as db:
            purged = db.run(
                """DELETE FROM executions
                   WHERE (state = 'delivered' AND finished_at < :before)
                      OR (state = 'done' AND expires_at < :before)""",
                {"before": now - keep_delivered},
            )
            db.run("DELETE FROM result_cache WHERE expires_at < :now", {"now": now})
        return purged
