"""The SQLite schema, one migration per version; append, never edit a released one."""

MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE IF NOT EXISTS schema_migrations (
        version    INTEGER PRIMARY KEY,
        applied_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
    );
    """,
    """
    CREATE TABLE tenants (
        id   TEXT PRIMARY KEY,
        name TEXT NOT NULL UNIQUE
    );
    CREATE TABLE users (
        id         TEXT PRIMARY KEY,
        tenant_id  TEXT NOT NULL REFERENCES tenants (id),
        email      TEXT NOT NULL UNIQUE,
        created_at REAL NOT NULL
    );
    CREATE TABLE api_keys (
        key_hash   TEXT PRIMARY KEY,
        user_id    TEXT NOT NULL REFERENCES users (id),
        created_at REAL NOT NULL,
        revoked_at REAL
    );
    CREATE TABLE executions (
        id              TEXT PRIMARY KEY,
        tenant_id       TEXT NOT NULL REFERENCES tenants (id),
        state           TEXT NOT NULL CHECK (state IN ('queued', 'running', 'done', 'delivered')),
        sealed_call     BLOB,
        idempotency_key TEXT,
        request_hash    TEXT,
        outcome         BLOB,
        logs            BLOB,
        created_at      REAL NOT NULL,
        started_at      REAL,
        finished_at     REAL,
        expires_at      REAL,
        UNIQUE (tenant_id, idempotency_key)
    );
    CREATE INDEX executions_queue ON executions (state, created_at);
    CREATE TABLE accounts (
        id          TEXT PRIMARY KEY,
        tenant_id   TEXT NOT NULL REFERENCES tenants (id),
        name        TEXT NOT NULL,
        component   TEXT NOT NULL,
        sealed_keys BLOB NOT NULL,
        created_at  REAL NOT NULL,
        updated_at  REAL NOT NULL
    );
    CREATE INDEX accounts_by_tenant ON accounts (tenant_id, created_at);
    """,
    """
    ALTER TABLE executions ADD COLUMN cache_key TEXT;
    ALTER TABLE executions ADD COLUMN cache_seconds REAL;
    CREATE TABLE result_cache (
        tenant_id  TEXT NOT NULL,
        cache_key  TEXT NOT NULL,
        outcome    BLOB NOT NULL,
        expires_at REAL NOT NULL,
        PRIMARY KEY (tenant_id, cache_key)
    );
    """,
    """
    CREATE TABLE job_definitions (
        id               TEXT PRIMARY KEY,
        tenant_id        TEXT NOT NULL REFERENCES tenants (id),
        code             TEXT NOT NULL,
        job_type         TEXT NOT NULL,
        state            TEXT NOT NULL
                         CHECK (state IN ('INITIALIZED', 'STARTED', 'STOPPED', 'COMPLETED')),
        document         BLOB NOT NULL,
        sealed_params    BLOB NOT NULL,
        next_fire_at     REAL,
        version          INTEGER NOT NULL,
        history_count    INTEGER NOT NULL,
        history_seconds  REAL NOT NULL,
        created_at       REAL NOT NULL,
        updated_at       REAL NOT NULL,
        UNIQUE (tenant_id, code)
    );
    CREATE INDEX job_definitions_due ON job_definitions (state, next_fire_at);
    CREATE TABLE jobs (
        id              TEXT PRIMARY KEY,
        tenant_id       TEXT NOT NULL REFERENCES tenants (id),
        definition_id   TEXT,
        definition_code TEXT,
        job_type        TEXT NOT NULL,
        account_id      TEXT,
        trigger         TEXT NOT NULL,
        scheduled_for   REAL,
        status          TEXT NOT NULL CHECK (status IN ('WAITING', 'STARTED', 'COMPLETED', 'FAILED',
                                                        'CANCELLED', 'MISSED', 'SKIPPED')),
        overlap         TEXT NOT NULL,
        sealed_params   BLOB,
        attempt         INTEGER NOT NULL DEFAULT 0,
        max_retries     INTEGER NOT NULL,
        backoff         REAL NOT NULL,
        timeout         REAL,
        run_at          REAL,
        retry_until     REAL,
        attempts        BLOB NOT NULL,
        result          BLOB,
        logs            BLOB,
        created_at      REAL NOT NULL,
        started_at      REAL,
        finished_at     REAL,
        -- the ledger: one row per (definition, slot), whichever process fires it
        UNIQUE (definition_id, scheduled_for)
    );
    CREATE INDEX jobs_queue ON jobs (status, run_at);
    CREATE INDEX jobs_by_tenant ON jobs (tenant_id, created_at);
    CREATE INDEX jobs_by_definition ON jobs (definition_id, status);
    """,
    """
    -- leases: who runs a claimed row, until when, and the claim's fencing token
    ALTER TABLE executions ADD COLUMN claimed_by TEXT;
    ALTER TABLE executions ADD COLUMN lease_until REAL;
    ALTER TABLE executions ADD COLUMN fence INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE executions ADD COLUMN claims INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE jobs ADD COLUMN claimed_by TEXT;
    ALTER TABLE jobs ADD COLUMN lease_until REAL;
    ALTER TABLE jobs ADD COLUMN fence INTEGER NOT NULL DEFAULT 0;
    -- what every process on the store must agree on (the secret key's check value)
    CREATE TABLE store_settings (
        name  TEXT PRIMARY KEY,
        value BLOB NOT NULL
    );
    """,
    """
    -- the connector a definition (and each of its jobs) is bound to: its jobs run there or
    -- not at all. Rows of before are bound when a server first starts with their job type
    -- in its catalog (Jobs.bind_job_types); these indexes find them.
    ALTER TABLE job_definitions ADD COLUMN connector TEXT;
    ALTER TABLE jobs ADD COLUMN connector TEXT;
    CREATE INDEX job_definitions_unbound ON job_definitions (job_type) WHERE connector IS NULL;
    CREATE INDEX jobs_unbound ON jobs (job_type)
        WHERE connector IS NULL AND status IN ('WAITING', 'STARTED');
    """,
    """
    -- webhooks: a definition's URLs sealed (they often carry tokens), a job's deliveries
    ALTER TABLE job_definitions ADD COLUMN sealed_webhooks BLOB;
    ALTER TABLE jobs ADD COLUMN webhooks BLOB;
    """,
    """
    -- executions findable: what each runs (its call is sealed, then dropped) and how it ended
    ALTER TABLE executions ADD COLUMN component TEXT;
    ALTER TABLE executions ADD COLUMN execution_type TEXT;
    ALTER TABLE executions ADD COLUMN action TEXT;
    ALTER TABLE executions ADD COLUMN outcome_kind TEXT;
    CREATE INDEX executions_by_tenant ON executions (tenant_id, created_at);
    """,
)
