"""The schema both backends share, written once with their types named per backend
(``{BLOB}``: BLOB on SQLite, BYTEA on PostgreSQL; ``{REAL}``: REAL, DOUBLE PRECISION).

Their first migrations create the same tables (``TENANTS``…), and since SQLite's version 6
and PostgreSQL's version 2 the schemas change in step (``in_step``): append a migration
there, never edit a released one, and it becomes the next version of both."""

from __future__ import annotations

#: What both backends' first migrations create alike. SQLite added some columns later
#: (cache, leases); PostgreSQL's first version has them inline after these.
TENANTS = """
    CREATE TABLE tenants (
        id   TEXT PRIMARY KEY,
        name TEXT NOT NULL UNIQUE
    );
    CREATE TABLE users (
        id         TEXT PRIMARY KEY,
        tenant_id  TEXT NOT NULL REFERENCES tenants (id),
        email      TEXT NOT NULL UNIQUE,
        created_at {REAL} NOT NULL
    );
    CREATE TABLE api_keys (
        key_hash   TEXT PRIMARY KEY,
        user_id    TEXT NOT NULL REFERENCES users (id),
        created_at {REAL} NOT NULL,
        revoked_at {REAL}
    );
"""
EXECUTION_COLUMNS = """
        id              TEXT PRIMARY KEY,
        tenant_id       TEXT NOT NULL REFERENCES tenants (id),
        state           TEXT NOT NULL CHECK (state IN ('queued', 'running', 'done', 'delivered')),
        sealed_call     {BLOB},
        idempotency_key TEXT,
        request_hash    TEXT,
        outcome         {BLOB},
        logs            {BLOB},
        created_at      {REAL} NOT NULL,
        started_at      {REAL},
        finished_at     {REAL},
        expires_at      {REAL},
"""
RESULT_CACHE = """
    CREATE TABLE result_cache (
        tenant_id  TEXT NOT NULL,
        cache_key  TEXT NOT NULL,
        outcome    {BLOB} NOT NULL,
        expires_at {REAL} NOT NULL,
        PRIMARY KEY (tenant_id, cache_key)
    );
"""
ACCOUNTS = """
    CREATE TABLE accounts (
        id          TEXT PRIMARY KEY,
        tenant_id   TEXT NOT NULL REFERENCES tenants (id),
        name        TEXT NOT NULL,
        component   TEXT NOT NULL,
        sealed_keys {BLOB} NOT NULL,
        created_at  {REAL} NOT NULL,
        updated_at  {REAL} NOT NULL
    );
    CREATE INDEX accounts_by_tenant ON accounts (tenant_id, created_at);
"""
JOB_DEFINITIONS = """
    CREATE TABLE job_definitions (
        id               TEXT PRIMARY KEY,
        tenant_id        TEXT NOT NULL REFERENCES tenants (id),
        code             TEXT NOT NULL,
        job_type         TEXT NOT NULL,
        state            TEXT NOT NULL
                         CHECK (state IN ('INITIALIZED', 'STARTED', 'STOPPED', 'COMPLETED')),
        document         {BLOB} NOT NULL,
        sealed_params    {BLOB} NOT NULL,
        next_fire_at     {REAL},
        version          INTEGER NOT NULL,
        history_count    INTEGER NOT NULL,
        history_seconds  {REAL} NOT NULL,
        created_at       {REAL} NOT NULL,
        updated_at       {REAL} NOT NULL,
        UNIQUE (tenant_id, code)
    );
"""
JOB_COLUMNS = """
        id              TEXT PRIMARY KEY,
        tenant_id       TEXT NOT NULL REFERENCES tenants (id),
        definition_id   TEXT,
        definition_code TEXT,
        job_type        TEXT NOT NULL,
        account_id      TEXT,
        trigger         TEXT NOT NULL,
        scheduled_for   {REAL},
        status          TEXT NOT NULL CHECK (status IN ('WAITING', 'STARTED', 'COMPLETED', 'FAILED',
                                                        'CANCELLED', 'MISSED', 'SKIPPED')),
        overlap         TEXT NOT NULL,
        sealed_params   {BLOB},
        attempt         INTEGER NOT NULL DEFAULT 0,
        max_retries     INTEGER NOT NULL,
        backoff         {REAL} NOT NULL,
        timeout         {REAL},
        run_at          {REAL},
        retry_until     {REAL},
        attempts        {BLOB} NOT NULL,
        result          {BLOB},
        logs            {BLOB},
        created_at      {REAL} NOT NULL,
        started_at      {REAL},
        finished_at     {REAL},
"""
#: The ledger: one row per (definition, slot), whichever node fires it.
LEDGER = "UNIQUE (definition_id, scheduled_for)"
#: What every node must agree on (the secret key's check value).
STORE_SETTINGS = """
    CREATE TABLE store_settings (
        name  TEXT PRIMARY KEY,
        value {BLOB} NOT NULL
    );
"""

_IN_STEP = (
    """
    -- the connector a definition (and each of its jobs) is bound to: its jobs run there or
    -- not at all. Rows of before are bound when a node first starts with their job type in
    -- its catalog (Jobs.bind_job_types); these indexes find them.
    ALTER TABLE job_definitions ADD COLUMN connector TEXT;
    ALTER TABLE jobs ADD COLUMN connector TEXT;
    CREATE INDEX job_definitions_unbound ON job_definitions (job_type) WHERE connector IS NULL;
    CREATE INDEX jobs_unbound ON jobs (job_type)
        WHERE connector IS NULL AND status IN ('WAITING', 'STARTED');
    """,
    """
    -- webhooks: a definition's URLs sealed (they often carry tokens), a job's deliveries
    ALTER TABLE job_definitions ADD COLUMN sealed_webhooks {BLOB};
    ALTER TABLE jobs ADD COLUMN webhooks {BLOB};
    """,
    """
    -- executions findable: what each runs (its call is sealed, then dropped) and how it ended
    ALTER TABLE executions ADD COLUMN component TEXT;
    ALTER TABLE executions ADD COLUMN execution_type TEXT;
    ALTER TABLE executions ADD COLUMN action TEXT;
    ALTER TABLE executions ADD COLUMN outcome_kind TEXT;
    CREATE INDEX executions_by_tenant ON executions (tenant_id, created_at);
    """,
    """
    -- claims fair per tenant: each tenant's queued executions in order, without done rows
    CREATE INDEX executions_queued_by_tenant ON executions (tenant_id, created_at)
        WHERE state = 'queued';
    """,
)


def in_step(**types: str) -> tuple[str, ...]:
    """The shared migrations with a backend's ``types`` (``BLOB="BYTEA"``)."""
    return tuple(migration.format(**types) for migration in _IN_STEP)


def typed(sql: str, **types: str) -> str:
    """``sql`` (pieces of the above) with a backend's ``types``."""
    return sql.format(**types)
