"""Runs due jobs in the sandbox: claims them from the store, invokes the job type's
connector through the supervisor (only the connector the job is bound to: binding.py),
records each attempt, retries with backoff, and calls the definition's webhooks when a job
is over.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import random
from collections.abc import Callable
from typing import Any

import msgspec

from connectord.plugins.manager import HookNotImplementedError, UnknownConnectorError
from connectord.plugins.server_errors import Conflict
from connectord.runtime.calls import InvalidCallError, run_in_sandbox
from connectord.runtime.cluster import Node, forget_claim, forget_task
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
from connectord.runtime.jobs.notify import Notifier
from connectord.runtime.jobs.planning import retry_at
from connectord.runtime.jobs.settings import JobSettings
from connectord.runtime.jobs.views import job_view
from connectord.runtime.jobs.webhooks import Delivery, encode_deliveries, opened, targets
from connectord.runtime.metrics import Metrics
from connectord.runtime.secrets import SecretBox, SecretsError
from connectord.runtime.store import Store
from connectord.runtime.store.events import event
from connectord.runtime.store.records import (
    ClaimedJob,
    JobEnd,
    JobRecord,
    JobStatus,
    Reaped,
    StoreUnavailableError,
)
from connectord.runtime.store.runner import STORE_RETRY, StoreRunner, until_available
from connectord.runtime.waiters import Waiters
from connectord.sandbox.calls import Call
from connectord.sandbox.logs import LogLine
from connectord.sandbox.outcomes import Cancelled, Outcome, Rejected, Succeeded
from connectord.sandbox.supervisor import Supervisor

log = logging.getLogger(__name__)

#: Longest a cancel waits for the killed run to be recorded.
CANCEL_WAIT = 10.0
_attempts = msgspec.json.Decoder(list[dict[str, Any]])


class JobRunner:
    def __init__(
        self,
        store: Store,
        run: StoreRunner,
        box: SecretBox,
        supervisor: Supervisor,
        clock: Callable[[], float],
        settings: JobSettings,
        rng: random.Random | None = None,
        notifier: Notifier | None = None,
        node: Node | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        self.store, self.run, self.box, self.supervisor = store, run, box, supervisor
        self.metrics = metrics or Metrics()
        self.clock = clock
        self.node = node or Node()
        self.settings = settings
        self.rng = rng or random.Random()
        self.notifier = notifier or Notifier()
        self._wakeup = asyncio.Event()
        self._slots = asyncio.Semaphore(settings.max_running)
        self._tasks: dict[str, asyncio.Task[None]] = {}
        #: Jobs this node has claimed and not yet recorded: the leases it renews.
        self._held: dict[str, int] = {}
        self._closing = False
        self._cancel_requested: set[str] = set()
        #: Jobs whose worker runs (or is awaited): only these can be cancelled, not one
        #: whose outcome is being recorded.
        self._invoking: set[str] = set()
        #: Requests waiting for a job to end.
        self._finished = Waiters()

    def wake(self) -> None:
        """Jobs were added: look for due ones now."""
        self._wakeup.set()

    def listening(self, job_id: str) -> contextlib.AbstractContextManager[asyncio.Event]:
        """An event set when ``job_id`` ends (recorded as over)."""
        return self._finished.listening(job_id)

    def signal(self, job_id: str) -> None:
        self._finished.signal(job_id)

    def recheck_waiters(self) -> None:
        """Endings may have been missed (events lost): every long poll looks again."""
        self._finished.signal_all()

    async def cancel(self, tenant_id: str, job_id: str) -> None:
        """Cancel a waiting or running job. A run of this node's is killed and records
        itself (with its logs; waited for). Any other is recorded as cancelled at once,
        under a new fence; the node running it stops it when told, or at its next lease
        renewal at the latest, should the event be missed."""
        with self.listening(job_id) as finished:
            if self.cancel_local(job_id):
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(CANCEL_WAIT):
                        await finished.wait()
                return
        error = rejection_reason(Cancelled(), "job")
        was = await self.run(self.store.cancel_job, tenant_id, job_id, self.clock(), error)
        if was is None:
            return  # it ended meanwhile
        self.signal(job_id)
        if was == "STARTED":
            self.cancel_local(job_id)  # claimed here meanwhile
            if not self.store.single_node:
                await self.run(self.store.announce, event("cancel-job", job_id))

    def cancel_local(self, job_id: str) -> bool:
        """Kill the job's run if this node has it; False if it does not."""
        task = self._tasks.get(job_id)
        if task is None or job_id not in self._invoking:
            return False
        self._cancel_requested.add(job_id)
        if not self.supervisor.cancel(job_id):
            task.cancel()
        return True

    def claims_lost(self, lost: dict[str, int]) -> None:
        """These claims (id: fence) are no longer this node's (taken back after its lease
        ran out, or ended through another node): stop running them."""
        for job_id, fence in lost.items():
            if self._held.get(job_id) == fence and self.cancel_local(job_id):
                log.warning("job %s: no longer this node's claim; stopped", job_id)

    async def reap_once(self) -> Reaped:
        """Take back jobs whose node stopped renewing its lease: the lost attempt counts;
        they wait for their next one, or fail when no retries are left."""
        reaped = await self.run(self.store.reap_jobs, self.clock())
        if reaped.requeued:
            log.warning("%d jobs of lost nodes run again", reaped.requeued)
            self.wake()
        for job_id in reaped.ended:
            log.error("job %s: its node was lost on the last attempt; FAILED", job_id)
            self.signal(job_id)
        return reaped

    async def dispatch_forever(self) -> None:
        """Run due jobs until cancelled; woken when jobs are added or finish."""
        if self.store.single_node:
            requeued = await until_available(
                lambda: self.run(self.store.requeue_started_jobs), "requeue interrupted jobs"
            )
            if requeued:
                log.warning("%d jobs were running when connectord stopped; they run again", requeued)
        while True:
            await self._slots.acquire()
            self._wakeup.clear()
            try:
                now = self.clock()
                claimed = await self.run(self.store.claim_job, now, self.node.id, self.node.lease_until(now))
                due = None if claimed else await self.run(self.store.next_job_due)
            except Exception as exc:  # the dispatcher must outlive any one failure
                self._slots.release()
                log.error("cannot claim jobs: %s; trying again in %g s", exc, STORE_RETRY)
                await asyncio.sleep(STORE_RETRY)
                continue
            if claimed is None:
                self._slots.release()
                pause = 5.0 if due is None or due <= now else min(5.0, due - now)
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(pause):
                        await self._wakeup.wait()
                continue
            self._held[claimed.job.id] = claimed.fence
            task = asyncio.ensure_future(self._execute(claimed))
            self._tasks[claimed.job.id] = task
            task.add_done_callback(functools.partial(forget_task, self._tasks, claimed.job.id))

    async def purge_forever(self, interval: float = 300.0) -> None:
        while True:
            await asyncio.sleep(interval)
            try:
                deleted = await self.run(self.store.purge_jobs, self.clock(), self.settings.adhoc_retention)
            except StoreUnavailableError as exc:
                log.warning("purging old jobs failed, will try again: %s", exc)
                continue
            if deleted:
                log.info("purged %d old jobs", deleted)

    def held(self) -> dict[str, int]:
        """The jobs this node runs (claimed, not yet recorded), with their fences."""
        return dict(self._held)

    async def close(self) -> None:
        """Stop running: running jobs are given back (their attempt not counted) to run
        again at once, here after a restart or on another node now."""
        self._closing = True  # what runs now is given back, not forgotten
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._held:
            try:
                released = await self.run(self.store.release_claims, self.node.id, [], list(self._held))
            except StoreUnavailableError as exc:  # their leases run out instead
                log.warning("cannot give back running jobs: %s", exc)
            else:
                log.info("gave back %d running jobs", released)
            self._held.clear()
        await self.notifier.close()

    async def _execute(self, claimed: ClaimedJob) -> None:
        job = claimed.job
        started = self.clock()
        with lifecycle.job_context(job):  # this task's lines name the job
            lifecycle.started(job, started, self.metrics)
            await self._attempt(claimed, started)

    async def _attempt(self, claimed: ClaimedJob, started: float) -> None:
        job = claimed.job
        try:
            self._invoking.add(job.id)
            try:
                outcome, logs = await self._invoke(claimed)
            except asyncio.CancelledError:
                if job.id not in self._cancel_requested:
                    raise  # shutting down: close() gives it back
                outcome, logs = Cancelled(), []
            except Exception:
                log.exception("job %s failed in connectord itself", job.id)
                outcome, logs = Rejected("InternalError", "connectord failed to run the job"), []
            finally:
                self._invoking.discard(job.id)
                self._cancel_requested.discard(job.id)
            # A job left STARTED would block its 'queue' definition and skip every slot of
            # a 'skip' one: record the outcome once the store is back.
            await until_available(
                lambda: self._record(claimed, outcome, logs, started), f"record job {job.id}"
            )
        finally:
            if not self._closing:  # recorded, or failed for good: its lease may run out
                forget_claim(self._held, job.id, claimed.fence)
            self._slots.release()
            self._wakeup.set()  # a job of a 'queue' definition may run now

    async def _invoke(self, claimed: ClaimedJob) -> tuple[Outcome, list[LogLine]]:
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
                if await self.run(
                    self.store.retry_job, job.id, claimed.fence, msgspec.json.encode(attempts), again
                ):
                    lifecycle.ended(job, "RETRY", now - started, self.metrics, again - now)
                    self._wakeup.set()
                else:
                    log.warning("job %s: attempt discarded, this node's claim had ended", job.id)
                return
            status, result = "FAILED", None
        end = JobEnd(status, msgspec.json.encode(attempts), result, encoded_logs, now)
        if await self.run(self.store.finish_job, job.id, claimed.fence, end):
            lifecycle.ended(job, status, now - started, self.metrics)
            self.signal(job.id)
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
        record = await self.run(self.store.job, job.tenant_id, job.id)
        if record is None:
            return

        async def keep(deliveries: list[Delivery]) -> None:
            await self.run(self.store.record_webhooks, job.id, encode_deliveries(deliveries))

        payload = {"event": f"job.{status.lower()}", "job": job_view(record, with_logs=False)}
        self.notifier.send(hooks, payload, keep)


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
