"""The listing and lookup of executions: their columns, and the filter's WHERE clause."""

from __future__ import annotations

from typing import Any

from connectord.runtime.store.columns import columns
from connectord.runtime.store.records import ExecutionFilter, ExecutionInfo

INFO_COLUMNS = columns(ExecutionInfo, kind="execution_type", outcome="outcome_kind")

_STATUS_SQL = {
    "queued": "state = 'queued'",
    "running": "state = 'running'",
    "ready": "state = 'done' AND expires_at > :now",
    "expired": "state = 'done' AND expires_at <= :now",
    "delivered": "state = 'delivered'",
}


def listing_query(
    tenant_id: str, wanted: ExecutionFilter, now: float, limit: int, offset: int
) -> tuple[str, dict[str, Any]]:
    """The SELECT of a page of ``tenant_id``'s executions, newest first, and its parameters."""
    where = ["tenant_id = :tenant_id"]
    if wanted.status is not None:
        where.append(_STATUS_SQL[wanted.status])
    for column, name in (("component", "component"), ("execution_type", "kind")):
        if getattr(wanted, name) is not None:
            where.append(f"{column} = :{name}")
    if wanted.since is not None:
        where.append("created_at >= :since")
    if wanted.until is not None:
        where.append("created_at < :until")
    sql = (
        f"SELECT {INFO_COLUMNS} FROM executions WHERE {' AND '.join(where)} "
        "ORDER BY created_at DESC, id LIMIT :limit OFFSET :offset"
    )
    args = {"tenant_id": tenant_id, "now": now, "limit": limit, "offset": offset}
    args.update(component=wanted.component, kind=wanted.kind, since=wanted.since, until=wanted.until)
    return sql, args
