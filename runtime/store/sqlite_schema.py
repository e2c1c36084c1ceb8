"""The SQLite schema, one migration per version; append, never edit a released one.

Its tables are written once for both backends (schema.py), and from version 6 on the
migrations are those both share."""

from connectord.runtime.store import schema

_TYPES = {"BLOB": "BLOB", "REAL": "REAL"}


def _typed(sql: str) -> str:
    return schema.typed(sql, **_TYPES)


MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE IF NOT EXISTS schema_migrations (
        version    INTEGER PRIMARY KEY,
        applied_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
    );
    """,
    _typed(
        f"""{schema.TENANTS}
    CREATE TABLE executions ({schema.EXECUTION_COLUMNS}
        UNIQUE (tenant_id, idempotency_key)
    );
    CREATE INDEX executions_queue ON executions (state, created_at);
    {schema.ACCOUNTS}"""
    ),
    _typed(
        f"""
    ALTER TABLE executions ADD COLUMN cache_key TEXT;
    ALTER TABLE executions ADD COLUMN cache_seconds REAL;
    {schema.RESULT_CACHE}"""
    ),
    _typed(
        f"""{schema.JOB_DEFINITIONS}
    CREATE INDEX job_definitions_due ON job_definitions (state, next_fire_at);
    CREATE TABLE jobs ({schema.JOB_COLUMNS}
        {schema.LEDGER}
    );
    CREATE INDEX jobs_queue ON jobs (status, run_at);
    CREATE INDEX jobs_by_tenant ON jobs (tenant_id, created_at);
    CREATE INDEX jobs_by_definition ON jobs (definition_id, status);
    """
    ),
    _typed(
        f"""
    -- leases: who runs a claimed row, until when, and the claim's fencing token
    ALTER TABLE executions ADD COLUMN claimed_by TEXT;
    ALTER TABLE executions ADD COLUMN lease_until REAL;
    ALTER TABLE executions ADD COLUMN fence INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE executions ADD COLUMN claims INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE jobs ADD COLUMN claimed_by TEXT;
    ALTER TABLE jobs ADD COLUMN lease_until REAL;
    ALTER TABLE jobs ADD COLUMN fence INTEGER NOT NULL DEFAULT 0;
    {schema.STORE_SETTINGS}"""
    ),
    *schema.in_step(**_TYPES),
)
