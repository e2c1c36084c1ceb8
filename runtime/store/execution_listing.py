"""The listing and lookup of executions both SQL backends share: columns and the filter's
WHERE clause, written once with the backend's placeholder."""

from __future__ import annotations

from typing import Any

from connectord.runtime.store.records import ExecutionFilter, ExecutionInfo

INFO_COLUMNS = (
    "id, state, component, execution_type, action, outcome_kind, created_at, started_at, "
    "finished_at, expires_at"
)

_STATUS_SQL = {
    "queued": "state = 'queued'",
    "running": "state = 'running'",
    "ready": "state = 'done' AND expires_at > {p}",
    "expired": "state = 'done' AND expires_at <= {p}",
    "delivered": "state = 'delivered'",
}


def listing_query(
    tenant_id: str, wanted: ExecutionFilter, now: float, limit: int, offset: int, p: str
) -> tuple[str, list[Any]]:
    """The SELECT of a page of ``tenant_id``'s executions, newest first, and its arguments;
    ``p`` is the backend's placeholder (``?`` or ``%s``)."""
    where, args = ["tenant_id = " + p], [tenant_id]
    if wanted.status is not None:
        clause = _STATUS_SQL[wanted.status]
        where.append(clause.format(p=p))
        if "{p}" in clause:
            args.append(now)
    for column, value in (("component", wanted.component), ("execution_type", wanted.kind)):
        if value is not None:
            where.append(f"{column} = {p}")
            args.append(value)
    if wanted.since is not None:
        where.append(f"created_at >= {p}")
        args.append(wanted.since)
    if wanted.until is not None:
        where.append(f"created_at < {p}")
        args.append(wanted.until)
    sql = (
        f"SELECT {INFO_COLUMNS} FROM executions WHERE {' AND '.join(where)} "
        f"ORDER BY created_at DESC, id LIMIT {p} OFFSET {p}"
    )
    return sql, [*args, limit, offset]


def info(row: tuple[Any, ...]) -> ExecutionInfo:
    return ExecutionInfo(*row)
