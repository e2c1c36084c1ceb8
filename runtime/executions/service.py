"""The execution service: schedule, poll, result and cancel for one tenant at a time. The
dispatcher (runtime/dispatch.py, with work.py) runs what is queued.

Everything accepted is committed to the store before ``schedule`` returns; the inputs
(credentials included) are sealed at rest and dropped once the execution has finished.
The clock is passed in, so tests and the logic agree on time.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import logging
import uuid
from typing import Any, Literal

import msgspec

from connectord.plugins.server_errors import Conflict
from connectord.plugins.types import ConnectorInfo, SelectQuery
from connectord.runtime import log_context
from connectord.runtime.calls import check_call
from connectord.runtime.dispatch import Dispatcher
from connectord.runtime.executions.local import LocalExecutions
from connectord.runtime.executions.requests import ScheduleRequest
from connectord.runtime.executions.results import decode_outcome, encode_logs, encode_outcome
from connectord.runtime.executions.settings import ExecutionSettings
from connectord.runtime.parts import Parts
from connectord.runtime.secrets import SecretsError
from connectord.runtime.store.events import event
from connectord.runtime.store.executions import claimed_as_added
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
    StoreSyncError,
)
from connectord.runtime.store.runner import despite_cancel, made
from connectord.runtime.validation import InvalidRequestError
from connectord.sandbox.calls import Call
from connectord.sandbox.outcomes import Cancelled, Outcome

log = logging.getLogger(__name__)

PollState = Literal["not_ready", "ready", "missing", "expired"]


class IdempotencyConflictError(Conflict):
    """The Idempotency-Key was used before with another request."""


class Executions:
    def __init__(
        self,
        parts: Parts,
        settings: ExecutionSettings,
        dispatcher: Dispatcher[ClaimedExecution],
        local: LocalExecutions,
    ) -> None:
        """``dispatcher`` runs what is scheduled; ``local``: what it runs and finished,
        known without asking the store."""
        self.local = local
        self.store, self.run, self.box, self.supervisor = parts.store, parts.run, parts.box, parts.supervisor
        self.clock = parts.clock
        self.settings = settings
        self.dispatcher = dispatcher
        #: Long polls waiting for an execution to finish.
        self.ends = dispatcher.ends

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
                self._log_scheduled(principal.tenant_id, record.id, about, cached=True)
                return record, True
        sealed = self.box.seal(encode_call(call))
        now = self.clock()
        execution = NewExecution(
            uuid.uuid4().hex,
            principal.tenant_id,
            sealed,
            now,
            idempotency_key=idempotency_key,
            request_hash=digest,
            cache_key=cache_key,
            cache_seconds=cache_seconds,
            about=about,
        )
        record, created = await self._add(execution, about)
        if not created and record.request_hash != digest:
            raise IdempotencyConflictError(
                f"Idempotency-Key '{idempotency_key}' was used with a different request"
            )
        return record, created

    async def _add(self, execution: NewExecution, about: ExecutionAbout) -> tuple[ExecutionRecord, bool]:
        """Add the execution and run it, or tell the dispatcher it is queued. With a slot
        free and nothing queued, it is added claimed by this node: the claim the dispatcher
        would make next costs no transaction of its own. Should the request be cancelled
        while it is added, what was added runs all the same (claimed by this node and
        forgotten, it would wait for the node's restart)."""
        member = self.dispatcher.member
        reserved = await self.dispatcher.reserve()
        claim_for = (member.id, member.lease_until(execution.created_at)) if reserved else None
        settled = False

        def dispatch(added: tuple[ExecutionRecord, bool]) -> None:
            nonlocal settled
            settled, created = True, added[1]
            if not created:  # the idempotency key's earlier execution
                if reserved:
                    self.dispatcher.unreserve()
                return
            self._log_scheduled(execution.tenant_id, execution.id, about, cached=False)
            if reserved:
                claimed = claimed_as_added(execution)
                self.local.claimed(claimed)
                self.dispatcher.start(claimed)
            else:
                self.dispatcher.wake()

        try:
            added = await despite_cancel(self.run(self.store.add_execution, execution, claim_for), dispatch)
        except BaseException as exc:
            if isinstance(exc, StoreSyncError) and exc.made is not None:
                dispatch(exc.made[0])  # added, not confirmed on disk: the client is told so
            elif reserved and not settled:
                self.dispatcher.unreserve()
            raise
        dispatch(added)
        return added

    def _log_scheduled(self, tenant_id: str, execution_id: str, about: ExecutionAbout, cached: bool) -> None:
        ids = {"execution_id": execution_id, "tenant": tenant_id, "connector": about.component}
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
        found = await self.result_within(principal, record.id, wait)
        return record.id, decode_outcome(found.outcome) if found is not None else None

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
        seconds have passed) without a busy loop. What this node runs or finished itself
        is answered without asking the store (see local.py)."""
        if wait <= 0:
            return await self._look(principal, execution_id)
        tenant, deadline = principal.tenant_id, asyncio.get_running_loop().time() + wait
        # Listen before looking, so a finish between the look and the wait is not missed.
        with self.ends.listening(execution_id) as finished:
            state = await self._look(principal, execution_id)
            if state == "not_ready":
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout_at(deadline):
                        # Run here: wait for this node to record its end, not for the
                        # store's event of it (which may come first, see local.py).
                        await (self.local.end_of(tenant, execution_id) or finished).wait()
                        if (ended_here := self.local.end_of(tenant, execution_id)) is not None:
                            await ended_here.wait()  # claimed here meanwhile
                state = await self._look(principal, execution_id)
        return state

    async def _look(self, principal: Principal, execution_id: str) -> PollState:
        known = self.local.state(principal.tenant_id, execution_id, self.clock())
        if known is not None:
            return known
        return self._state(await self.run(self.store.execution, principal.tenant_id, execution_id))

    async def result(self, principal: Principal, execution_id: str) -> FinishedExecution | PollState:
        """The finished result, exactly once; else why there is none."""
        self.local.forget(execution_id)
        # Delivered is delivered: its commit made (the sync that failed was asked for by
        # another call of its batch), the result is the client's or nobody's.
        deliver = self.store.deliver_result
        finished = await made(self.run(deliver, principal.tenant_id, execution_id, self.clock()))
        if finished is not None:
            return finished
        record = await self.run(self.store.execution, principal.tenant_id, execution_id)
        return self._state(record)

    async def result_within(
        self, principal: Principal, execution_id: str, wait: float
    ) -> FinishedExecution | None:
        """The result, delivered (once) if the execution finishes within ``wait`` seconds;
        else None, and it stays to be polled for."""
        if await self.poll(principal, execution_id, wait) != "ready":
            return None
        found = await self.result(principal, execution_id)
        return found if isinstance(found, FinishedExecution) else None

    async def cancel(self, principal: Principal, execution_id: str) -> bool:
        """Cancel a queued or running execution; False when there is none to cancel."""
        record = await self.run(self.store.execution, principal.tenant_id, execution_id)
        if record is None or record.state not in ("queued", "running"):
            return False
        if self.dispatcher.cancel_local(execution_id):
            return True  # its worker is killed; the dispatcher records the outcome and logs
        # Queued, or running on another node: recorded as cancelled now, under a new fence,
        # so the node running it cannot record anything else.
        now = self.clock()
        end = ExecutionEnd(encode_outcome(Cancelled()), encode_logs([]), now, now + self.settings.retention)
        cancelled = await self.run(self.store.cancel_execution, principal.tenant_id, execution_id, end)
        if not cancelled:
            return False  # it finished meanwhile
        self.ends.signal(execution_id)
        self.dispatcher.cancel_local(execution_id)  # claimed here meanwhile
        if not self.store.single_node:
            # Its node kills the worker when told, or at its next renewal at the latest
            # (which finds the claim gone), should this event be missed.
            await self.run(self.store.announce, event("cancel-execution", execution_id))
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
