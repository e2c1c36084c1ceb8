"""Where connectord keeps what it accepts. Chosen by URL; SQLite in the data directory is the
embedded default."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

from connectord.runtime.config import ConfigurationError, Settings
from connectord.runtime.store.records import (
    AccountRecord,
    ClaimedExecution,
    ClaimedJob,
    DefinitionRecord,
    ExecutionAbout,
    ExecutionFilter,
    ExecutionInfo,
    ExecutionRecord,
    FinishedExecution,
    Fire,
    JobRecord,
    JobStatus,
    NewJob,
    Principal,
    Reaped,
    Renewed,
    UserRecord,
)
from connectord.runtime.store.sqlite import SQLiteStore

SQLITE_FILE = "connectord.sqlite3"


class Store(Protocol):
    """What every backend provides; see SQLiteStore for the behaviour of each method."""

    url: str
    #: True when one process owns the store (SQLite): whatever is running when it starts
    #: was interrupted, and is requeued at once. Otherwise leases decide (``reap_*``).
    single_node: bool
    #: How many store calls may run at once (threads of the StoreRunner).
    concurrency: int
    #: The schema migrations this process applied when it opened the store.
    applied: list[int]

    @property
    def schema_version(self) -> int: ...

    def ping(self) -> None:
        """Raise if the store cannot be used right now."""

    def close(self) -> None: ...

    def database_time(self) -> float:
        """The store's clock (Unix seconds): every node's due checks use it."""

    # events between nodes (see events.py); a single-node store has none to carry
    def announce(self, event: str) -> None:
        """Tell every node listening (this one included) about ``event``."""

    def listen(self, callback: Callable[[str], None]) -> Callable[[], None]:
        """Call ``callback(event)`` (from another thread) for every event until the
        returned function is called."""
        ...

    # what every node must agree on (the secret key's check value)
    def setting(self, name: str) -> bytes | None: ...
    def add_setting(self, name: str, value: bytes) -> bytes:
        """Store ``value`` unless ``name`` has one; the value stored now (the first wins)."""
        ...

    def put_setting(self, name: str, value: bytes) -> None: ...

    # leases: claimed work carries its node, a lease and a fencing token
    def renew_leases(
        self, node: str, lease_until: float, executions: Sequence[str], jobs: Sequence[str]
    ) -> Renewed:
        """Extend the leases of these executions and jobs, where ``node`` still holds them;
        which. A claim the node no longer runs (its task died) is left to run out."""
        ...

    def release_claims(self, node: str, executions: Sequence[str], jobs: Sequence[str]) -> int:
        """A node stopping gives these back: queued or waiting again at once under a new
        fence, the interrupted claim or attempt not counted; how many."""
        ...

    def reap_executions(
        self, now: float, max_claims: int, crashed: bytes, logs: bytes, expires_at: float
    ) -> Reaped:
        """Running executions whose lease ended before ``now``: requeued (new fence), or
        finished with ``crashed`` once claimed ``max_claims`` times."""
        ...

    def reap_jobs(self, now: float) -> Reaped:
        """STARTED jobs whose lease ended before ``now``: the lost attempt is logged
        (``lost_attempt``) and counts; WAITING again if retries are left, else FAILED."""
        ...

    # users and keys
    def add_user(self, email: str, tenant_name: str, key_hash: str, now: float) -> UserRecord: ...
    def list_users(self) -> list[UserRecord]: ...
    def revoke_keys(self, email: str, now: float) -> int: ...
    def rotate_key(self, email: str, key_hash: str, now: float) -> int | None: ...
    def delete_user(self, email: str) -> bool: ...
    def principal(self, key_hash: str) -> Principal | None: ...

    # executions
    def add_execution(
        self,
        execution_id: str,
        tenant_id: str,
        sealed_call: bytes,
        now: float,
        idempotency_key: str | None = None,
        request_hash: str | None = None,
        cache_key: str | None = None,
        cache_seconds: float | None = None,
        about: ExecutionAbout | None = None,
    ) -> tuple[ExecutionRecord, bool]: ...
    def cached_outcome(self, tenant_id: str, cache_key: str, now: float) -> bytes | None: ...
    def add_answered_execution(
        self,
        execution_id: str,
        tenant_id: str,
        outcome: bytes,
        logs: bytes,
        now: float,
        expires_at: float,
        about: ExecutionAbout | None = None,
    ) -> ExecutionRecord: ...
    def cache_outcome(self, tenant_id: str, cache_key: str, outcome: bytes, expires_at: float) -> None: ...
    def execution(self, tenant_id: str, execution_id: str) -> ExecutionRecord | None: ...
    def claim_execution(self, now: float, node: str, lease_until: float) -> ClaimedExecution | None: ...
    def finish_execution(
        self,
        execution_id: str,
        fence: int,
        outcome: bytes,
        logs: bytes,
        now: float,
        expires_at: float,
        outcome_kind: str | None = None,
    ) -> bool: ...
    def queue_depth(self, now: float) -> tuple[int, int]:
        """Queued executions, and jobs due that wait for a runner."""
        ...

    def execution_info(self, tenant_id: str, execution_id: str) -> ExecutionInfo | None: ...
    def list_executions(
        self, tenant_id: str, wanted: ExecutionFilter, now: float, limit: int, offset: int
    ) -> list[ExecutionInfo]: ...
    def deliver_result(self, tenant_id: str, execution_id: str, now: float) -> FinishedExecution | None: ...
    def cancel_execution(
        self, tenant_id: str, execution_id: str, outcome: bytes, logs: bytes, now: float, expires_at: float
    ) -> bool:
        """Finish a queued or running execution with ``outcome`` (cancelled) under a new
        fence, so whichever node runs it cannot record another; False if it has ended."""
        ...

    def requeue_running(self) -> int: ...
    def purge_executions(self, now: float, keep_delivered: float) -> int: ...

    # accounts
    def add_account(self, record: AccountRecord) -> None: ...
    def account(self, tenant_id: str, account_id: str) -> AccountRecord | None: ...
    def accounts(self, tenant_id: str, limit: int, offset: int) -> list[AccountRecord]: ...
    def update_account(self, record: AccountRecord) -> bool: ...
    def delete_account(self, tenant_id: str, account_id: str) -> bool: ...

    # job definitions and jobs (the jobs table is the scheduler's ledger)
    def add_definition(self, record: DefinitionRecord) -> None: ...
    def definition(self, tenant_id: str, code: str) -> DefinitionRecord | None: ...
    def definitions_by_id(self, ids: Sequence[str]) -> list[DefinitionRecord]: ...
    def definitions(self, tenant_id: str, limit: int, offset: int) -> list[DefinitionRecord]: ...
    def replace_definition(self, record: DefinitionRecord, expected_version: int) -> bool: ...
    def delete_definition(self, tenant_id: str, code: str, now: float) -> str | None: ...
    def bind_job_types(self, owners: Mapping[str, str]) -> int:
        """Bind unbound definitions and unfinished jobs to their job type's owner (job
        type: connector); how many rows were bound."""
        ...

    def scheduled_definitions(self) -> list[tuple[float, str, int]]: ...
    def fire(self, fires: Sequence[Fire], now: float) -> list[NewJob]: ...
    def add_job(self, job: NewJob) -> bool: ...
    def add_definition_job(self, job: NewJob) -> bool: ...
    def job(self, tenant_id: str, job_id: str) -> JobRecord | None: ...
    def jobs(
        self,
        tenant_id: str,
        limit: int,
        offset: int,
        definition_code: str | None = None,
        status: str | None = None,
        since: float | None = None,
    ) -> list[JobRecord]: ...
    def claim_job(self, now: float, node: str, lease_until: float) -> ClaimedJob | None: ...
    def next_job_due(self) -> float | None: ...
    def retry_job(self, job_id: str, fence: int, attempts: bytes, run_at: float) -> bool: ...
    def finish_job(
        self,
        job_id: str,
        fence: int,
        status: JobStatus,
        attempts: bytes,
        result: bytes | None,
        logs: bytes | None,
        now: float,
    ) -> bool: ...
    def definitions_with_plain_webhooks(self, empty: bytes) -> list[DefinitionRecord]:
        """Definitions stored before webhooks were sealed, with webhooks in their document."""
        ...

    def seal_webhooks(self, definition_id: str, version: int, document: bytes, sealed: bytes) -> bool:
        """Move a definition's webhooks out of its document, sealed, if still at ``version``."""
        ...

    def record_webhooks(self, job_id: str, deliveries: bytes) -> bool:
        """Keep how a finished job's webhooks were delivered (JSON); False if it is gone."""
        ...

    def cancel_job(self, tenant_id: str, job_id: str, now: float, error: dict[str, Any]) -> JobStatus | None:
        """Cancel a waiting or running job (CANCELLED; a running one under a new fence, its
        attempt ended with ``error``); its status before, or None if it had ended."""
        ...

    def requeue_started_jobs(self) -> int: ...
    def purge_jobs(self, now: float, adhoc_seconds: float) -> int: ...


def open_store(settings: Settings) -> Store:
    """Open (and create or migrate) the store the settings name."""
    url = settings.store_url
    if url is None:
        return SQLiteStore(prepare_data_dir(settings.data_dir) / SQLITE_FILE)
    if url.startswith("sqlite:///"):
        return SQLiteStore(Path(url.removeprefix("sqlite:///")).expanduser())
    scheme = url.split(":", 1)[0]
    if scheme in ("postgresql", "postgres"):
        try:
            from connectord.runtime.store.postgres import PostgresStore
        except ImportError as exc:
            raise ConfigurationError(
                f"store URL: the PostgreSQL store needs psycopg ({exc}): pip install 'connectord[postgres]'"
            ) from None
        return PostgresStore(url)
    raise ConfigurationError(
        f"store URL: unsupported scheme '{scheme}' (use sqlite:///PATH, or leave it unset)"
    )


def prepare_data_dir(path: Path) -> Path:
    """Create the data directory, readable by its owner only (it will hold keys)."""
    if path.exists() and not path.is_dir():
        raise ConfigurationError(f"data directory {path} is not a directory")
    try:
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigurationError(f"data directory {path}: {exc.strerror}") from None
    return path
