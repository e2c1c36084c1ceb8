"""The jobs service: job types, definitions and jobs for one tenant at a time. The
scheduler fires definitions; the dispatcher (runtime/dispatch.py, with work.py) runs the
jobs in the sandbox.

A job's params (and the account it uses) are sealed at rest and dropped once it has
finished. Every run goes through the supervisor, like every design-time call.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

import msgspec

from connectord.plugins.types import JobType
from connectord.runtime.calls import params_problem
from connectord.runtime.dispatch import Dispatcher
from connectord.runtime.executions.results import rejection_reason
from connectord.runtime.jobs import lifecycle, webhooks
from connectord.runtime.jobs.binding import account_mismatch, bound_job_type, owner_changed
from connectord.runtime.jobs.definitions import (
    FIELD,
    Definition,
    DefinitionSpec,
    check_spec,
    decode_spec,
    encode_spec,
    merge,
    parse_spec,
)
from connectord.runtime.jobs.errors import NotFoundError, StateError
from connectord.runtime.jobs.planning import dated_id
from connectord.runtime.jobs.scheduler import Scheduler
from connectord.runtime.jobs.secret_params import masked, refuse_masks, unmasked_params
from connectord.runtime.jobs.settings import JobSettings
from connectord.runtime.parts import Parts
from connectord.runtime.secrets import SecretsError
from connectord.runtime.store.events import event
from connectord.runtime.store.records import (
    ClaimedJob,
    DefinitionRecord,
    JobRecord,
    NewJob,
    Principal,
)
from connectord.runtime.validation import InvalidRequestError, check_integers
from connectord.sandbox.outcomes import Cancelled

log = logging.getLogger(__name__)

#: Longest a cancel waits for the killed run to be recorded.
CANCEL_WAIT = 10.0


class Jobs:
    def __init__(self, parts: Parts, settings: JobSettings, dispatcher: Dispatcher[ClaimedJob]) -> None:
        """``dispatcher`` runs the jobs."""
        self.store, self.run, self.box, self.supervisor = parts.store, parts.run, parts.box, parts.supervisor
        self.clock, self.metrics = parts.clock, parts.metrics
        self.settings = settings
        self.dispatcher = dispatcher
        #: Requests waiting for a job to end.
        self.ends = dispatcher.ends
        self.scheduler = Scheduler(self.store, self.run, self.clock, on_fired=self._fired)

    def _fired(self, jobs: list[NewJob]) -> None:
        lifecycle.added(jobs, self.metrics)
        self.dispatcher.wake()

    # -- job types ----------------------------------------------------------------------

    def job_types(self) -> list[tuple[str, JobType]]:
        return self.supervisor.catalog.job_types()

    def job_type(self, code: str, field: str | None = None) -> tuple[str, JobType]:
        """The connector and description of a job type; NotFoundError, or with ``field``
        an InvalidRequestError naming it."""
        found = self.supervisor.catalog.job_type(code)
        if found is None:
            known = ", ".join(t.code for _, t in self.job_types()) or "none"
            message = f"unknown job type '{code}' (known: {known})"
            if field is not None:
                raise InvalidRequestError(message, field)
            raise NotFoundError(message)
        return found

    async def execute_type(
        self, principal: Principal, code: str, params: dict[str, Any], account_id: str | None
    ) -> JobRecord:
        """Run a job type now, without a definition (bound to the type's owner now)."""
        connector, job_type = self.job_type(code)
        self._check_params(job_type, params, "params")
        await self._check_account(principal, job_type, code, account_id, "accountId")
        now = self.clock()
        job = NewJob(
            id=dated_id(now),
            tenant_id=principal.tenant_id,
            job_type=code,
            trigger="api",
            status="WAITING",
            created_at=now,
            account_id=account_id,
            sealed_params=self.box.seal_json(params),
            run_at=now,
            connector=connector,
        )
        await self.run(self.store.add_job, job)
        self._fired([job])
        return await self._job_record(principal, job.id)

    # -- definitions --------------------------------------------------------------------

    async def create_definition(self, principal: Principal, raw: dict[str, Any]) -> DefinitionRecord:
        definition = parse_spec(raw)
        # Nothing is stored for a mask to stand for (a definition copied from an answer).
        refuse_masks(definition.spec.params, f"{FIELD}.params")
        connector = await self._check_definition(principal, definition, None)
        now = self.clock()
        spec = definition.spec
        record = DefinitionRecord(
            id=dated_id(now),
            tenant_id=principal.tenant_id,
            code=spec.job_definition_code,
            job_type=spec.job_type,
            state="INITIALIZED",
            document=encode_spec(webhooks.without_webhooks(spec)),
            sealed_params=self.box.seal_json(spec.params),
            next_fire_at=None,
            version=1,
            history_count=spec.history_max_count,
            history_seconds=spec.history_max_age_days * 86400.0,
            created_at=now,
            updated_at=now,
            connector=connector,
            sealed_webhooks=webhooks.seal(self.box, spec.options.webhooks),
        )
        await self.run(self.store.add_definition, record)
        return record

    async def seal_plain_webhooks(self) -> int:
        """Seal the webhooks of definitions stored before webhooks were sealed (their URLs
        are in the document, in plain text); how many were sealed."""
        sealed = 0
        for record in await self.run(self.store.definitions_with_plain_webhooks, webhooks.EMPTY_IN_DOCUMENT):
            spec = decode_spec(record.document)
            box = webhooks.seal(self.box, spec.options.webhooks)
            if box is None:
                continue
            document = encode_spec(webhooks.without_webhooks(spec))
            sealed += await self.run(self.store.seal_webhooks, record.id, record.version, document, box)
        return sealed

    async def definition(self, principal: Principal, code: str) -> DefinitionRecord:
        record = await self.run(self.store.definition, principal.tenant_id, code)
        if record is None:
            raise NotFoundError(f"job definition '{code}' does not exist")
        return record

    async def definitions(self, principal: Principal, limit: int, offset: int) -> list[DefinitionRecord]:
        return await self.run(self.store.definitions, principal.tenant_id, limit, offset)

    def spec_of(self, record: DefinitionRecord) -> DefinitionSpec:
        """The definition as clients see it: params included, secret ones and webhook URLs masked."""
        spec = self._stored_spec(record)
        # Masked as the bound connector marks its secrets: another connector that claims
        # the type now may mark none, and a type no longer its own is masked whole.
        job_type = bound_job_type(self.supervisor.catalog, record.job_type, record.connector)
        params = masked(job_type, spec.params)
        return webhooks.masked(msgspec.structs.replace(spec, params=params))

    async def update_definition(
        self, principal: Principal, code: str, patch: dict[str, Any]
    ) -> DefinitionRecord:
        record = await self.definition(principal, code)
        current = self._stored_spec(record)
        merged = webhooks.unmask(merge(current, patch), current.options.webhooks, FIELD)
        if isinstance(merged.get("params"), dict):
            # A masked value stands for the stored one only for the same job type: under
            # another type's schema it might no longer be secret, and would be shown. And
            # only while every other param is as stored, lest the secret follow a changed
            # URL (say) to a host of the sender's choosing. Secret as the masked answer
            # marked it: the job type of the connector the definition is bound to.
            same_type = merged.get("jobType", current.job_type) == current.job_type
            job_type = bound_job_type(self.supervisor.catalog, record.job_type, record.connector)
            merged["params"] = unmasked_params(
                job_type, merged["params"], current.params if same_type else {}, f"{FIELD}.params"
            )
        definition = parse_spec(merged)
        same_type = definition.spec.job_type == record.job_type
        connector = await self._check_definition(principal, definition, record if same_type else None)
        record = msgspec.structs.replace(record, connector=connector)
        return await self._replace(record, definition, record.state)

    async def delete_definition(self, principal: Principal, code: str) -> None:
        if await self.run(self.store.delete_definition, principal.tenant_id, code, self.clock()) is None:
            raise NotFoundError(f"job definition '{code}' does not exist")

    async def start(self, principal: Principal, code: str) -> tuple[DefinitionRecord, JobRecord | None]:
        """Start firing; with ``runImmediately``, run once now as well."""
        record = await self.definition(principal, code)
        definition = self._definition(record)
        spec = definition.spec
        if record.state == "STARTED":
            return record, None
        no_slot = definition.schedule is not None and definition.first_fire(self.clock()) is None
        if no_slot and not spec.run_immediately:
            raise StateError(f"job definition '{code}' has no fire time left before its endDate")
        # Run once and immediately: completed before the run is added, so no slot fires too.
        once_now = spec.run_once and spec.run_immediately
        record = await self._replace(record, definition, "COMPLETED" if once_now else "STARTED")
        job = None
        if spec.run_immediately:
            job = await self._run_definition_now(principal, record, definition, "immediate")
        return record, job

    async def stop(self, principal: Principal, code: str) -> DefinitionRecord:
        record = await self.definition(principal, code)
        if record.state != "STARTED":
            return record
        return await self._replace(record, self._definition(record), "STOPPED")

    async def execute_definition(self, principal: Principal, code: str) -> JobRecord:
        """Run a definition now, whatever its state."""
        record = await self.definition(principal, code)
        return await self._run_definition_now(principal, record, self._definition(record), "api")

    async def next_fires(self, principal: Principal, code: str, count: int) -> list[float]:
        record = await self.definition(principal, code)
        definition = self._definition(record)
        fires: list[float] = []
        slot = definition.first_fire(self.clock())
        while slot is not None and len(fires) < count:
            fires.append(slot)
            slot = definition.slot_after(slot)
        return fires

    async def _replace(
        self, record: DefinitionRecord, definition: Definition, state: str
    ) -> DefinitionRecord:
        now = self.clock()
        spec = definition.spec
        next_fire = definition.first_fire(now) if state == "STARTED" else None
        if state == "STARTED" and definition.schedule is not None and next_fire is None:
            state = "COMPLETED"
        new = msgspec.structs.replace(
            record,
            job_type=spec.job_type,
            state=state,
            document=encode_spec(webhooks.without_webhooks(spec)),
            sealed_params=self.box.seal_json(spec.params),
            next_fire_at=next_fire,
            version=record.version + 1,
            history_count=spec.history_max_count,
            history_seconds=spec.history_max_age_days * 86400.0,
            updated_at=now,
            sealed_webhooks=webhooks.seal(self.box, spec.options.webhooks),
        )
        if not await self.run(self.store.replace_definition, new, record.version):
            raise StateError(f"job definition '{record.code}' was changed meanwhile; read it and try again")
        self.scheduler.track(new)
        return new

    async def _run_definition_now(
        self, principal: Principal, record: DefinitionRecord, definition: Definition, trigger: str
    ) -> JobRecord:
        now = self.clock()
        spec = definition.spec
        job = NewJob(
            id=dated_id(now),
            tenant_id=principal.tenant_id,
            job_type=record.job_type,
            trigger=trigger,
            status="WAITING",
            created_at=now,
            definition_id=record.id,
            definition_code=record.code,
            account_id=spec.account_id,
            overlap="allow",
            max_retries=spec.max_retries,
            backoff=spec.retry_backoff_seconds,
            timeout=spec.timeout_seconds,
            run_at=now,
            retry_until=record.next_fire_at,
            connector=record.connector,
        )
        if not await self.run(self.store.add_definition_job, job):
            raise NotFoundError(f"job definition '{record.code}' does not exist")
        self._fired([job])
        return await self._job_record(principal, job.id)

    def _definition(self, record: DefinitionRecord) -> Definition:
        return check_spec(self._stored_spec(record))

    def _stored_spec(self, record: DefinitionRecord) -> DefinitionSpec:
        """The definition as stored, its params and webhooks opened."""
        params = self._params(record.sealed_params)
        spec = msgspec.structs.replace(decode_spec(record.document), params=params)
        try:
            return webhooks.opened(self.box, record.sealed_webhooks, spec)
        except SecretsError:
            log.error("job definition webhooks cannot be decrypted with the configured keys")
            raise

    async def _check_definition(
        self, principal: Principal, definition: Definition, kept: DefinitionRecord | None
    ) -> str:
        """Check a definition against its job type's owner now; the connector it is bound
        to. ``kept``: the stored definition whose job type it keeps, and so its binding
        (StateError if another connector owns that type now)."""
        spec = definition.spec
        connector, job_type = self.job_type(spec.job_type, f"{FIELD}.jobType")
        if kept is not None:
            changed = owner_changed(self.supervisor.catalog, kept.job_type, kept.connector, "definition")
            if changed is not None:
                raise StateError(changed)
        self._check_params(job_type, spec.params, f"{FIELD}.params")
        await self._check_account(principal, job_type, spec.job_type, spec.account_id, f"{FIELD}.accountId")
        return connector

    def _check_params(self, job_type: JobType, params: dict[str, Any], field: str) -> None:
        check_integers(params, field)  # what msgpack carries to the worker
        problem = params_problem(job_type, params)
        if problem is not None:
            message, where = problem
            raise InvalidRequestError(message, f"{field}{where.removeprefix('params')}")

    async def _check_account(
        self, principal: Principal, job_type: JobType, code: str, account_id: str | None, field: str
    ) -> None:
        connector, _ = self.job_type(code)
        if account_id is None:
            if job_type.needs_account:
                raise InvalidRequestError(f"job type '{code}' needs an account ({field})", field)
            return
        account = await self.run(self.store.account, principal.tenant_id, account_id)
        if account is None:
            raise InvalidRequestError(f"account '{account_id}' does not exist", field)
        mismatch = account_mismatch(account_id, account.component, connector, code)
        if mismatch is not None:
            raise InvalidRequestError(mismatch, field)

    def _params(self, sealed: bytes) -> dict[str, Any]:
        try:
            return self.box.open_json(sealed)
        except SecretsError:
            # The server's keys changed: a fault of ours (500), not of the request.
            log.error("job params cannot be decrypted with the configured keys")
            raise

    # -- jobs ---------------------------------------------------------------------------

    async def job(self, principal: Principal, job_id: str, wait: float = 0.0) -> JobRecord:
        """A job; with ``wait``, answers as soon as it is over (or ``wait`` has passed)."""
        if wait <= 0:
            return await self._job_record(principal, job_id)
        # Listen before looking, so an end between the look and the wait is not missed.
        with self.ends.listening(job_id) as finished:
            record = await self._job_record(principal, job_id)
            if record.status in ("WAITING", "STARTED"):
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(min(wait, self.settings.max_wait)):
                        await finished.wait()
                record = await self._job_record(principal, job_id)
        return record

    async def bind_job_types(self) -> int:
        """Bind definitions and unfinished jobs stored before connectord recorded their
        connector to their job type's owner in this server's catalog (once per row: the
        first server to start with the type binds it); how many rows were bound."""
        owners = {job_type.code: connector for connector, job_type in self.job_types()}
        bound = await self.run(self.store.bind_job_types, owners)
        if bound:
            log.info("bound %d job definitions and jobs to their job type's connector", bound)
        return bound

    async def jobs(
        self,
        principal: Principal,
        limit: int,
        offset: int,
        definition_code: str | None,
        status: str | None,
        since: float | None,
    ) -> list[JobRecord]:
        return await self.run(
            self.store.jobs,
            principal.tenant_id,
            limit,
            offset,
            definition_code=definition_code,
            status=status,
            since=since,
        )

    async def cancel(self, principal: Principal, job_id: str) -> JobRecord:
        """Cancel a waiting or running job; a finished one is left as it is (StateError)."""
        record = await self._job_record(principal, job_id)
        if record.status not in ("WAITING", "STARTED"):
            raise StateError(
                f"job '{job_id}' is {record.status}; only a waiting or running job can be cancelled"
            )
        await self._cancel(principal.tenant_id, job_id)
        return await self._job_record(principal, job_id)

    async def _cancel(self, tenant_id: str, job_id: str) -> None:
        """A run of this node's is killed and records itself (with its logs; waited for).
        Any other is recorded as cancelled at once, under a new fence; the node running it
        stops it when told, or at its next lease renewal at the latest, should the event
        be missed."""
        with self.ends.listening(job_id) as finished:
            if self.dispatcher.cancel_local(job_id):
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(CANCEL_WAIT):
                        await finished.wait()
                return
        error = rejection_reason(Cancelled(), "job")
        was = await self.run(self.store.cancel_job, tenant_id, job_id, self.clock(), error)
        if was is None:
            return  # it ended meanwhile
        self.ends.signal(job_id)
        if was == "STARTED":
            self.dispatcher.cancel_local(job_id)  # claimed here meanwhile
            if not self.store.single_node:
                await self.run(self.store.announce, event("cancel-job", job_id))

    async def _job_record(self, principal: Principal, job_id: str) -> JobRecord:
        record = await self.run(self.store.job, principal.tenant_id, job_id)
        if record is None:
            raise NotFoundError(f"job '{job_id}' does not exist")
        return record
