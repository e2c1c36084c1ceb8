"""Jobs as the dispatcher's work (runtime/dispatch.py): invoke the job type's connector
through the supervisor (only the connector the job is bound to: binding.py), record each
attempt, retry with backoff, and hand the definition's webhooks to their sender when a
job is over.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec

from connectord.plugins.manager import HookNotImplementedError, UnknownConnectorError
from connectord.plugins.server_errors import Conflict
from connectord.runtime.calls import InvalidCallError, run_in_sandbox
from connectord.runtime.cluster import Member
from connectord.runtime.dispatch import IDLE_LOOK, Handover, Result
from connectord.runtime.executions.results import rejection_reason
from connectord.runtime.jobs import lifecycle
from connectord.runtime.jobs.binding import (
    ACCOUNT_MISMATCH,
    CONNECTOR_CHANGED,
    account_mismatch,
    owner,
    owner_changed,
)
from connectord.runtime.jobs.definitions import decode_spec
from connectord.runtime.jobs.errors import NotFoundError
from connectord.runtime.jobs.planning import retry_at
from connectord.runtime.jobs.settings import JobSettings
from connectord.runtime.jobs.webhooks import Delivery, WebhookSender, encode_deliveries, opened, targets
from connectord.runtime.parts import Parts
from connectord.runtime.secrets import SecretsError
from connectord.runtime.store.records import ClaimedJob, JobEnd, JobRecord, JobStatus, Reaped
from connectord.runtime.store.runner import made, until_available
from connectord.runtime.waiters import Waiters
from connectord.sandbox.calls import Call
from connectord.sandbox.logs import LogLine
from connectord.sandbox.outcomes import Cancelled, Outcome, Rejected, Succeeded

log = logging.getLogger(__name__)

_attempts = msgspec.json.Decoder(list[dict[str, Any]])


class JobWork:
    noun = "job"
    purge_every = 300.0
    #: A job's end may let a job of a 'queue' definition run.
    wake_when_done = True
    #: How a lost node's job ends once no retry is left.
    lost_for_good = "its node was lost on the last attempt; FAILED"
    #: One job per claim: which may run depends on the ones claimed before (overlap rules).
    claim_batch = 1

    def __init__(
        self,
        parts: Parts,
        settings: JobSettings,
        ends: Waiters,
        webhooks: WebhookSender | None = None,
        rng: random.Random | None = None,
    ) -> None:
        """``ends``: the requests waiting for jobs to end; ``webhooks`` delivers those of
        definitions (none: this node serves no API, and sends none)."""
        self.store, self.run, self.box, self.supervisor = parts.store, parts.run, parts.box, parts.supervisor
        self.clock, self.metrics = parts.clock, parts.metrics
        self.settings, self.ends, self.webhooks = settings, ends, webhooks
        self.rng = rng or random.Random()

    def identify(self, claimed: ClaimedJob) -> tuple[str, int]:
        return claimed.job.id, claimed.fence

    async def requeue_interrupted(self) -> int:
        return await self.run(self.store.requeue_started_jobs) if self.store.single_node else 0

    async def claim(self, now: float, member: Member, limit: int) -> list[ClaimedJob]:
        cap = self.settings.max_running_per_tenant
        claimed = await made(self.run(self.store.claim_job, now, member.id, member.lease_until(now), cap))
        return [claimed] if claimed is not None else []

    async def idle_for(self, now: float) -> float:
        """Until the next job is due, at most IDLE_LOOK."""
        due = await self.run(self.store.next_job_due)
        return IDLE_LOOK if due is None or due <= now else min(IDLE_LOOK, due - now)

    def failure(self) -> Outcome:
        return Rejected("InternalError", "connectord failed to run the job")

    async def execute(
        self, claimed: ClaimedJob, invoke: Callable[[], Awaitable[Result]], handover: Handover[ClaimedJob]
    ) -> None:
        """Run the job and record its attempt. Claims nothing with it: which job may run
        next depends on its definition's policy and window, which ``claim`` alone weighs."""
        job = claimed.job
        started = self.clock()
        with lifecycle.job_context(job):  # this task's lines name the job
            lifecycle.started(job, started, self.metrics)
            outcome, logs = await invoke()
            # A job left STARTED would block its 'queue' definition and skip every slot of
            # a 'skip' one: record the outcome once the store is back.
            await until_available(
                lambda: self._record(claimed, outcome, logs, started), f"record job {job.id}"
            )

    async def reap(self) -> Reaped:
        """Jobs of lost nodes: the lost attempt counts; they wait for their next one, or
        fail when no retries are left."""
        return await made(self.run(self.store.reap_jobs, self.clock()))

    async def release(self, member: Member, ids: list[str]) -> int:
        return await self.run(self.store.release_claims, member.id, [], ids)

    async def purge(self) -> int:
        return await self.run(self.store.purge_jobs, self.clock(), self.settings.adhoc_retention)

    async def invoke(self, claimed: ClaimedJob) -> Result:
        job = claimed.job
        catalog = self.supervisor.catalog
        connector = owner(catalog, job.job_type)
        if connector is None:
            return Rejected("Unavailable", f"job type '{job.job_type}' is not installed"), []
        # Checked before the params or the account are even opened: they go to the
        # connector the job is bound to, or nowhere.
        changed = owner_changed(
            catalog, job.job_type, job.connector, "definition" if job.definition_id else "job"
        )
        if changed is not None:
            return Rejected(CONNECTOR_CHANGED, changed), []
        try:
            params = self.box.open_json(claimed.sealed_params)
            credentials = await self._credentials(job, connector)
        except (SecretsError, msgspec.DecodeError):
            return Rejected("Unreadable", "the job's params cannot be read with this server's secret key"), []
        except NotFoundError as exc:
            return Rejected("Unavailable", str(exc)), []
        except AccountMismatchError as exc:
            return Rejected(ACCOUNT_MISMATCH, str(exc)), []
        call = Call(
            connector=connector, method="run_job", credentials=credentials, action=job.job_type, cfg=params
        )
        try:
            result = await run_in_sandbox(
                self.supervisor, call, invocation_id=job.id, tenant=job.tenant_id, timeout=job.timeout
            )
        except (InvalidCallError, UnknownConnectorError, HookNotImplementedError) as exc:
            return Rejected("Unavailable", str(exc)), []
        return result.outcome, result.logs

    async def _credentials(self, job: JobRecord, connector: str) -> dict[str, Any]:
        """The keys of the job's account, which must belong to ``connector`` (the account
        may have been changed to another component since the definition was made)."""
        if job.account_id is None:
            return {}
        account = await self.run(self.store.account, job.tenant_id, job.account_id)
        if account is None:
            raise NotFoundError(f"account '{job.account_id}' does not exist any more")
        mismatch = account_mismatch(account.id, account.component, connector, job.job_type)
        if mismatch is not None:
            raise AccountMismatchError(mismatch)
        return self.box.open_json(account.sealed_keys)

    async def _record(
        self, claimed: ClaimedJob, outcome: Outcome, logs: list[LogLine], started: float
    ) -> None:
        job, now = claimed.job, self.clock()
        attempts = [*_attempts.decode(job.attempts), _attempt(job.attempt, started, now, outcome)]
        encoded_logs = msgspec.json.encode(logs)
        if isinstance(outcome, Succeeded):
            status: JobStatus = "COMPLETED"
            result = msgspec.json.encode(outcome.data)
        elif isinstance(outcome, Cancelled):
            status, result = "CANCELLED", None
        else:
            again = None if _final(outcome) else retry_at(job, now, self.rng)
            if again is not None:
                tried = msgspec.json.encode(attempts)
                if await made(self.run(self.store.retry_job, job.id, claimed.fence, tried, again)):
                    lifecycle.ended(job, "RETRY", now - started, self.metrics, again - now)
                else:
                    log.warning("job %s: attempt discarded, this node's claim had ended", job.id)
                return
            status, result = "FAILED", None
        end = JobEnd(status, msgspec.json.encode(attempts), result, encoded_logs, now)
        if await made(self.run(self.store.finish_job, job.id, claimed.fence, end)):
            lifecycle.ended(job, status, now - started, self.metrics)
            self.ends.signal(job.id)
            await self._notify(job, status)
        elif status != "CANCELLED":
            log.warning("job %s: outcome discarded, it was cancelled or its claim had ended", job.id)

    async def _notify(self, job: JobRecord, status: JobStatus) -> None:
        if job.definition_id is None or status not in ("COMPLETED", "FAILED"):
            return
        found = await self.run(self.store.definitions_by_id, [job.definition_id])
        if not found:
            return
        try:
            spec = opened(self.box, found[0].sealed_webhooks, decode_spec(found[0].document))
        except SecretsError:
            log.error("job %s: its definition's webhooks cannot be decrypted with this server's keys", job.id)
            return
        hooks = targets(spec.options.webhooks, status)
        if not hooks:
            return
        if self.webhooks is None:
            log.warning("job %s: its webhooks are not sent: this node sends none", job.id)
            return
        record = await self.run(self.store.job, job.tenant_id, job.id)
        if record is None:
            return

        async def keep(deliveries: list[Delivery]) -> None:
            for delivery in deliveries:
                self.metrics.webhooks.labels(delivery.event, delivery.outcome).inc()
            await self.run(self.store.record_webhooks, job.id, encode_deliveries(deliveries))

        self.webhooks.send(hooks, record, status, keep)


class AccountMismatchError(Conflict):
    """A job's account belongs to another component than the connector it runs in."""


def _final(outcome: Outcome) -> bool:
    """A failure no retry can mend: the job type or the account changed hands."""
    return isinstance(outcome, Rejected) and outcome.error_type in (CONNECTOR_CHANGED, ACCOUNT_MISMATCH)


def _attempt(number: int, started: float, finished: float, outcome: Outcome) -> dict[str, Any]:
    entry: dict[str, Any] = {"attempt": number, "startedAt": started, "finishedAt": finished}
    if isinstance(outcome, Succeeded):
        entry["outcome"] = "succeeded"
    else:
        entry["outcome"] = "failed"
        entry["error"] = rejection_reason(outcome, "job")
    return entry
