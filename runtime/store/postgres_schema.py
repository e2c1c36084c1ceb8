"""The PostgreSQL schema, one migration per version; append, never edit a released one.

Version 1 is the whole schema as SQLite has it after its own migrations (its tables written
once for both, in schema.py, with the lease columns inline), plus what several nodes
need: partial indexes for the claims and the reapers, a unique index that lets one job of
an overlap 'queue' definition run at a time whichever node claims it, and triggers that
NOTIFY the other nodes when work is queued or done (see events.py), so no write costs an
extra round trip to tell them.

From version 2 on, the migrations are those both backends share.
``schema_migrations`` itself is created before the migrations run (postgres.py).
"""

from connectord.runtime.store import schema
from connectord.runtime.store.events import CHANNEL
from connectord.runtime.store.records import FINAL_STATUSES

SCHEMA_MIGRATIONS = """
    CREATE TABLE IF NOT EXISTS schema_migrations (
        version    INTEGER PRIMARY KEY,
        applied_at TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp()
    )
"""

_FINAL = ", ".join(f"'{status}'" for status in FINAL_STATUSES)
_TYPES = {"BLOB": "BYTEA", "REAL": "DOUBLE PRECISION"}


def _typed(sql: str) -> str:
    return schema.typed(sql, **_TYPES)


MIGRATIONS: tuple[str, ...] = (
    f"""
{_typed(schema.TENANTS)}
    CREATE INDEX api_keys_by_user ON api_keys (user_id);

    CREATE TABLE executions ({_typed(schema.EXECUTION_COLUMNS)}
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

{_typed(schema.RESULT_CACHE)}
    CREATE INDEX result_cache_expiring ON result_cache (expires_at);

{_typed(schema.ACCOUNTS)}
{_typed(schema.JOB_DEFINITIONS)}
    CREATE INDEX job_definitions_due ON job_definitions (next_fire_at) WHERE state = 'STARTED';

    CREATE TABLE jobs ({_typed(schema.JOB_COLUMNS)}
        claimed_by      TEXT,
        lease_until     DOUBLE PRECISION,
        fence           BIGINT NOT NULL DEFAULT 0,
        {schema.LEDGER}
    );
    CREATE INDEX jobs_queue ON jobs (run_at, created_at) WHERE status = 'WAITING';
    CREATE INDEX jobs_running ON jobs (claimed_by) WHERE status = 'STARTED';
    CREATE INDEX jobs_by_tenant ON jobs (tenant_id, created_at);
    CREATE INDEX jobs_by_definition ON jobs (definition_id, status);
    -- overlap 'queue': one job of such a definition runs at a time, whichever node claims
    -- it (a claim racing another one for the same definition fails here and is retried)
    CREATE UNIQUE INDEX jobs_one_queued_run ON jobs (definition_id)
        WHERE status = 'STARTED' AND overlap = 'queue';

{_typed(schema.STORE_SETTINGS)}
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
    *schema.in_step(**_TYPES),
)
