"""What the store keeps, as plain records (the store's contract, whatever the backend)."""

from __future__ import annotations

from typing import Any, Literal

import msgspec

from connectord.plugins.server_errors import Conflict, Invalid, Unavailable

ExecutionState = Literal["queued", "running", "done", "delivered"]


class Principal(msgspec.Struct, frozen=True):
    """Who a request comes from: an API key's user, and the tenant that scopes everything."""

    user_id: str
    email: str
    tenant_id: str
    tenant_name: str


class UserRecord(msgspec.Struct, frozen=True):
    id: str
    email: str
    tenant_name: str
    created_at: float
    active_keys: int


class ExecutionRecord(msgspec.Struct, frozen=True):
    id: str
    tenant_id: str
    state: ExecutionState
    created_at: float
    expires_at: float | None = None
    request_hash: str | None = None


class ExecutionInfo(msgspec.Struct, frozen=True):
    """What can be said of an execution without touching its result: for listings and
    lookups. ``component``, ``kind`` and ``action`` are None for rows stored before they were
    recorded; ``outcome`` is the outcome's kind once it has finished."""

    id: str
    state: ExecutionState
    component: str | None
    kind: str | None
    action: str | None
    outcome: str | None
    created_at: float
    started_at: float | None
    finished_at: float | None
    expires_at: float | None


class ExecutionAbout(msgspec.Struct, frozen=True):
    """What an execution runs, kept in plain text beside its sealed call so that it can be
    listed and counted: the connector, the hook (execution_type) and the action."""

    component: str
    kind: str
    action: str | None = None


class NewExecution(msgspec.Struct, frozen=True):
    """An execution to queue: its call sealed, what runs it (for listings), the request's
    idempotency key and hash, and where a successful outcome is cached for how long."""

    id: str
    tenant_id: str
    sealed_call: bytes
    created_at: float
    idempotency_key: str | None = None
    request_hash: str | None = None
    cache_key: str | None = None
    cache_seconds: float | None = None
    about: ExecutionAbout | None = None


class ExecutionEnd(msgspec.Struct, frozen=True):
    """How an execution ended: its outcome and logs (msgpack) as of ``finished_at``, to be
    fetched before ``expires_at``."""

    outcome: bytes
    logs: bytes
    finished_at: float
    expires_at: float


class ExecutionFilter(msgspec.Struct, frozen=True):
    """Which of a tenant's executions a listing wants; None matches all. ``status`` is
    one of EXECUTION_STATUSES (``ready``/``expired``: finished, before and after ``now``)."""

    status: str | None = None
    component: str | None = None
    kind: str | None = None
    since: float | None = None
    until: float | None = None


#: The statuses a listing filters by and shows (``done`` split by its expiry).
EXECUTION_STATUSES = ("queued", "running", "ready", "expired", "delivered")


class FinishedExecution(msgspec.Struct, frozen=True):
    """An execution's outcome and logs as stored (msgpack), for delivery."""

    id: str
    outcome: bytes
    logs: bytes


class ClaimedExecution(msgspec.Struct, frozen=True):
    id: str
    tenant_id: str
    sealed_call: bytes
    #: The claim's fencing token: only a finish that names it is recorded.
    fence: int
    #: Where a successful outcome is cached, and for how long (None: not cacheable).
    cache_key: str | None = None
    cache_seconds: float | None = None
    #: What it runs (None for rows stored before this was recorded): for logs and metrics.
    component: str | None = None
    kind: str | None = None


class AccountRecord(msgspec.Struct, frozen=True):
    id: str
    tenant_id: str
    name: str
    component: str
    sealed_keys: bytes
    created_at: float
    updated_at: float


DefinitionState = Literal["INITIALIZED", "STARTED", "STOPPED", "COMPLETED"]
JobStatus = Literal["WAITING", "STARTED", "COMPLETED", "FAILED", "CANCELLED", "MISSED", "SKIPPED"]
#: A job in one of these states is over; the others may still run.
FINAL_STATUSES: tuple[JobStatus, ...] = ("COMPLETED", "FAILED", "CANCELLED", "MISSED", "SKIPPED")


class DefinitionRecord(msgspec.Struct, frozen=True):
    """A job definition as stored: its document (JSON, without params and webhook URLs)
    and its params and webhooks sealed, since they may hold secrets (an Authorization
    header, a token in a webhook URL)."""

    id: str
    tenant_id: str
    code: str
    job_type: str
    state: DefinitionState
    document: bytes
    sealed_params: bytes
    next_fire_at: float | None
    version: int
    history_count: int
    history_seconds: float
    created_at: float
    updated_at: float
    #: The connector that owned ``job_type`` when the definition was created (or its type
    #: last changed): its jobs run there or not at all. None: stored before connectord
    #: recorded it, and not bound yet (see ``bind_job_types``).
    connector: str | None = None
    #: The webhooks (``{"onCompletion": [url], "onFailure": [url]}``) sealed; None: none,
    #: or a definition stored before webhooks were sealed (its URLs are in ``document``).
    sealed_webhooks: bytes | None = None


class NewJob(msgspec.Struct, frozen=True):
    """A job (run) to add: an ad-hoc run, or a row of a definition's ledger."""

    id: str
    tenant_id: str
    job_type: str
    trigger: str
    status: JobStatus
    created_at: float
    definition_id: str | None = None
    definition_code: str | None = None
    account_id: str | None = None
    scheduled_for: float | None = None
    overlap: str = "allow"
    sealed_params: bytes | None = None
    max_retries: int = 0
    backoff: float = 30.0
    timeout: float | None = None
    run_at: float | None = None
    retry_until: float | None = None
    #: The connector the job may run in (its definition's, or its type's owner when run
    #: without one).
    connector: str | None = None


class JobRecord(msgspec.Struct, frozen=True):
    id: str
    tenant_id: str
    definition_id: str | None
    definition_code: str | None
    job_type: str
    account_id: str | None
    trigger: str
    scheduled_for: float | None
    status: JobStatus
    overlap: str
    attempt: int
    max_retries: int
    backoff: float
    timeout: float | None
    run_at: float | None
    retry_until: float | None
    attempts: bytes
    result: bytes | None
    logs: bytes | None
    created_at: float
    started_at: float | None
    finished_at: float | None
    connector: str | None = None
    #: How its webhooks were delivered (JSON list, see runtime/jobs/webhooks.py); None: none sent.
    webhooks: bytes | None = None


class JobEnd(msgspec.Struct, frozen=True):
    """How a job ended: its final status, attempt log (JSON), result and logs, at ``finished_at``."""

    status: JobStatus
    attempts: bytes
    result: bytes | None
    logs: bytes | None
    finished_at: float


class ClaimedJob(msgspec.Struct, frozen=True):
    """A job taken to run now: its record (attempt already counted), its sealed params and
    the claim's fencing token (only a retry or finish that names it is recorded)."""

    job: JobRecord
    sealed_params: bytes
    fence: int


class Fire(msgspec.Struct, frozen=True):
    """What the scheduler decided for one definition: move ``next_fire_at`` from ``slot``
    to ``next_fire_at`` (and maybe the state), adding ``jobs`` to the ledger — all or
    nothing, and only if the definition is still at ``version`` and ``slot``."""

    definition_id: str
    version: int
    slot: float | None
    next_fire_at: float | None
    state: DefinitionState
    jobs: list[NewJob]


class Renewed(msgspec.Struct, frozen=True):
    """The claims whose leases ``renew_leases`` extended: the node still holds them. Any
    other it asked for is no longer its own (cancelled, or taken back after its lease ran
    out): it should stop running it."""

    executions: list[str]
    jobs: list[str]


class Reaped(msgspec.Struct, frozen=True):
    """What ``reap_*`` did with work whose node stopped renewing its lease."""

    #: Put back in the queue, to be claimed again.
    requeued: int
    #: Ended for good (claimed too often, or out of retries): their ids, to wake waiters.
    ended: list[str]


_attempt_log = msgspec.json.Decoder(list[dict[str, Any]])


def lost_attempt(attempt: int, started_at: float | None, now: float) -> dict[str, object]:
    """The entry of a job's attempt log for an attempt whose node was lost."""
    return ended_attempt(
        attempt,
        started_at,
        now,
        {
            "kind": "node_lost",
            "message": "the node running this attempt stopped renewing its lease (it died or lost the store)",
        },
    )


def ended_attempt(
    attempt: int, started_at: float | None, now: float, error: dict[str, Any]
) -> dict[str, object]:
    """The entry of a job's attempt log for an attempt ended from outside its run."""
    return {
        "attempt": attempt,
        "startedAt": started_at,
        "finishedAt": now,
        "outcome": "failed",
        "error": error,
    }


def with_attempt(attempts: bytes, entry: dict[str, object]) -> bytes:
    """A job's attempt log (JSON) with ``entry`` added."""
    return msgspec.json.encode([*_attempt_log.decode(attempts), entry])


def may_retry_lost(attempt: int, max_retries: int, retry_until: float | None, now: float) -> bool:
    """Whether a job whose node was lost on attempt ``attempt`` runs again: retries left,
    and still before the end of its retry window (its next slot)."""
    return attempt <= max_retries and (retry_until is None or now < retry_until)


class StoreUnavailableError(Unavailable):
    """The store cannot be written or read right now (disk full, locked, gone)."""

    public_message = "The store is unavailable; nothing was changed. Try again later."


class StoreSyncError(StoreUnavailableError):
    """A commit was made, but the disk did not confirm it was written: it may not survive
    a power cut. Never made again in its place (it was made once). ``made``: what the call
    returned, where it is known (``(result,)``), so that what it claimed or recorded is
    not forgotten."""

    public_message = (
        "The store made the change but the disk did not confirm it; look before trying again."
    )

    def __init__(self, message: str, made: tuple[Any] | None = None) -> None:
        super().__init__(message)
        self.made = made


class ConflictError(Conflict):
    """A write conflicts with what is stored (a unique key is taken)."""


class InvalidTextError(Invalid, ValueError):
    """A text the store cannot keep: it holds a NUL character (U+0000). PostgreSQL refuses
    them in text, so no backend keeps them, and a client is told so (400)."""

    field: str

    def __init__(self, field: str) -> None:
        super().__init__(f"{field} must not contain NUL (\\u0000) characters", field)


def refuse_nul(**texts: str | None) -> None:
    """Raise InvalidTextError for the first of ``texts`` (name=value) holding a NUL."""
    for field, text in texts.items():
        if text is not None and "\x00" in text:
            raise InvalidTextError(field)


def refuse_nul_account(record: AccountRecord) -> None:
    refuse_nul(name=record.name, component=record.component, id=record.id, tenant=record.tenant_id)


def refuse_nul_definition(record: DefinitionRecord) -> None:
    refuse_nul(
        id=record.id,
        tenant=record.tenant_id,
        code=record.code,
        job_type=record.job_type,
        connector=record.connector,
    )


def refuse_nul_job(job: NewJob) -> None:
    refuse_nul(
        id=job.id,
        tenant=job.tenant_id,
        definition_id=job.definition_id,
        definition_code=job.definition_code,
        job_type=job.job_type,
        account_id=job.account_id,
        trigger=job.trigger,
        overlap=job.overlap,
        connector=job.connector,
    )


def has_nul(*texts: str | None) -> bool:
    """Whether a lookup key holds a NUL: then nothing stored can match it."""
    return any(text is not None and "\x00" in text for text in texts)
