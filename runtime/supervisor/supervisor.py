"""Runs every invocation of connector code in a sandboxed worker and returns its outcome.

The supervisor never runs connector code itself. It asks the zygote for workers, sends
each its call over the worker's own socket, and enforces the deadline from outside:
SIGTERM to the worker's process group when it passes, SIGKILL (and ``cgroup.kill``) a
grace period later. Whatever the worker does — answer, crash, hang, flood its socket —
the caller gets exactly one Outcome.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import time
import uuid
from collections import defaultdict

import msgspec

from connectord.plugins.manager import Catalog, Selection
from connectord.runtime.calls import Call, check_call
from connectord.runtime.outcomes import (
    Cancelled,
    Crashed,
    Outcome,
    Rejected,
    TimedOut,
)
from connectord.runtime.redact import Redactor, secret_values
from connectord.runtime.supervisor.cgroups import Cgroups
from connectord.runtime.supervisor.fairness import FairLimiter
from connectord.runtime.supervisor.logs import LogCollector, LogLine
from connectord.runtime.supervisor.policy import ConnectorPolicy, Isolation, SandboxPolicy
from connectord.runtime.supervisor.worker import WorkerGone, WorkerProcess
from connectord.runtime.supervisor.zygote import Exit, ZygoteClient, ZygoteError
from connectord.sandbox.protocol import Request

log = logging.getLogger(__name__)

#: How long to wait for the zygote's word on a worker that closed its socket.
EXIT_REPORT_WAIT = 5.0


class InvocationResult(msgspec.Struct, frozen=True):
    invocation_id: str
    outcome: Outcome
    logs: list[LogLine]
    seconds: float


class Supervisor:
    def __init__(
        self,
        selection: Selection | None = None,
        policy: SandboxPolicy | None = None,
        cgroups: Cgroups | None = None,
    ) -> None:
        self.policy = policy = policy or SandboxPolicy()
        self.zygote = ZygoteClient(selection or Selection())
        self.cgroups = cgroups if cgroups is not None else Cgroups(None, None)
        self.limiter = FairLimiter(policy.capacity(), policy.per_connector or None)
        self._idle: defaultdict[tuple[str, str], list[WorkerProcess]] = defaultdict(list)
        self._running: dict[str, WorkerProcess] = {}
        self._cancelled: set[str] = set()
        self._background: set[asyncio.Task[None]] = set()

    @property
    def catalog(self) -> Catalog:
        return self.zygote.catalog

    async def start(self) -> None:
        await self.zygote.ensure_started()

    async def close(self) -> None:
        for workers in self._idle.values():
            for worker in workers:
                worker.kill()
        self._idle.clear()
        for worker in self._running.values():
            worker.kill()
        await self.zygote.close()
        if self._background:
            await asyncio.gather(*self._background, return_exceptions=True)
        self.cgroups.close()

    async def invoke(
        self,
        call: Call,
        *,
        invocation_id: str | None = None,
        tenant: str = "default",
        timeout: float | None = None,
        isolation: Isolation | None = None,
    ) -> InvocationResult:
        """Run ``call`` in a worker. Raises only for a call that ``check_call`` refuses."""
        await self.zygote.ensure_started()
        info = check_call(self.catalog, call)
        invocation_id = invocation_id or uuid.uuid4().hex
        policy = self.policy.for_connector(call.connector)
        deadline = timeout if timeout is not None else policy.timeout_for(call.method)
        redactor = Redactor(secret_values(call.credentials, info.secret_fields()))
        logs = LogCollector(redactor)
        started = time.monotonic()
        async with self.limiter.slot((tenant, call.connector)):
            outcome = await self._run(
                Request(invocation_id, call),
                (tenant, call.connector),
                policy,
                isolation or policy.isolation,
                deadline,
                logs,
            )
        if isinstance(outcome, Rejected):
            outcome = Rejected(outcome.error_type, redactor.text(outcome.message), outcome.field)
        return InvocationResult(invocation_id, outcome, logs.result(), time.monotonic() - started)

    def cancel(self, invocation_id: str) -> bool:
        """Kill the worker of a running invocation; its outcome becomes Cancelled."""
        worker = self._running.get(invocation_id)
        if worker is None:
            return False
        self._cancelled.add(invocation_id)
        worker.kill()
        return True

    async def _run(
        self,
        request: Request,
        key: tuple[str, str],
        policy: ConnectorPolicy,
        isolation: Isolation,
        deadline: float,
        logs: LogCollector,
    ) -> Outcome:
        try:
            worker = await self._worker(key, policy, isolation)
        except ZygoteError as exc:
            log.error("no worker for %s: %s", key[1], exc)
            return Crashed()
        self._running[request.invocation_id] = worker
        try:
            async with asyncio.timeout(deadline):
                outcome = await worker.exchange(request, logs.add)
        except TimeoutError:
            await self._stop(worker)
            return TimedOut(deadline)
        except WorkerGone:
            return await self._gone(worker, request.invocation_id, deadline)
        except BaseException:
            worker.kill()
            raise
        finally:
            self._running.pop(request.invocation_id, None)
        self._release(worker, isolation, policy)
        return outcome

    async def _worker(
        self, key: tuple[str, str], policy: ConnectorPolicy, isolation: Isolation
    ) -> WorkerProcess:
        if isolation == "pooled":
            idle = self._idle[key]
            while idle:
                worker = idle.pop()
                if worker.alive:
                    return worker
        cgroups = self.cgroups.create(policy.limits.processes)
        try:
            pid, sock = await self.zygote.spawn(key[1], policy.limits, [str(p) for p in cgroups.paths])
        except BaseException:
            cgroups.remove()
            raise
        worker = await WorkerProcess.attach(pid, sock, cgroups, key)
        self._watch_exit(worker)
        return worker

    def _release(self, worker: WorkerProcess, isolation: Isolation, policy: ConnectorPolicy) -> None:
        if isolation == "pooled" and worker.alive and not _worn_out(worker, policy):
            self._idle[worker.key].append(worker)
        else:
            # Its group goes too: nothing a call started may outlive the call.
            worker.kill()

    async def _stop(self, worker: WorkerProcess) -> None:
        """SIGTERM the group, then SIGKILL it (and its cgroup) after the grace period."""
        worker.signal_group(signal.SIGTERM)
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self.policy.grace):
                await asyncio.shield(self.zygote.exit_of(worker.pid))
        worker.kill()

    async def _gone(self, worker: WorkerProcess, invocation_id: str, deadline: float) -> Outcome:
        """The worker closed its socket or broke the protocol before replying: say how it ended."""
        worker.kill()
        if invocation_id in self._cancelled:
            self._cancelled.discard(invocation_id)
            return Cancelled()
        try:
            async with asyncio.timeout(EXIT_REPORT_WAIT):
                ended = await asyncio.shield(self.zygote.exit_of(worker.pid))
        except TimeoutError:
            return Crashed()
        if ended.signal == signal.SIGXCPU:
            return TimedOut(deadline)
        return Crashed(exit_code=ended.exit_code, signal=ended.signal)

    def _watch_exit(self, worker: WorkerProcess) -> None:
        """Once the zygote reports the worker reaped, clear its cgroups and bookkeeping."""

        async def cleanup() -> None:
            with contextlib.suppress(asyncio.CancelledError):
                await self.zygote.exit_of(worker.pid)
            worker.alive = False
            worker.cgroups.kill()
            for _ in range(50):
                if worker.cgroups.remove():
                    break
                await asyncio.sleep(0.02)  # processes leave a killed cgroup asynchronously
            self.zygote.forget(worker.pid)

        task = asyncio.ensure_future(cleanup())
        self._background.add(task)
        task.add_done_callback(self._background.discard)


def _worn_out(worker: WorkerProcess, policy: ConnectorPolicy) -> bool:
    if worker.calls >= policy.max_calls_per_worker:
        return True
    return _rss(worker.pid) > policy.max_rss_bytes


def _rss(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/statm") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


__all__ = ["Exit", "InvocationResult", "Supervisor"]
