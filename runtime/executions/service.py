"""The execution service: schedule, poll, result and cancel for one tenant at a time, and
the dispatcher that runs queued executions in the sandbox.

Everything accepted is committed to the store before ``schedule`` returns; the inputs
(credentials included) are sealed at rest and dropped once the execution has finished.
The clock is passed in, so tests and the logic agree on time.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import hmac
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import msgspec

from connectord.plugins.manager import HookNotImplementedError, UnknownConnectorError
from connectord.plugins.server_errors import Conflict
from connectord.plugins.types import ConnectorInfo, SelectQuery
from connectord.runtime import log_context
from connectord.runtime.calls import InvalidCallError, check_call, run_in_sandbox
from connectord.runtime.cluster import Node, forget_claim, forget_task
from connectord.runtime.executions.requests import ScheduleRequest
from connectord.runtime.executions.results import decode_outcome, encode_logs, encode_outcome, outcome_kind
from connectord.runtime.metrics import Metrics
from connectord.runtime.secrets import SecretBox, SecretsError
from connectord.runtime.store import Store
from connectord.runtime.store.events import event
from connectord.runtime.store.records import (
    ClaimedExecution,
    ExecutionAbout,
    ExecutionEnd,
    ExecutionFilter,
    ExecutionInfo,
    ExecutionRecord,
    FinishedExecution,
    NewExecution,
    Principal,
    Reaped,
    StoreUnavailableError,
)
from connectord.runtime.store.runner import STORE_RETRY, StoreRunner, until_available
from connectord.runtime.validation import InvalidRequestError
from connectord.runtime.waiters import Waiters
from connectord.sandbox.calls import Call
from connectord.sandbox.logs import LogLine
from connectord.sandbox.outcomes import Cancelled, Crashed, Outcome, Rejected, Succeeded
from connectord.sandbox.supervisor import Supervisor

log = logging.getLogger(__name__)

PollState = Literal["not_ready", "ready", "missing", "expired"]
_call_decoder = msgspec.msgpack.Decoder(Call)


class IdempotencyConflictError(Conflict):
    """The Idempotency-Key was used before with another request."""


@dataclass(frozen=True)
class ExecutionSettings:
    #: How long a finished result can be fetched.
    retention: float = 3600.0
    #: How long a delivered or expired execution is remembered (poll says "Expired.").
    remember: float = 24 * 3600.0
    #: At most this many executions run (or wait for a sandbox slot) at once.
    max_running: int = 64
    #: An execution whose node was lost this many times (it may be what kills them) is
    #: reported as crashed instead of running again.
    max_claims: int = 3


class Executions:
    def __init__(
        self,
        store: Store,
        run: StoreRunner,
        box: SecretBox,
        supervisor: Supervisor,
        clock: Callable[[], float],
        settings: ExecutionSettings = ExecutionSettings(),
        node: Node | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        self.store, self.run, self.box, self.supervisor = store, run, box, supervisor
        self.metrics = metrics or Metrics()
        self.clock = clock
        self.settings = settings
        self.node = node or Node()
        self._wakeup = asyncio.Event()
        #: Long polls waiting for an execution to finish.
        self._finished = Waiters()
        self._slots = asyncio.Semaphore(settings.max_running)
        self._tasks: set[asyncio.Task[None]] = set()
        self._tasks_by_id: dict[str, asyncio.Task[None]] = {}
        #: Executions this node has claimed and not yet recorded, with their claims' fences:
        #: the leases it renews.
        self._held: dict[str, int] = {}
        self._closing = False
        self._cancel_requested: set[str] = set()

    # -- the API side -----------------------------------------------------------------

    async def schedule(
        self, principal: Principal, request: ScheduleRequest, idempotency_key: str | None = None
    ) -> tuple[ExecutionRecord, bool]:
        """Accept a request: check it, seal its inputs, commit it, wake the dispatcher. A
        cacheable call with a fresh cached answer is answered at once, without running."""
        call, account_version = await self._call_for(principal, request)
        info = check_call(self.supervisor.catalog, call)
        digest = self._digest(msgspec.json.encode(request, order="sorted")) if idempotency_key else None
        cache_key, cache_seconds = self._cache_key(info, call, request, account_version)
        about = ExecutionAbout(call.connector, call.method, call.action)
        if cache_key is not None and not idempotency_key and not _refresh_asked(request):
            cached = await self.run(self.store.cached_outcome, principal.tenant_id, cache_key, self.clock())
            if cached is not None:
                now = self.clock()
                answer = ExecutionEnd(cached, encode_logs([]), now, now + self.settings.retention)
                record = await self.run(
                    self.store.add_answered_execution, uuid.uuid4().hex, principal.tenant_id, answer, about
                )
                self._log_scheduled(principal, record.id, about, cached=True)
                return record, True
        sealed = self.box.seal(encode_call(call))
        execution = NewExecution(
            uuid.uuid4().hex,
            principal.tenant_id,
            sealed,
            self.clock(),
            idempotency_key=idempotency_key,
            request_hash=digest,
            cache_key=cache_key,
            cache_seconds=cache_seconds,
            about=about,
        )
        record, created = await self.run(self.store.add_execution, execution)
        if not created and record.request_hash != digest:
            raise IdempotencyConflictError(
                f"Idempotency-Key '{idempotency_key}' was used with a different request"
            )
        if created:
            self._wakeup.set()
            self._log_scheduled(principal, record.id, about, cached=False)
        return record, created

    def _log_scheduled(
        self, principal: Principal, execution_id: str, about: ExecutionAbout, cached: bool
    ) -> None:
        ids = {"execution_id": execution_id, "tenant": principal.tenant_id, "connector": about.component}
        with log_context.bound(**ids):
            log.info(
                "execution scheduled%s",
                " and answered from the cache" if cached else "",
                extra={"event": "execution.scheduled", "kind": about.kind, "cached": cached},
            )

    async def verify_account(
        self, principal: Principal, account_id: str, wait: float
    ) -> tuple[str, Outcome | None] | None:
        """Run verify_credentials on a stored account, as an execution like any other (it
        is listed, counted and logged); its id and, if it ended within ``wait`` seconds, its
        outcome (the result is delivered here). None: no such account of this tenant."""
        account = await self.run(self.store.account, principal.tenant_id, account_id)
        if account is None:
            return None
        request = ScheduleRequest("verify_credentials", account.component, account_id=account_id)
        record, _ = await self.schedule(principal, request)
        if await self.poll(principal, record.id, wait) != "ready":
            return record.id, None
        found = await self.result(principal, record.id)
        return record.id, decode_outcome(found.outcome) if isinstance(found, FinishedExecution) else None

    async def info(self, principal: Principal, execution_id: str) -> ExecutionInfo | None:
        """An execution's status and metadata, its result left unread."""
        return await self.run(self.store.execution_info, principal.tenant_id, execution_id)

    async def listing(
        self, principal: Principal, wanted: ExecutionFilter, limit: int, offset: int
    ) -> list[ExecutionInfo]:
        """A page of the tenant's executions that match ``wanted``, newest first."""
        tenant, now = principal.tenant_id, self.clock()
        return await self.run(self.store.list_executions, tenant, wanted, now, limit, offset)

    async def poll(self, principal: Principal, execution_id: str, wait: float = 0.0) -> PollState:
        """Where an execution is; with ``wait``, answers as soon as it finishes (or ``wait``
        seconds have passed) without a busy loop."""
        if wait <= 0:
            return self._state(await self.run(self.store.execution, principal.tenant_id, execution_id))
        # Listen before looking, so a finish between the look and the wait is not missed.
        with self._finished.listening(execution_id) as finished:
            record = await self.run(self.store.execution, principal.tenant_id, execution_id)
            if record is not None and record.state in ("queued", "running"):
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(wait):
                        await finished.wait()
                record = await self.run(self.store.execution, principal.tenant_id, execution_id)
        return self._state(record)

    async def result(self, principal: Principal, execution_id: str) -> FinishedExecution | PollState:
        """The finished result, exactly once; else why there is none."""
        finished = await self.run(self.store.deliver_result, principal.tenant_id, execution_id, self.clock())
        if finished is not None:
            return finished
        record = await self.run(self.store.execution, principal.tenant_id, execution_id)
        return self._state(record)

    async def cancel(self, principal: Principal, execution_id: str) -> bool:
        """Cancel a queued or running execution; False when there is none to cancel."""
        record = await self.run(self.store.execution, principal.tenant_id, execution_id)
        if record is None or record.state not in ("queued", "running"):
            return False
        if self.cancel_local(execution_id):
            return True  # its worker is killed; the dispatcher records the outcome and logs
        # Queued, or running on another node: recorded as cancelled now, under a new fence,
        # so the node running it cannot record anything else.
        now = self.clock()
        end = ExecutionEnd(encode_outcome(Cancelled()), encode_logs([]), now, now + self.settings.retention)
        cancelled = await self.run(self.store.cancel_execution, principal.tenant_id, execution_id, end)
        if not cancelled:
            return False  # it finished meanwhile
        self._finished.signal(execution_id)
        self.cancel_local(execution_id)  # claimed here meanwhile
        if not self.store.single_node:
            # Its node kills the worker when told, or at its next renewal at the latest
            # (which finds the claim gone), should this event be missed.
            await self.run(self.store.announce, event("cancel-execution", execution_id))
        return True

    def cancel_local(self, execution_id: str) -> bool:
        """Kill the execution if this node runs it; False if it does not."""
        return self.supervisor.cancel(execution_id) or self._cancel_task(execution_id)

    def claims_lost(self, lost: dict[str, int]) -> None:
        """These claims (id: fence) are no longer this node's (cancelled through another
        node, or taken back after its lease ran out): stop running them."""
        for execution_id, fence in lost.items():
            if self._held.get(execution_id) == fence and self.cancel_local(execution_id):
                log.warning("execution %s: no longer this node's claim; stopped", execution_id)

    def wake(self) -> None:
        """Executions were queued (here or on another node): claim now."""
        self._wakeup.set()

    def finished(self, execution_id: str) -> None:
        """An execution finished (here or on another node): answer its long polls."""
        self._finished.signal(execution_id)

    def recheck_waiters(self) -> None:
        """Endings may have been missed (events lost): every long poll looks again."""
        self._finished.signal_all()

    def _cancel_task(self, execution_id: str) -> bool:
        """Cancel a claimed execution still waiting for a sandbox slot or its worker."""
        task = self._tasks_by_id.get(execution_id)
        if task is None:
            return False
        self._cancel_requested.add(execution_id)
        task.cancel()
        return True

    def _state(self, record: ExecutionRecord | None) -> PollState:
        if record is None or record.state == "delivered":
            return "missing"
        if record.state in ("queued", "running"):
            return "not_ready"
        if record.expires_at is not None and record.expires_at <= self.clock():
            return "expired"
        return "ready"

    async def _call_for(self, principal: Principal, request: ScheduleRequest) -> tuple[Call, float | None]:
        """The call, and when its account last changed (None for inline account data)."""
        account_version = None
        if request.execution_type == "verify_credentials" and request.account_id is None:
            credentials = request.account_data or {}
        else:
            credentials, account_version = await self._account_keys(principal, request)
        return Call(
            connector=request.component,
            method=request.execution_type,
            credentials=credentials,
            action=request.action_or_trigger,
            model_method=request.model_method,
            cfg=request.cfg,
            query=request.query or SelectQuery(),
        ), account_version

    async def _account_keys(
        self, principal: Principal, request: ScheduleRequest
    ) -> tuple[dict[str, Any], float]:
        assert request.account_id is not None
        account = await self.run(self.store.account, principal.tenant_id, request.account_id)
        if account is None:
            raise InvalidRequestError(f"account '{request.account_id}' does not exist", "account_id")
        if account.component != request.component:
            raise InvalidRequestError(
                f"account '{request.account_id}' belongs to component '{account.component}', "
                f"not '{request.component}'",
                "account_id",
            )
        try:
            return self.box.open_json(account.sealed_keys), account.updated_at
        except SecretsError:
            log.error("account %s cannot be decrypted with the configured keys", account.id)
            raise InvalidRequestError(
                f"account '{request.account_id}' cannot be read with this server's secret key", "account_id"
            ) from None

    def _cache_key(
        self, info: ConnectorInfo, call: Call, request: ScheduleRequest, account_version: float | None
    ) -> tuple[str | None, float | None]:
        """The key of a cacheable call's answer, and for how long it may be reused."""
        operation = info.operation(call.action or "")
        ttl = operation.cache_ttl(call.method, call.model_method) if operation else None
        if ttl is None or request.account_id is None:
            return None, None
        cfg = {k: v for k, v in call.cfg.items() if k != "force_refresh"}
        material = [
            info.id,
            info.version,
            call.method,
            call.action,
            call.model_method,
            cfg,
            msgspec.to_builtins(call.query),
            request.account_id,
            account_version,
        ]
        return self._digest(msgspec.json.encode(material, order="sorted")), ttl

    def _digest(self, body: bytes) -> str:
        # Keyed, so a stored digest does not let anyone test guesses of the credentials.
        return hmac.new(self.box.digest_key, body, hashlib.sha256).hexdigest()

    # -- the dispatcher ---------------------------------------------------------------

    async def dispatch_forever(self) -> None:
        """Run queued executions until cancelled. Woken by ``schedule``; also looks every
        few seconds, so work queued by another process is not left waiting."""
        if self.store.single_node:
            requeued = await until_available(
                lambda: self.run(self.store.requeue_running), "requeue interrupted executions"
            )
            if requeued:
                log.warning("%d executions were running when connectord stopped; they run again", requeued)
        while True:
            await self._slots.acquire()
            self._wakeup.clear()  # before the claim, so a schedule that commits after it wakes us
            try:
                now = self.clock()
                claimed = await self.run(
                    self.store.claim_execution, now, self.node.id, self.node.lease_until(now)
                )
            except Exception as exc:  # the dispatcher must outlive any one failure
                self._slots.release()
                log.error("cannot claim executions: %s; trying again in %g s", exc, STORE_RETRY)
                await asyncio.sleep(STORE_RETRY)
                continue
            if claimed is None:
                self._slots.release()
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(5.0):
                        await self._wakeup.wait()
                continue
            self._held[claimed.id] = claimed.fence
            task = asyncio.ensure_future(self._execute(claimed))
            self._tasks.add(task)
            self._tasks_by_id[claimed.id] = task
            task.add_done_callback(self._tasks.discard)
            task.add_done_callback(functools.partial(forget_task, self._tasks_by_id, claimed.id))

    async def reap_once(self) -> Reaped:
        """Take back executions whose node stopped renewing its lease: they run again, or
        are reported as crashed once they have lost ``max_claims`` nodes."""
        now = self.clock()
        crashed = ExecutionEnd(encode_outcome(Crashed()), encode_logs([]), now, now + self.settings.retention)
        reaped = await self.run(self.store.reap_executions, now, self.settings.max_claims, crashed)
        if reaped.requeued:
            log.warning("%d executions of lost nodes run again", reaped.requeued)
            self.wake()
        for execution_id in reaped.ended:
            log.error("execution %s: its node was lost too often; reported as crashed", execution_id)
            self.finished(execution_id)
        return reaped

    async def purge_once(self) -> int:
        """Delete results expired for longer than ``remember`` and delivered executions as
        old, and stale cache entries; the number of executions deleted."""
        return await self.run(self.store.purge_executions, self.clock(), self.settings.remember)

    async def purge_forever(self, interval: float = 60.0) -> None:
        """Purge in the background; the store runs it on its own thread, so requests are
        never held up by it."""
        while True:
            await asyncio.sleep(interval)
            try:
                deleted = await self.purge_once()
            except StoreUnavailableError as exc:
                log.warning("purging old executions failed, will try again: %s", exc)
                continue
            if deleted:
                log.info("purged %d old executions", deleted)

    def held(self) -> dict[str, int]:
        """The executions this node runs (claimed, not yet recorded), with their fences."""
        return dict(self._held)

    async def close(self) -> None:
        """Stop running: what was running is given back to be run again at once, by this
        node after a restart or by another node now."""
        self._closing = True  # what runs now is given back, not forgotten
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._held:
            try:
                released = await self.run(self.store.release_claims, self.node.id, list(self._held), [])
            except StoreUnavailableError as exc:  # their leases run out instead
                log.warning("cannot give back running executions: %s", exc)
            else:
                log.info("gave back %d running executions", released)
            self._held.clear()

    async def _execute(self, claimed: ClaimedExecution) -> None:
        execution_id = claimed.id
        # This task's own context: every line logged while it runs names the execution.
        log_context.bind(execution_id=execution_id, tenant=claimed.tenant_id, connector=claimed.component)
        log.info("execution started", extra={"event": "execution.started", "kind": claimed.kind})
        started = time.perf_counter()
        try:
            try:
                outcome, logs = await self._invoke(execution_id, claimed.tenant_id, claimed.sealed_call)
            except asyncio.CancelledError:
                if execution_id not in self._cancel_requested:
                    raise  # shutting down: close() gives it back
                outcome, logs = Cancelled(), []
            except Exception:
                log.exception("execution %s failed in connectord itself", execution_id)
                outcome, logs = Crashed(), []
            finally:
                self._cancel_requested.discard(execution_id)
                # too late to cancel from here on (a newer claim of the same id keeps its entry)
                forget_task(self._tasks_by_id, execution_id, asyncio.current_task())
            now = self.clock()
            encoded = encode_outcome(outcome)
            end = ExecutionEnd(encoded, encode_logs(logs), now, now + self.settings.retention)
            kind = outcome_kind(outcome)
            self._count(claimed, kind, time.perf_counter() - started)
            # Kept until the store is back (a restarting database, say): running it again
            # would cost more, and our claim stays valid as long as our lease is renewed.
            recorded = await until_available(
                lambda: self.run(self.store.finish_execution, execution_id, claimed.fence, end, kind),
                f"record execution {execution_id}",
            )
            if not recorded:
                # Cancelled through another node (recorded there), or our lease ran out and
                # another node took it over: that outcome counts.
                if not isinstance(outcome, Cancelled):
                    log.warning("execution %s: outcome discarded, this node's claim had ended", execution_id)
                return
            self._finished.signal(execution_id)
            if (
                claimed.cache_key is not None
                and claimed.cache_seconds is not None
                and isinstance(outcome, Succeeded)
            ):
                await self.run(
                    self.store.cache_outcome,
                    claimed.tenant_id,
                    claimed.cache_key,
                    encoded,
                    now + claimed.cache_seconds,
                )
        except StoreUnavailableError as exc:  # caching it, only: the outcome is recorded
            log.warning("execution %s: its outcome could not be cached: %s", execution_id, exc)
        finally:
            if not self._closing:  # recorded, or failed for good: its lease may run out
                forget_claim(self._held, execution_id, claimed.fence)
            self._slots.release()

    def _count(self, claimed: ClaimedExecution, outcome: str, seconds: float) -> None:
        """Count the finished execution and log it (its ids are in this task's context)."""
        connector, kind = claimed.component or "unknown", claimed.kind or "unknown"
        metrics = self.metrics
        metrics.child(metrics.executions, connector, kind, outcome, *metrics.tenant(claimed.tenant_id)).inc()
        metrics.child(metrics.execution_seconds, connector, kind).observe(seconds)
        log.info(
            "execution finished: %s",
            outcome,
            extra={
                "event": "execution.finished",
                "kind": kind,
                "outcome": outcome,
                "duration_ms": round(seconds * 1000, 1),
            },
        )

    async def _invoke(
        self, execution_id: str, tenant_id: str, sealed_call: bytes
    ) -> tuple[Outcome, list[LogLine]]:
        try:
            call = _call_decoder.decode(self.box.open(sealed_call))
        except (SecretsError, msgspec.DecodeError):
            log.error("execution %s: its inputs cannot be read with the configured keys", execution_id)
            return Rejected("Unreadable", "the execution's inputs cannot be read by this server"), []
        try:
            result = await run_in_sandbox(self.supervisor, call, invocation_id=execution_id, tenant=tenant_id)
        except (InvalidCallError, UnknownConnectorError, HookNotImplementedError) as exc:
            # Checked when scheduled; the connector changed since (uninstalled, upgraded).
            return Rejected("Unavailable", str(exc)), []
        return result.outcome, result.logs


def encode_call(call: Call) -> bytes:
    """The call as the worker protocol carries it (msgpack), or a 400 for a number msgpack
    cannot carry (JSON has no size limit on integers; msgpack stops at 64 bits)."""
    try:
        return msgspec.msgpack.encode(call)
    except OverflowError:
        raise InvalidRequestError(
            "a number in the request is out of range (integers must fit in 64 bits)", "body"
        ) from None


def _refresh_asked(request: ScheduleRequest) -> bool:
    return request.cfg.get("force_refresh") is True
