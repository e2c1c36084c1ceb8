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
import socket
import time
import uuid
from collections import defaultdict

import msgspec

from connectord.plugins.manager import Catalog, Selection
from connectord.runtime.calls import Call, check_call, redactor_for, refuse_credentials
from connectord.runtime.outcomes import (
    Cancelled,
    Crashed,
    Outcome,
    Rejected,
    TimedOut,
)
from connectord.runtime.redact import Redactor
from connectord.runtime.supervisor.cgroups import Cgroups, WorkerCgroups
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

    @property
    def catalog(self) -> Catalog:
        return self.zygote.catalog

    async def start(self) -> None:
        await self.zygote.ensure_started()

    def retire_idle(self) -> None:
        """Stop the pooled workers waiting for calls (they are started again on demand)."""
        for workers in self._idle.values():
            for worker in workers:
                worker.kill()
        self._idle.clear()

    async def close(self) -> None:
        self.retire_idle()
        for worker in self._running.values():
            worker.kill()
        await self.zygote.close()
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
        redactor = redactor_for(info, call)
        logs = LogCollector(redactor)
        started = time.monotonic()
        refused = refuse_credentials(info, call)
        if refused is not None:  # no connector code needs to run to say so
            return InvocationResult(invocation_id, _redacted(refused, redactor), [], 0.0)
        async with self.limiter.slot((tenant, call.connector)):
            outcome = await self._run(
                Request(invocation_id, call),
                (tenant, call.connector),
                policy,
                isolation or policy.isolation,
                deadline,
                logs,
            )
        seconds = time.monotonic() - started
        return InvocationResult(invocation_id, _redacted(outcome, redactor), logs.result(), seconds)

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
        worker: WorkerProcess | None = None
        try:
            async with asyncio.timeout(deadline):
                worker = self._idle_worker(key) if isolation == "pooled" else None
                if worker is None:
                    worker = await self._new_worker(request, key, policy)
                else:
                    worker.send(request)
                self._running[request.invocation_id] = worker
                outcome = await worker.reply(request.invocation_id, logs.add)
        except ZygoteError as exc:
            log.error("no worker for %s: %s", key[1], exc)
            return Crashed()
        except TimeoutError:
            if worker is not None:
                await self._stop(worker)
            return TimedOut(deadline)
        except WorkerGone:
            assert worker is not None
            return await self._gone(worker, request.invocation_id, deadline)
        except BaseException:
            if worker is not None:
                worker.kill()
            raise
        finally:
            self._running.pop(request.invocation_id, None)
        self._release(worker, isolation, policy)
        return outcome

    def _idle_worker(self, key: tuple[str, str]) -> WorkerProcess | None:
        idle = self._idle[key]
        while idle:
            worker = idle.pop()
            if worker.alive:
                return worker
        return None

    async def _new_worker(
        self, request: Request, key: tuple[str, str], policy: ConnectorPolicy
    ) -> WorkerProcess:
        """Queue the request on a new socket, then have the zygote fork the worker for it."""
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        cgroups = self.cgroups.acquire(policy.limits.processes)
        worker = await WorkerProcess.open(ours, cgroups, key)
        worker.send(request)
        try:
            worker.pid = await self.zygote.spawn(
                key[1], policy.limits, [str(p) for p in cgroups.paths], theirs
            )
        except BaseException:
            worker.close()
            self._recycle(cgroups, policy.limits.processes)
            raise
        self._watch_exit(worker, policy.limits.processes)
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

    def _watch_exit(self, worker: WorkerProcess, processes: int | None) -> None:
        """Once the zygote reports the worker reaped, recycle its cgroups (killing anything
        a call left behind in them) and forget it."""

        def reaped(_: object) -> None:
            worker.alive = False
            self.zygote.forget(worker.pid)
            self._recycle(worker.cgroups, processes)

        self.zygote.exit_of(worker.pid).add_done_callback(reaped)

    def _recycle(self, cgroups: WorkerCgroups, processes: int | None) -> None:
        if self.cgroups.release(cgroups, processes):
            return
        # Killed processes leave a cgroup asynchronously; look again shortly.
        asyncio.get_running_loop().call_later(0.02, self._recycle, cgroups, processes)


def _redacted(outcome: Outcome, redactor: Redactor) -> Outcome:
    if isinstance(outcome, Rejected):
        return Rejected(outcome.error_type, redactor.text(outcome.message), outcome.field)
    return outcome


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
