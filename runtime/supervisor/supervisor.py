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
import dataclasses
import logging
import signal
import socket
import time
import uuid
from collections import defaultdict
from collections.abc import Sequence

import msgspec

from connectord.plugins.manager import Catalog, PluginSource, Selection, selected_sources
from connectord.runtime.calls import Call, check_call, checked_result, redactor_for, refuse_credentials
from connectord.runtime.outcomes import (
    Cancelled,
    Crashed,
    Outcome,
    Rejected,
    Succeeded,
    TimedOut,
)
from connectord.runtime.redact import Redactor
from connectord.runtime.supervisor.cgroups import Cgroups, WorkerCgroups
from connectord.runtime.supervisor.fairness import FairLimiter
from connectord.runtime.supervisor.logs import LogCollector, LogLine
from connectord.runtime.supervisor.policy import ConnectorPolicy, Isolation, SandboxPolicy
from connectord.runtime.supervisor.syscall_filter import SeccompUnavailableError, compiled_filter
from connectord.runtime.supervisor.worker import WorkerGone, WorkerProcess
from connectord.runtime.supervisor.zygote import Exit, Forked, ZygoteClient, ZygoteError
from connectord.sandbox.protocol import Preload, Reply, Request, Spawn

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
        egress_allow: Sequence[str] = (),
    ) -> None:
        self.policy = policy = policy or SandboxPolicy()
        #: ``[egress] allow``, sent to every worker (the connectors' egress policy).
        self.egress_allow = list(egress_allow)
        self.selection = selection or Selection()
        #: Loads and describes every selected connector; it forks the workers too when the
        #: policy shares one zygote, else each connector gets one of its own (``zygote_for``).
        self.zygote = ZygoteClient(self.selection, policy.import_timeout)
        self._own_zygotes: dict[str, ZygoteClient] = {}
        self._sources: dict[str, PluginSource] | None = None
        #: When each connector was last called (monotonic clock), to stop unused zygotes.
        self._last_call: dict[str, float] = {}
        self._idle_check: asyncio.Task[None] | None = None
        self._described = False
        self.cgroups = cgroups if cgroups is not None else Cgroups(None, None)
        # Keys are (tenant, connector); a connector's calls of all tenants form a group.
        self.limiter = FairLimiter(policy.capacity(), policy.per_connector or None, group=lambda key: key[1])
        self._idle: defaultdict[tuple[str, str], list[WorkerProcess]] = defaultdict(list)
        self._running: dict[str, WorkerProcess] = {}
        self._cancelled: set[str] = set()

    @property
    def catalog(self) -> Catalog:
        return self.zygote.catalog

    @property
    def zygotes(self) -> list[ZygoteClient]:
        """Every zygote this supervisor has (some may not be running)."""
        return [self.zygote, *self._own_zygotes.values()]

    @property
    def pending_spawns(self) -> int:
        return sum(zygote.pending_spawns for zygote in self.zygotes)

    def zygote_for(self, connector: str) -> ZygoteClient:
        """The zygote that forks ``connector``'s workers (it starts on demand)."""
        if self.policy.zygotes == "shared":
            return self.zygote
        zygote = self._own_zygotes.get(connector)
        if zygote is None:
            own = dataclasses.replace(self.selection, allow=frozenset({connector}), block=frozenset())
            zygote = ZygoteClient(own, self.policy.import_timeout, lean=True, source=self._preload(connector))
            self._own_zygotes[connector] = zygote
        return zygote

    def _preload(self, connector: str) -> Preload | None:
        """Where ``connector`` is imported from, as this process reads it: never as the
        catalog says, which the loading zygote sends after every connector's import code
        ran (one could otherwise have another's zygote import its own module)."""
        if self._sources is None:
            self._sources = {}
            for source in selected_sources(self.selection):
                self._sources.setdefault(source.name, source)  # the first wins, as in loading
        source = self._sources.get(connector)
        if source is None or not source.target:
            return None
        return Preload(connector, source.origin, source.target)

    async def start(self) -> None:
        """Load and describe the connectors (``catalog``). Raises ZygoteError if the
        sandbox cannot start, or cannot confine workers as the policy says."""
        for policy in (self.policy.default, *self.policy.connectors.values()):
            _syscall_filter(policy)  # now, not at the first call: a start that fails says why
        await self.zygote.ensure_started()
        self._described = True
        if self.policy.zygotes == "per-connector":
            await self.zygote.close()  # its catalog is all we need of it
            if self._idle_check is None:
                self._idle_check = asyncio.ensure_future(self._stop_idle_zygotes_forever())

    async def _stop_idle_zygotes_forever(self) -> None:
        idle = self.policy.zygote_idle_seconds
        while True:
            await asyncio.sleep(min(idle / 2, 60.0))
            try:
                self.stop_idle_zygotes(time.monotonic() - idle)
            except Exception:  # a bug here must not end the checks for good
                log.exception("cannot stop idle zygotes")

    def stop_idle_zygotes(self, unused_since: float) -> list[str]:
        """Stop the own zygotes of the connectors not called since ``unused_since`` (a
        monotonic time) that have no worker running, with their idle pooled workers; the
        connectors whose zygote was stopped."""
        running = {worker.key[1] for worker in self._running.values()}
        stopped = []
        for connector, zygote in self._own_zygotes.items():
            if zygote.pid is None or connector in running:
                continue
            if self._last_call.get(connector, float("-inf")) > unused_since:
                continue
            for key in [key for key in self._idle if key[1] == connector]:
                for worker in self._idle.pop(key):
                    worker.kill()
            zygote.stop()
            stopped.append(connector)
        return stopped

    async def _ensure_described(self) -> None:
        if self.policy.zygotes == "shared":
            await self.zygote.ensure_started()  # again after a death: it forks the workers
        elif not self._described:
            await self.start()

    def retire_idle(self) -> None:
        """Stop the pooled workers waiting for calls (they are started again on demand)."""
        for workers in self._idle.values():
            for worker in workers:
                worker.kill()
        self._idle.clear()

    async def close(self) -> None:
        if self._idle_check is not None:
            self._idle_check.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._idle_check
        self.retire_idle()
        for worker in self._running.values():
            worker.kill()
        for zygote in self.zygotes:
            await zygote.close()
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
        invocation_id = invocation_id or uuid.uuid4().hex
        try:
            await self._ensure_described()
        except ZygoteError as exc:
            log.error("cannot run %s: %s", call.connector, exc)
            return InvocationResult(invocation_id, Crashed(), [], 0.0)
        info = check_call(self.catalog, call)
        policy = self.policy.for_connector(call.connector)
        deadline = timeout if timeout is not None else policy.timeout_for(call.method)
        redactor = redactor_for(info, call)
        logs = LogCollector(redactor)
        started = time.monotonic()
        refused = refuse_credentials(info, call) or _uncarriable(call)
        if refused is not None:  # no connector code needs to run to say so
            return InvocationResult(invocation_id, _redacted(refused, redactor), [], 0.0)
        async with self.limiter.slot((tenant, call.connector)):
            outcome = await self._run(
                Request(invocation_id, call, pooled=(isolation or policy.isolation) == "pooled"),
                (tenant, call.connector),
                policy,
                isolation or policy.isolation,
                deadline,
                logs,
            )
        seconds = time.monotonic() - started
        outcome = _redacted(outcome, redactor, call.method)
        return InvocationResult(invocation_id, outcome, logs.result(), seconds)

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
        self._last_call[key[1]] = time.monotonic()  # its zygote is not stopped under it
        try:
            idle = self._idle_worker(key) if isolation == "pooled" else None
            if idle is None:
                # A connector's own zygote starts on its first call: not the call's time.
                await self.zygote_for(key[1]).ensure_started()
            async with asyncio.timeout(deadline):
                worker = idle
                if worker is None:
                    worker = await self._new_worker(request, key, policy)
                else:
                    worker.send(request)
                self._running[request.invocation_id] = worker
                reply = await worker.reply(request.invocation_id, logs.add)
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
        self._release(worker, isolation, policy, reply)
        return reply.outcome

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
        processes = policy.limits.processes
        cgroups = self.cgroups.acquire(processes)

        def recycle(_: object = None) -> None:
            self._recycle(cgroups, processes)

        def on_orphan(forked: Forked | None) -> None:
            # Cancelled during the spawn. A worker that was forked after all is already
            # killed; its cgroup is reused once it is reaped, never while it could join it.
            if forked is None:
                recycle()
            else:
                forked.exited.add_done_callback(recycle)

        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        worker: WorkerProcess | None = None
        spawning = False
        try:
            worker = await WorkerProcess.open(ours, cgroups, key)
            worker.send(request)
            spawning = True
            order = Spawn(
                0, key[1], policy.limits, [str(p) for p in cgroups.paths], _syscall_filter(policy),
                self.egress_allow,
            )
            forked = await self.zygote_for(key[1]).spawn(order, theirs, on_orphan)
        except BaseException as exc:
            if worker is not None:
                worker.close()
            ours.close()
            theirs.close()
            if not (spawning and isinstance(exc, asyncio.CancelledError)):
                recycle()  # no worker exists; a cancelled spawn calls on_orphan instead
            raise
        worker.started(forked.pid, forked.exited)
        forked.exited.add_done_callback(recycle)
        return worker

    def _release(
        self, worker: WorkerProcess, isolation: Isolation, policy: ConnectorPolicy, reply: Reply
    ) -> None:
        if isolation == "pooled" and reply.clean and worker.alive and not _worn_out(worker, policy, reply):
            self._idle[worker.key].append(worker)
        else:
            # Its group goes too: nothing a call started may outlive the call.
            worker.kill()

    async def _stop(self, worker: WorkerProcess) -> None:
        """SIGTERM the group, then SIGKILL it (and its cgroup) after the grace period."""
        try:
            worker.signal_group(signal.SIGTERM)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.policy.grace):
                    await asyncio.shield(worker.exited)
        finally:
            worker.kill()  # also when we are cancelled during the grace period

    async def _gone(self, worker: WorkerProcess, invocation_id: str, deadline: float) -> Outcome:
        """The worker closed its socket or broke the protocol before replying: say how it ended."""
        worker.kill()
        if invocation_id in self._cancelled:
            self._cancelled.discard(invocation_id)
            return Cancelled()
        try:
            async with asyncio.timeout(EXIT_REPORT_WAIT):
                ended = await asyncio.shield(worker.exited)
        except TimeoutError:
            return Crashed()
        if ended.signal == signal.SIGXCPU:
            return TimedOut(deadline)
        return Crashed(exit_code=ended.exit_code, signal=ended.signal)

    def _recycle(self, cgroups: WorkerCgroups, processes: int | None) -> None:
        if self.cgroups.release(cgroups, processes):
            return
        # Killed processes leave a cgroup asynchronously; look again shortly.
        asyncio.get_running_loop().call_later(0.02, self._recycle, cgroups, processes)


def _uncarriable(call: Call) -> Outcome | None:
    """A call msgpack cannot carry to the worker (an integer beyond 64 bits)."""
    try:
        msgspec.msgpack.encode(call)
    except OverflowError:
        return Rejected("InvalidInput", "a number in the call is out of range (integers must fit in 64 bits)")
    return None


def _redacted(outcome: Outcome, redactor: Redactor, method: str | None = None) -> Outcome:
    """The outcome with secrets masked wherever they appear. A worker's reply is not
    trusted: a success is checked again against the method's result type here."""
    if isinstance(outcome, Rejected):
        return Rejected(redactor.text(outcome.error_type), redactor.text(outcome.message), outcome.field)
    if isinstance(outcome, Succeeded):
        if method is not None:
            try:
                checked_result(method, outcome.data)
            except ValueError as exc:
                return Rejected("InvalidResult", redactor.text(str(exc)))
        return Succeeded(redactor.data(outcome.data))
    return outcome


def _syscall_filter(policy: ConnectorPolicy) -> bytes:
    """The compiled seccomp filter the policy asks for, or nothing."""
    if not policy.limits.seccomp:
        return b""
    try:
        return compiled_filter()
    except SeccompUnavailableError as exc:
        raise ZygoteError(str(exc)) from None


def _worn_out(worker: WorkerProcess, policy: ConnectorPolicy, reply: Reply) -> bool:
    # The worker's own peak: what it once grew to, it mostly keeps (freed memory seldom
    # goes back to the system). Reported by the worker, like ``clean``: a connector that lies
    # keeps only its own tenant's worker, whose memory RLIMIT_AS bounds all the same.
    return worker.calls >= policy.max_calls_per_worker or reply.peak_rss_bytes > policy.max_rss_bytes


__all__ = ["Exit", "InvocationResult", "Supervisor"]
