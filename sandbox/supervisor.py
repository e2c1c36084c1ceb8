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
import functools
import importlib.machinery
import importlib.util
import logging
import os
import signal
import socket
import subprocess
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Sequence
from pathlib import Path

import msgspec

from connectord.plugins.descriptor import unsupported_schemas
from connectord.plugins.manager import (
    Catalog,
    CatalogEntry,
    LoadError,
    PluginSource,
    Selection,
    job_type_clash,
    selected_sources,
)
from connectord.sandbox import watchdog
from connectord.sandbox.calls import Call
from connectord.sandbox.cgroups import Cgroups, WorkerCgroups
from connectord.sandbox.fairness import FairLimiter
from connectord.sandbox.forked import Exit, Forked
from connectord.sandbox.host import Host
from connectord.sandbox.logs import LogCollector, LogLine
from connectord.sandbox.outcomes import (
    Cancelled,
    Crashed,
    MemoryExceeded,
    Outcome,
    Rejected,
    TimedOut,
)
from connectord.sandbox.policy import ConnectorPolicy, Isolation, SandboxPolicy
from connectord.sandbox.protocol import Preload, Reply, Request, Spawn
from connectord.sandbox.redact import Redactor
from connectord.sandbox.replies import kept_outcome
from connectord.sandbox.syscall_filter import SeccompUnavailableError, compiled_filter
from connectord.sandbox.user_ids import IdRecord, RangeExhaustedError, UserIds, parse_range
from connectord.sandbox.worker_process import Framed, WorkerGone, WorkerProcess
from connectord.sandbox.zygote_client import (
    WORKER_ENV,
    Confinement,
    OrphanHandler,
    SandboxUnavailableError,
    ZygoteClient,
    ZygoteDiedError,
    ZygoteError,
    import_path,
)

log = logging.getLogger(__name__)

#: How long to wait for the zygote's word on a worker that closed its socket.
EXIT_REPORT_WAIT = 5.0
#: The tenant of per-call workers forked ahead, under which they wait in ``_idle``: no
#: tenant's (a tenant id holds no NUL).
SPARE = "\x00spare"


class InvocationResult(msgspec.Struct, frozen=True):
    invocation_id: str
    outcome: Outcome
    logs: list[LogLine]
    seconds: float


class Reloaded(msgspec.Struct, frozen=True):
    """What a reload changed: connector ids added to the catalog, gone from it, and whose
    code or description changed (their zygotes are replaced)."""

    added: list[str]
    removed: list[str]
    changed: list[str]


class Supervisor:
    def __init__(
        self,
        selection: Selection | None = None,
        policy: SandboxPolicy | None = None,
        cgroups: Cgroups | None = None,
        egress_allow: Sequence[str] = (),
        host: Host | None = None,
        user_id_record: Path | None = None,
    ) -> None:
        self.host = host or Host.detect()
        #: Raises SandboxUnavailableError for a protection asked for that the host lacks.
        self.policy = policy = self.host.resolve(policy or SandboxPolicy())
        #: Each connector's own user id, where the host resolved ``user_ids`` to a range;
        #: kept for good in ``user_id_record`` (the data directory's), where one is given.
        record = IdRecord(user_id_record) if user_id_record is not None else None
        ids = parse_range(policy.user_ids) if isinstance(policy.user_ids, str) else None
        self.user_ids = UserIds(ids, record) if ids is not None else None
        #: ``[egress] allow``, sent to every worker (the connectors' egress policy).
        self.egress_allow = list(egress_allow)
        self.selection = selection or Selection()
        #: Each connector's zygote (started on its first call) imports that connector alone.
        self._own_zygotes: dict[str, ZygoteClient] = {}
        self._sources: dict[str, PluginSource] | None = None
        self._catalog = Catalog(connectors={}, errors=[])
        #: When each connector was last called (monotonic clock), to stop unused zygotes.
        self._last_call: dict[str, float] = {}
        #: Calls of each connector under way (waiting for its zygote, a fork or a reply):
        #: its zygote is not stopped while there is one.
        self._calls: Counter[str] = Counter()
        #: Per-call design-time calls in flight, per connector (see ``_spare_ahead``).
        self._short_calls: Counter[str] = Counter()
        self._idle_check: asyncio.Task[None] | None = None
        #: Zygotes of ``warm`` connectors being started ahead of any call, per connector.
        self._warming: dict[str, asyncio.Task[None]] = {}
        self._described = False
        #: What each own zygote's connector looked like on disk when the zygote was made.
        self._prints: dict[str, tuple[object, ...]] = {}
        #: Each connector's last description, and its fingerprint then: reused while the
        #: connector is unchanged on disk.
        self._descriptions: dict[str, tuple[tuple[object, ...], Catalog]] = {}
        self._watchdog: subprocess.Popen[bytes] | None = None
        #: The zygote each running call uses, and zygotes replaced by a reload that still
        #: serve calls begun before it: each is stopped once its last call has ended.
        self._zygote_of: dict[str, ZygoteClient | None] = {}
        self._retiring: set[ZygoteClient] = set()
        self._reloading = asyncio.Lock()
        self.cgroups = cgroups if cgroups is not None else Cgroups(None, None)
        # Keys are (tenant, connector); a connector's calls of all tenants form a group.
        per_connector = policy.slots_per_connector()
        self.limiter: FairLimiter[tuple[str, str]] = FairLimiter(
            policy.capacity(), per_connector, group=lambda key: key[1]
        )
        #: Jobs take a slot of this first: they hold at most all but one of the node's slots
        #: and of each connector's, the last left to design-time calls. One tenant's slow
        #: jobs held every slot of a connector (and, spread over two, of the node), and
        #: another tenant's call waited ≈ 2 minutes (275 s) for one to end.
        self.job_limiter: FairLimiter[tuple[str, str]] = FairLimiter(
            max(1, policy.capacity() - 1), max(1, per_connector - 1), group=lambda key: key[1]
        )
        #: Pooled workers waiting for their (tenant, connector)'s next call, and per-call
        #: spares waiting for any tenant's, under (SPARE, connector): both go with the zygote.
        self._idle: defaultdict[tuple[str, str], list[WorkerProcess]] = defaultdict(list)
        #: Spares being forked, by connector (one at a time).
        self._sparing: dict[str, asyncio.Task[None]] = {}
        self._running: dict[str, WorkerProcess] = {}
        self._cancelled: set[str] = set()
        #: Workers killed at their deadline or for memory, by (connector, outcome kind):
        #: what an operator alerts on, read by the metrics.
        self.kills: Counter[tuple[str, str]] = Counter()

    @property
    def catalog(self) -> Catalog:
        """Every selected connector's description, each from a process that imported it alone."""
        return self._catalog

    @property
    def zygotes(self) -> list[ZygoteClient]:
        """Every zygote this supervisor has (some may not be running)."""
        return list(self._own_zygotes.values())

    @property
    def pending_spawns(self) -> int:
        """Forks asked of the zygotes and not answered yet, and spares being forked."""
        return sum(zygote.pending_spawns for zygote in self.zygotes) + len(self._sparing)

    def zygote_for(self, connector: str) -> ZygoteClient:
        """The zygote that forks ``connector``'s workers (it starts on demand)."""
        zygote = self._own_zygotes.get(connector)
        if zygote is None:
            source = self._preload(connector)
            if source is None:
                raise ZygoteError(f"connector '{connector}' is not installed")
            zygote = ZygoteClient(source, self._confinement(connector), self.policy.import_timeout)
            self._own_zygotes[connector] = zygote
            self._prints[connector] = fingerprint(source)
        return zygote

    def _confinement(self, connector: str) -> Confinement:
        policy = self.policy.for_connector(connector)
        user = self._user_id(connector)
        return Confinement(policy.limits, _syscall_filter(policy), self.cgroups, user)

    def _user_id(self, connector: str) -> int | None:
        if self.user_ids is None:
            return None
        try:
            return self.user_ids.of(connector)
        except RangeExhaustedError as exc:
            raise SandboxUnavailableError(str(exc)) from None

    def _assign_user_ids(self, sources: list[PluginSource]) -> None:
        """Give every selected connector its user id at once, names in sorted order (so a
        collision of two hashes is settled the same way at every start)."""
        if self.user_ids is None:
            return
        known = {name for name, _, _ in self.user_ids.displaced()}
        try:
            self.user_ids.assign(source.name for source in sources)
        except RangeExhaustedError as exc:
            raise SandboxUnavailableError(str(exc)) from None
        for name, uid, holder in self.user_ids.displaced():
            if name not in known:
                log.warning(
                    "connector '%s' runs as user id %d: its own id is taken by '%s' (with it uninstalled, "
                    "it would get its own)",
                    name,
                    uid,
                    holder,
                )

    def _preload(self, connector: str) -> Preload | None:
        """Where ``connector`` is imported from, as this process reads it from the entry
        points: never as anything connector code could have touched says."""
        source = self._selected().get(connector)
        if source is None or not source.target:
            return None
        return preload(source)

    def _selected(self, sources: list[PluginSource] | None = None) -> dict[str, PluginSource]:
        if self._sources is None or sources is not None:
            self._sources = {}
            for source in sources if sources is not None else selected_sources(self.selection):
                self._sources.setdefault(source.name, source)  # the first wins, as in loading
        return self._sources

    async def start(self) -> None:
        """Describe the selected connectors (``catalog``): each in a confined process of
        its own that imports it alone, all at once, each within ``import_timeout``."""
        self.cgroups.follow_oom_events(asyncio.get_running_loop())
        self._start_watchdog()
        try:
            sources = selected_sources(self.selection)
            first = self._selected(sources)
            self._assign_user_ids(sources)
            describing = (self._describe(source, first) for source in sources)
            described = await asyncio.gather(*describing, return_exceptions=True)
            # Checking the descriptions' schemas costs up to milliseconds a value: in a thread,
            # so that the loop goes on serving (a start blocks nothing else; a reload does).
            self._catalog = await asyncio.to_thread(merged_catalog, sources, _raised(described))
        except BaseException:
            await self._stop_watchdog()  # a start that failed leaves nothing running
            raise
        self._described = True
        self.warm_up()
        if self._idle_check is None:
            self._idle_check = asyncio.ensure_future(self._stop_idle_zygotes_forever())

    def warm_up(self) -> None:
        """Start the zygotes of the ``warm`` connectors that are not running (at start, after
        a reload and at each idle check, so one that died is started again)."""
        for connector in self._catalog.connectors:
            if self.policy.for_connector(connector).warm and connector not in self._warming:
                task = asyncio.ensure_future(self._warm(connector))
                self._warming[connector] = task
                task.add_done_callback(functools.partial(self._forget_warming, connector))

    def _forget_warming(self, connector: str, done: asyncio.Task[None]) -> None:
        if self._warming.get(connector) is done:
            del self._warming[connector]

    async def warmed(self) -> None:
        """Once the ``warm`` zygotes being started are (or failed to start)."""
        await asyncio.gather(*self._warming.values(), return_exceptions=True)

    async def _warm(self, connector: str) -> None:
        try:
            zygote = self.zygote_for(connector)
            await zygote.ensure_started()
        except ZygoteError as exc:  # its first call tries again, and says why
            log.warning("connector '%s': its zygote did not start ahead of its calls: %s", connector, exc)
            return
        policy = self.policy.for_connector(connector)
        if policy.isolation == "per-call":
            self._spare_ahead(connector, zygote, policy)

    async def reload(self) -> Reloaded:
        """Read the entry points again and describe every selected connector anew, as
        ``start`` does, then replace the catalog. The zygote of a connector whose code (where
        it is installed, its files' times) or description changed is replaced: the next call
        starts a new one, calls already running finish on the old one, which stops after the
        last of them. One reload at a time; calls go on meanwhile, with the old catalog."""
        async with self._reloading:
            importlib.invalidate_caches()  # a package installed since: its directory is new
            old = self._catalog
            sources = selected_sources(self.selection)
            first: dict[str, PluginSource] = {}
            for source in sources:
                first.setdefault(source.name, source)
            self._assign_user_ids(sources)
            described = await asyncio.gather(*(self._describe(s, first, fatal=False) for s in sources))
            catalog = await asyncio.to_thread(merged_catalog, sources, described)
            self._sources = first
            self._catalog = catalog
            stale = [
                name
                for name in list(self._own_zygotes)
                if old.connectors.get(name) != catalog.connectors.get(name)
                or name not in first
                or self._prints.get(name) != fingerprint(preload(first[name]))
            ]
            for name in stale:
                self._retire(name)
            self.warm_up()
            kept = set(old.connectors) & set(catalog.connectors)
            changed = {n for n in kept if old.connectors[n] != catalog.connectors[n]} | (set(stale) & kept)
            return Reloaded(
                added=sorted(set(catalog.connectors) - set(old.connectors)),
                removed=sorted(set(old.connectors) - set(catalog.connectors)),
                changed=sorted(changed),
            )

    def _retire(self, connector: str) -> None:
        """Replace ``connector``'s zygote: its idle pooled workers go now, the zygote once no
        call uses it (its workers die with it)."""
        zygote = self._own_zygotes.pop(connector)
        self._prints.pop(connector, None)
        self._drop_idle(connector)
        self._retiring.add(zygote)
        self._stop_if_unused(zygote)

    def _drop_idle(self, connector: str) -> None:
        """Kill ``connector``'s idle pooled workers and spares, and stop forking one."""
        forking = self._sparing.pop(connector, None)
        if forking is not None:
            forking.cancel()
        for key in [key for key in self._idle if key[1] == connector]:
            for worker in self._idle.pop(key):
                worker.kill()

    def _stop_if_unused(self, zygote: ZygoteClient) -> None:
        if zygote in self._retiring and zygote not in self._zygote_of.values():
            self._retiring.discard(zygote)
            zygote.stop()

    async def _describe(
        self, source: PluginSource, first: dict[str, PluginSource], fatal: bool = True
    ) -> Catalog:
        """Its description; a configuration its user cannot use raises (at start: the server
        does not start) or, unless ``fatal`` (a reload), is its load failure."""
        if first.get(source.name) is not source or not source.target or source.refused:
            return Catalog(connectors={}, errors=[])  # merged_catalog says why
        loaded = preload(source)
        print_ = fingerprint(loaded)
        kept = self._descriptions.get(source.name)
        if kept is not None and kept[0] == print_:
            # Unchanged on disk: its description is what it was. Every reload described every
            # connector anew (≈ 0.8 s of CPU for four), which any user may ask for in a loop.
            return kept[1]
        client = ZygoteClient(loaded, self._confinement(source.name), self.policy.import_timeout)
        try:
            described = await client.describe()
        except SandboxUnavailableError as exc:
            if fatal:
                raise
            return Catalog(connectors={}, errors=[LoadError(source.name, source.origin, str(exc))])
        if not described.errors:  # a load failure is tried again at the next reload
            self._descriptions[source.name] = (print_, described)
        return described

    async def _stop_idle_zygotes_forever(self) -> None:
        idle = self.policy.zygote_idle_seconds
        while True:
            await asyncio.sleep(min(idle / 2, 60.0))
            try:
                self.stop_idle_zygotes(time.monotonic() - idle)
                self.warm_up()
            except Exception:  # a bug here must not end the checks for good
                log.exception("cannot stop idle zygotes")

    def stop_idle_zygotes(self, unused_since: float) -> list[str]:
        """Stop the own zygotes of the connectors not called since ``unused_since`` (a
        monotonic time) that have no worker running and are not ``warm``, with their idle
        pooled workers; the connectors whose zygote was stopped."""
        running = {connector for connector, calls in self._calls.items() if calls}
        stopped = []
        for connector, zygote in self._own_zygotes.items():
            if zygote.pid is None or connector in running or self.policy.for_connector(connector).warm:
                continue
            if self._last_call.get(connector, float("-inf")) > unused_since:
                continue
            self._drop_idle(connector)
            zygote.stop()
            stopped.append(connector)
        return stopped

    async def ensure_described(self) -> None:
        """Describe the connectors unless that was done (``catalog``)."""
        if not self._described:
            await self.start()

    def retire_idle(self) -> None:
        """Stop the pooled workers waiting for calls (they are started again on demand)."""
        for workers in self._idle.values():
            for worker in workers:
                worker.kill()
        self._idle.clear()

    async def close(self) -> None:
        sparing = [*self._warming.values(), *self._sparing.values()]
        for task in sparing:
            task.cancel()
        await asyncio.gather(*sparing, return_exceptions=True)
        if self._idle_check is not None:
            self._idle_check.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._idle_check
        self.retire_idle()
        for worker in self._running.values():
            worker.kill()
        for zygote in [*self.zygotes, *self._retiring]:
            await zygote.close()
        self._retiring.clear()
        self.cgroups.close()
        await self._stop_watchdog()

    def _start_watchdog(self) -> None:
        """Start the process that ends the connectors' processes should this one end without
        ``close`` (sandbox/watchdog.py); without cgroups there is nothing it could find."""
        if self._watchdog is None and self.cgroups.available:
            self._watchdog = watchdog.start(self.cgroups.all_roots, import_path(), WORKER_ENV)

    async def _stop_watchdog(self) -> None:
        dog, self._watchdog = self._watchdog, None
        if dog is not None and dog.stdin is not None:
            dog.stdin.close()  # its cue: it finds the cgroups emptied already, and exits
            await asyncio.to_thread(dog.wait)

    async def invoke(
        self,
        call: Call,
        secrets: Redactor,
        *,
        refused: Outcome | None = None,
        invocation_id: str | None = None,
        tenant: str = "default",
        timeout: float | None = None,
        isolation: Isolation | None = None,
        debug: bool = False,
    ) -> InvocationResult:
        """Run ``call``, already checked (``connectord.runtime.calls.run_in_sandbox``), in
        a worker; ``secrets`` are masked in all that comes back. A call ``refused`` before
        any connector code needs to run ends as that outcome. ``debug``: a rejection carries
        the connector's traceback (redacted like every string)."""
        invocation_id = invocation_id or uuid.uuid4().hex
        policy = self.policy.for_connector(call.connector)
        deadline = timeout if timeout is not None else policy.timeout_for(call.method)
        isolation = isolation or policy.isolation
        request = None if refused else _framed(Request(invocation_id, call, isolation == "pooled", debug))
        if request is None:
            outcome = _redacted(refused or UNCARRIABLE, secrets, call.method, debug)
            return InvocationResult(invocation_id, outcome, [], 0.0)
        logs = LogCollector(secrets)
        started = time.monotonic()
        key = (tenant, call.connector)
        async with self._job_slot(call, key), self.limiter.slot(key):
            short = isolation == "per-call" and call.method != "run_job"
            outcome = await self._run(request, key, policy, isolation, deadline, logs, short)
        seconds = time.monotonic() - started
        if isinstance(outcome, TimedOut | MemoryExceeded):
            reason = "timed_out" if isinstance(outcome, TimedOut) else "memory_exceeded"
            self.kills[call.connector, reason] += 1
        outcome = _redacted(outcome, secrets, call.method, debug)
        return InvocationResult(invocation_id, outcome, logs.result(), seconds)

    def _job_slot(self, call: Call, key: tuple[str, str]) -> contextlib.AbstractAsyncContextManager[None]:
        return self.job_limiter.slot(key) if call.method == "run_job" else _NO_SLOT

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
        request: Framed,
        key: tuple[str, str],
        policy: ConnectorPolicy,
        isolation: Isolation,
        deadline: float,
        logs: LogCollector,
        short: bool = False,
    ) -> Outcome:
        """``short``: a per-call design-time call (no job), counted in ``_short_calls``."""
        worker: WorkerProcess | None = None
        self._last_call[key[1]] = time.monotonic()
        self._calls[key[1]] += 1  # its zygote is not stopped under it
        self._short_calls[key[1]] += short
        # The call keeps the zygote it began with, also when a reload replaces it meanwhile.
        zygote: ZygoteClient | None = None
        try:
            zygote = self._zygote_of[request.invocation_id] = self.zygote_for(key[1])
            # A connector's own zygote starts on its first call (not the call's time). One
            # whose hidden paths changed since it hid them is replaced first, and the idle
            # workers and spares forked from it go with it: they see what it saw.
            await zygote.ensure_started()
            idle = self._idle_worker(key) if isolation == "pooled" else await self._spare(key[1])
            if idle is not None:
                idle.key = key
            async with asyncio.timeout(deadline):
                worker = idle
                if worker is None:
                    assert zygote is not None
                    worker = await self._new_worker(request, key, policy, zygote)
                else:
                    worker.send(request)
                self._running[request.invocation_id] = worker
                reply = await worker.reply(request.invocation_id, logs.add)
            if isolation == "per-call" and zygote is not None and self._short_calls[key[1]] == short:
                # For the next call, once this one is done, of a connector with no other
                # per-call design-time call in flight: while they overlap each forks its own
                # anyway, and a spare only adds a hand-off (measured: 10 % more CPU in the
                # loop's thread). A job or pooled call in flight does not count.
                self._spare_ahead(key[1], zygote, policy)
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
            self._calls[key[1]] -= 1
            self._short_calls[key[1]] -= short
            self._running.pop(request.invocation_id, None)
            self._zygote_of.pop(request.invocation_id, None)
            if zygote is not None and zygote in self._retiring:
                isolation = "per-call"  # a replaced connector's worker is not kept for later calls
                self._stop_if_unused(zygote)
        return self._release(worker, isolation, policy, reply)

    def _idle_worker(self, key: tuple[str, str]) -> WorkerProcess | None:
        idle = self._idle[key]
        while idle:
            worker = idle.pop()
            if worker.usable:
                return worker
            worker.close()  # gone: nothing more to read from it
        return None

    async def _spare(self, connector: str) -> WorkerProcess | None:
        """A spare of ``connector``: one waiting, or the one being forked (sooner than a
        fork of our own: it began first)."""
        forking = self._sparing.get(connector)
        if forking is not None and not self._idle.get((SPARE, connector)):
            await asyncio.wait({forking})  # neither cancelled with us nor raising its errors
        return self._idle_worker((SPARE, connector)) if (SPARE, connector) in self._idle else None

    def _spare_ahead(self, connector: str, zygote: ZygoteClient, policy: ConnectorPolicy) -> None:
        """Fork ``connector``'s next per-call worker now, unless one waits or is forking."""
        if not self.policy.spare_workers or connector in self._sparing or self._idle.get((SPARE, connector)):
            return
        task = asyncio.ensure_future(self._fork_spare(connector, zygote, policy))
        self._sparing[connector] = task
        task.add_done_callback(lambda done: self._forget_fork(connector, done))

    def _forget_fork(self, connector: str, done: asyncio.Task[None]) -> None:
        if self._sparing.get(connector) is done:  # not a later fork's
            del self._sparing[connector]

    async def _fork_spare(self, connector: str, zygote: ZygoteClient, policy: ConnectorPolicy) -> None:
        try:
            worker = await self._new_worker(None, (SPARE, connector), policy, zygote)
        except Exception as exc:  # the next call forks its own, and says what failed
            log.info("no spare worker for %s: %s", connector, exc)
            return
        current = zygote is self._own_zygotes.get(connector) and zygote not in self._retiring
        if current and zygote.pid is not None:
            self._idle[SPARE, connector].append(worker)
        else:  # replaced or stopped meanwhile
            worker.kill()

    async def _new_worker(
        self, request: Framed | None, key: tuple[str, str], policy: ConnectorPolicy, zygote: ZygoteClient
    ) -> WorkerProcess:
        """Queue the request on a new socket, have the zygote fork the worker for it, and
        tell the worker to run it once it is in its cgroups, which bound the memory of all it
        starts: what the call may use, plus what a worker of that zygote may come to own
        without asking (``zygote_allowance``)."""
        limits = policy.limits
        allowance = self.cgroups.allowance(zygote.pid)
        cgroups = self.cgroups.acquire(limits.processes, limits.memory_bytes, allowance)

        def recycle(_: object = None) -> None:
            self._recycle(cgroups)

        def on_orphan(forked: Forked | None) -> None:
            # Cancelled during the spawn. A worker that was forked after all is already
            # killed; its cgroup is reused once it is reaped, never while it could join it.
            if forked is None:
                recycle()
            else:
                forked.exited.add_done_callback(recycle)

        order = Spawn(0, key[1], policy.limits, egress_allow=self.egress_allow)
        for attempt in (1, 2):
            spawning: list[bool] = []
            try:
                worker = await self._spawned_worker(request, key, order, zygote, cgroups, on_orphan, spawning)
            except ZygoteDiedError:
                # Its workers died with it and none was placed: the cgroups are free for a
                # new zygote, so a call queued while it died still runs.
                if attempt == 1:
                    continue
                recycle()
                raise ZygoteError("the zygote died twice in a row") from None
            except BaseException as exc:
                if not (spawning and isinstance(exc, asyncio.CancelledError)):
                    recycle()  # no worker exists; a cancelled spawn calls on_orphan instead
                raise
            worker.exited.add_done_callback(recycle)
            return worker
        raise AssertionError("unreachable")

    async def _spawned_worker(
        self,
        request: Framed | None,
        key: tuple[str, str],
        order: Spawn,
        zygote: ZygoteClient,
        cgroups: WorkerCgroups,
        on_orphan: OrphanHandler,
        spawning: list[bool],
    ) -> WorkerProcess:
        """One try: a new socket with the request queued on it, and a worker forked for it
        (``spawning`` once the zygote is asked). A try never reuses a socket of the one
        before: the zygote of that had it, and may have read the request off it."""
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        worker: WorkerProcess | None = None
        try:
            worker = opened = await WorkerProcess.open(ours, cgroups, key)
            if request is not None:  # else a spare: its call is sent once there is one
                worker.send(request)
            spawning.append(True)
            forked = await zygote.spawn(order, theirs, on_orphan, cgroups, lambda _: opened.placed())
        except BaseException:
            if worker is not None:
                worker.close()
            ours.close()
            theirs.close()
            raise
        worker.started(forked)
        return worker

    def _release(
        self, worker: WorkerProcess, isolation: Isolation, policy: ConnectorPolicy, reply: Reply
    ) -> Outcome:
        """Keep a pooled worker for the next call, or kill it; the call's outcome.

        The supervisor judges what is left, not the worker: a pooled worker is kept only if
        its cgroups hold no process but itself (a daemon that double-forked is no child of
        it, and a connector can make the worker report anything). The worker's report still
        counts (threads are no processes); without cgroups, it is all there is to go by.
        A call part of which the kernel killed for memory exceeded its limit, whatever the
        worker replied."""
        leaf = worker.cgroups
        exceeded = leaf.memory_exceeded()
        strays = isolation == "pooled" and not leaf.holds_only(worker.pid)
        if (
            isolation == "pooled"
            and reply.clean
            and worker.alive
            and not (exceeded or strays)
            and not _worn_out(worker, policy, reply)
        ):
            self._idle[worker.key].append(worker)
        else:
            # Its group goes too: nothing a call started may outlive the call.
            worker.kill()
            if exceeded or strays:
                leaf.kill()  # now, not once the worker is reaped: what left the group too
        return MemoryExceeded(leaf.memory_bytes or 0) if exceeded else reply.outcome

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
        """The worker closed its socket or broke the protocol before replying: say how it
        ended. Killed for memory, its leaf says so (read now: once the worker is reaped, the
        leaf goes to the next worker)."""
        worker.kill()
        exceeded = worker.cgroups.memory_exceeded(ask=True)
        limit = worker.cgroups.memory_bytes or 0
        if invocation_id in self._cancelled:
            self._cancelled.discard(invocation_id)
            return Cancelled()
        try:
            async with asyncio.timeout(EXIT_REPORT_WAIT):
                ended = await asyncio.shield(worker.exited)
        except TimeoutError:
            return Crashed()
        if exceeded:
            return MemoryExceeded(limit)
        if ended.signal == signal.SIGXCPU:
            return TimedOut(deadline)
        return Crashed(exit_code=ended.exit_code, signal=ended.signal)

    def _recycle(self, cgroups: WorkerCgroups) -> None:
        if self.cgroups.release(cgroups):
            return
        # Killed processes leave a cgroup asynchronously; look again shortly.
        asyncio.get_running_loop().call_later(0.02, self._recycle, cgroups)


#: What a call that needs no slot of a limiter takes (one for every call).
_NO_SLOT = contextlib.nullcontext()

#: The outcome of a call msgpack cannot carry to the worker.
UNCARRIABLE = Rejected("InvalidInput", "a number in the call is out of range (integers must fit in 64 bits)")


def _framed(request: Request) -> Framed | None:
    """``request`` encoded for its worker, or None if msgpack cannot carry it (an integer
    beyond 64 bits)."""
    try:
        return Framed.of(request)
    except OverflowError:
        return None


def _redacted(outcome: Outcome, redactor: Redactor, method: str, debug: bool) -> Outcome:
    """The outcome with every string bounded, then secrets masked wherever they appear. A
    worker's reply is not trusted: a success is checked again against the method's result
    type here (see replies.py), and a traceback not asked for is dropped."""
    return kept_outcome(outcome, redactor, method, debug=debug)


def preload(source: PluginSource) -> Preload:
    """What a zygote needs to import ``source``, with where its code lives and where
    connectord's own does (a worker imports some of it lazily)."""
    home = [source.home] if source.home else []
    places = sorted({*code_locations(source.target, home), *code_locations("connectord")})
    return Preload(source.name, source.origin, source.target, places, home)


def fingerprint(source: Preload) -> tuple[object, ...]:
    """What ``source`` is on disk: where it is installed from and the modification times of
    its code's places (a package's directory changes when pip replaces its files)."""
    times = []
    for place in source.code_paths:
        with contextlib.suppress(OSError):
            times.append(os.stat(place).st_mtime_ns)
    return (source.origin, source.target, tuple(source.code_paths), tuple(times))


def code_locations(target: str, path: list[str] | None = None) -> list[str]:
    """The directories of ``target``'s top-level package, and where links directly in them
    lead: found by the import system's finders (in ``path`` alone, when given), without
    running the package's code."""
    top = target.split(":")[0].split(".")[0]
    try:
        spec = importlib.machinery.PathFinder.find_spec(top, path) if path else importlib.util.find_spec(top)
    except (ImportError, ValueError):
        return []
    if spec is None:
        return []
    places = list(spec.submodule_search_locations or ([spec.origin] if spec.origin else []))
    found: list[str] = []
    for place in places:
        found.append(os.path.realpath(place))
        with contextlib.suppress(OSError):
            for entry in os.scandir(place):
                if entry.is_symlink():
                    found.append(os.path.realpath(entry.path))
    return sorted(set(found))


def merged_catalog(sources: list[PluginSource], described: list[Catalog]) -> Catalog:
    """One catalog of every connector's own description, in load order. A description is
    taken only for the id its source is installed as; an id taken already, or a job type
    code another connector offers already, makes a load failure of the later one."""
    connectors: dict[str, CatalogEntry] = {}
    errors: list[LoadError] = []
    first: dict[str, str] = {}
    for source, catalog in zip(sources, described, strict=True):
        if source.name in first:
            taken = f"id '{source.name}' is already taken by {first[source.name]}"
            errors.append(LoadError(source.name, source.origin, taken))
            continue
        first[source.name] = source.origin
        errors += [e for e in catalog.errors if e.name == source.name]
        entry = catalog.connectors.get(source.name)
        if source.refused:
            errors.append(LoadError(source.name, source.origin, source.refused))
        elif not source.target:
            errors.append(LoadError(source.name, source.origin, "it cannot be imported by name"))
        elif entry is not None:
            clash = job_type_clash(connectors, entry.info)
            if clash is None and (unsupported := unsupported_schemas(entry.info)) is not None:
                clash = f"invalid description: {unsupported}"  # its zygote's check ran beside its code
            if clash is None:
                connectors[source.name] = entry
            else:
                errors.append(LoadError(source.name, source.origin, clash))
    return Catalog(connectors=connectors, errors=errors)


def _raised(described: list[Catalog | BaseException]) -> list[Catalog]:
    """The descriptions, once all have ended; what raised raises here (every connector's
    unusable configuration in one message: an operator fixes them all at once)."""
    unusable = [str(e) for e in described if isinstance(e, SandboxUnavailableError)]
    if unusable:
        raise SandboxUnavailableError("; ".join(unusable))
    for outcome in described:
        if isinstance(outcome, BaseException):
            raise outcome
    return [outcome for outcome in described if isinstance(outcome, Catalog)]


def _syscall_filter(policy: ConnectorPolicy) -> bytes:
    """The compiled seccomp filter the policy asks for, or nothing."""
    if not policy.limits.seccomp:
        return b""
    try:
        return compiled_filter(policy.limits.network)
    except SeccompUnavailableError as exc:
        raise ZygoteError(str(exc)) from None


def _worn_out(worker: WorkerProcess, policy: ConnectorPolicy, reply: Reply) -> bool:
    # The worker's own peak: what it once grew to, it mostly keeps (freed memory seldom
    # goes back to the system). Reported by the worker, like ``clean``: a connector that lies
    # keeps only its own tenant's worker, whose memory RLIMIT_AS bounds all the same.
    return worker.calls >= policy.max_calls_per_worker or reply.peak_rss_bytes > policy.max_rss_bytes


__all__ = ["Exit", "InvocationResult", "Reloaded", "Supervisor"]
