"""The PostgreSQL schema, one migration per version; append, never edit a released one.

Version 1 is the whole schema as SQLite has it after its own migrations (with the lease
columns), plus what several nodes need: partial indexes for the claims and the reapers, a
unique index that lets one job of an overlap 'queue' definition run at a time whichever
node claims it, and triggers that NOTIFY the other nodes when work is queued or done (see
events.py), so no write costs an extra round trip to tell them.

``schema_migrations`` itself is created before the migrations run (postgres.py).
"""

from connectord.runtime.store.events import CHANNEL
from connectord.runtime.store.records import FINAL_STATUSES

SCHEMA_MIGRATIONS = """
    CREATE TABLE IF NOT EXISTS schema_migrations (
        version    INTEGER PRIMARY KEY,
        applied_at TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp()
    )
"""

_FINAL = ", ".join(f"'{status}'" for status in FINAL_STATUSES)

MIGRATIONS: tuple[str, ...] = (
    f"""
    CREATE TABLE tenants (
        id   TEXT PRIMARY KEY,
        name TEXT NOT NULL UNIQUE
    );
    CREATE TABLE users (
        id         TEXT PRIMARY KEY,
        tenant_id  TEXT NOT NULL REFERENCES tenants (id),
        email      TEXT NOT NULL UNIQUE,
        created_at DOUBLE PRECISION NOT NULL
    );
    CREATE TABLE api_keys (
        key_hash   TEXT PRIMARY KEY,
        user_id    TEXT NOT NULL REFERENCES users (id),
        created_at DOUBLE PRECISION NOT NULL,
        revoked_at DOUBLE PRECISION
    );
    CREATE INDEX api_keys_by_user ON api_keys (user_id);

    CREATE TABLE executions (
        id              TEXT PRIMARY KEY,
        tenant_id       TEXT NOT NULL REFERENCES tenants (id),
        state           TEXT NOT NULL CHECK (state IN ('queued', 'running', 'done', 'delivered')),
        sealed_call     BYTEA,
        idempotency_key TEXT,
        request_hash    TEXT,
        outcome         BYTEA,
        logs            BYTEA,
        created_at      DOUBLE PRECISION NOT NULL,
        started_at      DOUBLE PRECISION,
        finished_at     DOUBLE PRECISION,
        expires_at      DOUBLE PRECISION,
        cache_key       TEXT,
        cache_seconds   DOUBLE PRECISION,
        -- leases: who runs a claimed row, until when, and the claim's fencing token
        claimed_by      TEXT,
        lease_until     DOUBLE PRECISION,
        fence           BIGINT NOT NULL DEFAULT 0,
        claims          INTEGER NOT NULL DEFAULT 0,
        UNIQUE (tenant_id, idempotency_key)
    );
    -- the queue (claims take the oldest), the running ones (renewals, reapers), the purge
    CREATE INDEX executions_queue ON executions (created_at) WHERE state = 'queued';
    CREATE INDEX executions_running ON executions (claimed_by) WHERE state = 'running';
    CREATE INDEX executions_finished ON executions (state, finished_at);
    CREATE INDEX executions_expiring ON executions (expires_at) WHERE state = 'done';

    CREATE TABLE result_cache (
        tenant_id  TEXT NOT NULL,
        cache_key  TEXT NOT NULL,
        outcome    BYTEA NOT NULL,
        expires_at DOUBLE PRECISION NOT NULL,
        PRIMARY KEY (tenant_id, cache_key)
    );
    CREATE INDEX result_cache_expiring ON result_cache (expires_at);

    CREATE TABLE accounts (
        id          TEXT PRIMARY KEY,
        tenant_id   TEXT NOT NULL REFERENCES tenants (id),
        name        TEXT NOT NULL,
        component   TEXT NOT NULL,
        sealed_keys BYTEA NOT NULL,
        created_at  DOUBLE PRECISION NOT NULL,
        updated_at  DOUBLE PRECISION NOT NULL
    );
    CREATE INDEX accounts_by_tenant ON accounts (tenant_id, created_at);

    CREATE TABLE job_definitions (
        id               TEXT PRIMARY KEY,
        tenant_id        TEXT NOT NULL REFERENCES tenants (id),
        code             TEXT NOT NULL,
        job_type         TEXT NOT NULL,
        state            TEXT NOT NULL
                         CHECK (state IN ('INITIALIZED', 'STARTED', 'STOPPED', 'COMPLETED')),
        document         BYTEA NOT NULL,
        sealed_params    BYTEA NOT NULL,
        next_fire_at     DOUBLE PRECISION,
        version          INTEGER NOT NULL,
        history_count    INTEGER NOT NULL,
        history_seconds  DOUBLE PRECISION NOT NULL,
        created_at       DOUBLE PRECISION NOT NULL,
        updated_at       DOUBLE PRECISION NOT NULL,
        UNIQUE (tenant_id, code)
    );
    CREATE INDEX job_definitions_due ON job_definitions (next_fire_at) WHERE state = 'STARTED';

    CREATE TABLE jobs (
        id              TEXT PRIMARY KEY,
        tenant_id       TEXT NOT NULL REFERENCES tenants (id),
        definition_id   TEXT,
        definition_code TEXT,
        job_type        TEXT NOT NULL,
        account_id      TEXT,
        trigger         TEXT NOT NULL,
        scheduled_for   DOUBLE PRECISION,
        status          TEXT NOT NULL CHECK (status IN ('WAITING', 'STARTED', 'COMPLETED', 'FAILED',
                                                        'CANCELLED', 'MISSED', 'SKIPPED')),
        overlap         TEXT NOT NULL,
        sealed_params   BYTEA,
        attempt         INTEGER NOT NULL DEFAULT 0,
        max_retries     INTEGER NOT NULL,
        backoff         DOUBLE PRECISION NOT NULL,
        timeout         DOUBLE PRECISION,
        run_at          DOUBLE PRECISION,
        retry_until     DOUBLE PRECISION,
        attempts        BYTEA NOT NULL,
        result          BYTEA,
        logs            BYTEA,
        created_at      DOUBLE PRECISION NOT NULL,
        started_at      DOUBLE PRECISION,
        finished_at     DOUBLE PRECISION,
        claimed_by      TEXT,
        lease_until     DOUBLE PRECISION,
        fence           BIGINT NOT NULL DEFAULT 0,
        -- the ledger: one row per (definition, slot), whichever node fires it
        UNIQUE (definition_id, scheduled_for)
    );
    CREATE INDEX jobs_queue ON jobs (run_at, created_at) WHERE status = 'WAITING';
    CREATE INDEX jobs_running ON jobs (claimed_by) WHERE status = 'STARTED';
    CREATE INDEX jobs_by_tenant ON jobs (tenant_id, created_at);
    CREATE INDEX jobs_by_definition ON jobs (definition_id, status);
    -- overlap 'queue': one job of such a definition runs at a time, whichever node claims
    -- it (a claim racing another one for the same definition fails here and is retried)
    CREATE UNIQUE INDEX jobs_one_queued_run ON jobs (definition_id)
        WHERE status = 'STARTED' AND overlap = 'queue';

    -- what every node must agree on (the secret key's check value)
    CREATE TABLE store_settings (
        name  TEXT PRIMARY KEY,
        value BYTEA NOT NULL
    );

    -- events for the other nodes (events.py): NOTIFY is sent when the transaction commits
    CREATE FUNCTION connectord_execution_event() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF NEW.state = 'queued' THEN
            PERFORM pg_notify('{CHANNEL}', 'execution-queued');
        ELSIF NEW.state = 'done' THEN
            PERFORM pg_notify('{CHANNEL}', 'execution-done:' || NEW.id);
        END IF;
        RETURN NULL;
    END $$;
    CREATE TRIGGER executions_queued AFTER INSERT ON executions
        FOR EACH ROW WHEN (NEW.state = 'queued') EXECUTE FUNCTION connectord_execution_event();
    CREATE TRIGGER executions_changed AFTER UPDATE OF state ON executions
        FOR EACH ROW WHEN (NEW.state IS DISTINCT FROM OLD.state AND NEW.state IN ('queued', 'done'))
        EXECUTE FUNCTION connectord_execution_event();

    CREATE FUNCTION connectord_job_event() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF NEW.status = 'WAITING' THEN
            PERFORM pg_notify('{CHANNEL}', 'job-queued');
        ELSE
            PERFORM pg_notify('{CHANNEL}', 'job-done:' || NEW.id);
        END IF;
        RETURN NULL;
    END $$;
    CREATE TRIGGER jobs_queued AFTER INSERT ON jobs
        FOR EACH ROW WHEN (NEW.status = 'WAITING') EXECUTE FUNCTION connectord_job_event();
    CREATE TRIGGER jobs_changed AFTER UPDATE OF status ON jobs
        FOR EACH ROW WHEN (NEW.status IS DISTINCT FROM OLD.status
                           AND (NEW.status = 'WAITING' OR NEW.status IN ({_FINAL})))
        EXECUTE FUNCTION connectord_job_event();

    CREATE FUNCTION connectord_definition_event() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP = 'DELETE' THEN
            PERFORM pg_notify('{CHANNEL}', 'definition:' || OLD.id);
        ELSE
            PERFORM pg_notify('{CHANNEL}', 'definition:' || NEW.id);
        END IF;
        RETURN NULL;
    END $$;
    CREATE TRIGGER job_definitions_added_or_deleted AFTER INSERT OR DELETE ON job_definitions
        FOR EACH ROW EXECUTE FUNCTION connectord_definition_event();
    -- not on the scheduler's own moves (next_fire_at, state): only a new version is news
    CREATE TRIGGER job_definitions_changed AFTER UPDATE OF version ON job_definitions
        FOR EACH ROW WHEN (NEW.version IS DISTINCT FROM OLD.version)
        EXECUTE FUNCTION connectord_definition_event();
    """,
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
    ALTER TABLE job_definitions ADD COLUMN sealed_webhooks BYTEA;
    ALTER TABLE jobs ADD COLUMN webhooks BYTEA;
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
