"""Executions as the dispatcher's work (runtime/dispatch.py): claim a queued one, run its
call in the sandbox, record and cache its outcome, count and log it."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Sequence

import msgspec

from connectord.plugins.manager import HookNotImplementedError, UnknownConnectorError
from connectord.runtime import log_context
from connectord.runtime.calls import InvalidCallError, run_in_sandbox
from connectord.runtime.cluster import Member
from connectord.runtime.dispatch import IDLE_LOOK, Handover, Result
from connectord.runtime.executions.local import LocalExecutions
from connectord.runtime.executions.results import encode_logs, encode_outcome, outcome_kind
from connectord.runtime.executions.settings import ExecutionSettings
from connectord.runtime.parts import Parts
from connectord.runtime.secrets import SecretsError
from connectord.runtime.store.records import ClaimedExecution, ExecutionEnd, Reaped, StoreUnavailableError
from connectord.runtime.store.runner import despite_cancel, made, until_available
from connectord.runtime.waiters import Waiters
from connectord.sandbox.calls import Call
from connectord.sandbox.logs import LogLine
from connectord.sandbox.outcomes import Cancelled, Crashed, Outcome, Rejected, Succeeded

log = logging.getLogger(__name__)

_call_decoder = msgspec.msgpack.Decoder(Call)


def waiting_a_turn(served: Sequence[str], ended: str) -> list[str]:
    """The tenants that wait a turn at the claim for the slot an execution of ``ended``
    leaves (``recent`` of the store's claim): that tenant, and those the node's last claim
    served (``served``). Without the first, two tenants with work queued took turns at
    two slots while a third tenant's single call waited until one of them ran dry."""
    return sorted({*served, ended})


class ExecutionWork:
    noun = "execution"
    purge_every = 60.0
    wake_when_done = False
    #: How a lost node's execution ends once it has lost too many.
    lost_for_good = "its node was lost too often; reported as crashed"
    #: Claims taken in one transaction, at most (as many as slots are free).
    claim_batch = 64

    def __init__(
        self, parts: Parts, settings: ExecutionSettings, ends: Waiters, local: LocalExecutions
    ) -> None:
        """``ends``: the long polls waiting for executions to finish; ``local``: what this
        node tells them without asking the store."""
        self.store, self.run, self.box, self.supervisor = parts.store, parts.run, parts.box, parts.supervisor
        self.clock, self.metrics = parts.clock, parts.metrics
        self.settings, self.ends, self.local = settings, ends, local
        #: The tenants this node's last claim served: they wait one turn (fairness).
        self._served: list[str] = []

    def identify(self, claimed: ClaimedExecution) -> tuple[str, int]:
        return claimed.id, claimed.fence

    async def requeue_interrupted(self) -> int:
        return await self.run(self.store.requeue_running) if self.store.single_node else 0

    async def claim(self, now: float, member: Member, limit: int) -> list[ClaimedExecution]:
        lease_until = member.lease_until(now)
        claimed = await made(
            self.run(self.store.claim_executions, now, member.id, lease_until, limit, self._served)
        )
        return self._took(claimed)

    def _took(self, claimed: list[ClaimedExecution]) -> list[ClaimedExecution]:
        for each in claimed:
            self.local.claimed(each)
        if claimed:
            self._served = sorted({each.tenant_id for each in claimed})
        return claimed

    async def idle_for(self, now: float) -> float:
        return IDLE_LOOK

    def failure(self) -> Outcome:
        return Crashed()

    async def execute(
        self,
        claimed: ClaimedExecution,
        invoke: Callable[[], Awaitable[Result]],
        handover: Handover[ClaimedExecution],
    ) -> None:
        # This task's own context: every line logged while it runs names the execution.
        log_context.bind(execution_id=claimed.id, tenant=claimed.tenant_id, connector=claimed.component)
        log.info("execution started", extra={"event": "execution.started", "kind": claimed.kind})
        started = time.perf_counter()
        try:
            outcome, logs = await invoke()
            self._count(claimed, outcome_kind(outcome), time.perf_counter() - started)
            recorded = await self._record(claimed, outcome, logs, handover)
            if recorded:
                await self._cache(claimed, outcome, recorded)
        finally:
            self.local.dropped(claimed.id)

    async def invoke(self, claimed: ClaimedExecution) -> Result:
        execution_id = claimed.id
        try:
            call = _call_decoder.decode(self.box.open(claimed.sealed_call))
        except (SecretsError, msgspec.DecodeError):
            log.error("execution %s: its inputs cannot be read with the configured keys", execution_id)
            return Rejected("Unreadable", "the execution's inputs cannot be read by this server"), []
        try:
            result = await run_in_sandbox(
                self.supervisor, call, invocation_id=execution_id, tenant=claimed.tenant_id
            )
        except (InvalidCallError, UnknownConnectorError, HookNotImplementedError) as exc:
            # Checked when scheduled; the connector changed since (uninstalled, upgraded).
            return Rejected("Unavailable", str(exc)), []
        return result.outcome, result.logs

    async def _record(
        self,
        claimed: ClaimedExecution,
        outcome: Outcome,
        logs: list[LogLine],
        handover: Handover[ClaimedExecution],
    ) -> ExecutionEnd | None:
        """Record the outcome (its end; None where this node's claim had ended), claiming
        the next queued execution in the same transaction where ``handover`` asks for it."""
        execution_id, now = claimed.id, self.clock()
        end = ExecutionEnd(encode_outcome(outcome), encode_logs(logs), now, now + self.settings.retention)
        kind, fence = outcome_kind(outcome), claimed.fence

        async def finish() -> bool:
            claimant = handover.claimant()
            if claimant is None:
                return await made(self.run(self.store.finish_execution, execution_id, fence, end, kind))
            return await self._finish_and_claim(claimed, end, kind, claimant, handover)

        # Kept until the store is back (a restarting database, say): running it again
        # would cost more, and our claim stays valid as long as our lease is renewed.
        if not await until_available(finish, f"record execution {execution_id}"):
            # Cancelled through another node (recorded there), or our lease ran out and
            # another node took it over: that outcome counts.
            if not isinstance(outcome, Cancelled):
                log.warning("execution %s: outcome discarded, this node's claim had ended", execution_id)
            return None
        self.local.recorded(execution_id, end.expires_at)
        self.ends.signal(execution_id)
        return end

    async def _finish_and_claim(
        self,
        claimed: ClaimedExecution,
        end: ExecutionEnd,
        kind: str,
        claimant: Member,
        handover: Handover[ClaimedExecution],
    ) -> bool:
        """Record the outcome and claim the next queued execution for ``claimant`` in one
        transaction; what it claims goes to ``handover``."""
        at = self.clock()  # each attempt's own: the store may have been away a while
        claim_for = (at, claimant.id, claimant.lease_until(at))
        recent = waiting_a_turn(self._served, claimed.tenant_id)

        def hand_on(answer: tuple[bool, list[ClaimedExecution]]) -> None:
            handover.take(self._took(answer[1]))

        # Cancelled (the node closing), what it claimed is handed on all the same: given back.
        finish = self.store.finish_and_claim
        answer = await despite_cancel(
            made(self.run(finish, claimed.id, claimed.fence, end, kind, claim_for, recent)), hand_on
        )
        hand_on(answer)
        return answer[0]

    async def _cache(self, claimed: ClaimedExecution, outcome: Outcome, end: ExecutionEnd) -> None:
        """Keep a successful outcome for the calls asking with the same cache key."""
        if claimed.cache_key is None or claimed.cache_seconds is None or not isinstance(outcome, Succeeded):
            return
        try:
            await self.run(
                self.store.cache_outcome,
                claimed.tenant_id,
                claimed.cache_key,
                end.outcome,
                end.finished_at + claimed.cache_seconds,
            )
        except StoreUnavailableError as exc:  # caching it, only: the outcome is recorded
            log.warning("execution %s: its outcome could not be cached: %s", claimed.id, exc)

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

    async def reap(self) -> Reaped:
        """Executions of lost nodes run again, or are reported as crashed once they have
        lost ``max_claims`` nodes."""
        now = self.clock()
        crashed = ExecutionEnd(encode_outcome(Crashed()), encode_logs([]), now, now + self.settings.retention)
        return await made(self.run(self.store.reap_executions, now, self.settings.max_claims, crashed))

    async def release(self, member: Member, ids: list[str]) -> int:
        return await self.run(self.store.release_claims, member.id, ids, [])

    async def purge(self) -> int:
        """Delete results expired for longer than ``remember`` and delivered executions as
        old, and stale cache entries; the number of executions deleted."""
        return await self.run(self.store.purge_executions, self.clock(), self.settings.remember)
