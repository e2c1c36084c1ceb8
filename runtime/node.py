"""The composition root: one connectord node, built from its settings in one place.

A :class:`Node` holds the services the API serves (executions, jobs, accounts) and
everything behind them: the store and the thread that runs its calls, the secret box, the
sandbox supervisor, the clock, the metrics, the two dispatchers, the scheduler, the event
routing between nodes and the lease keeper. Built, it runs nothing; ``async with node:``
starts the connectors and every background loop, and stops them in order on the way out
(what runs is given back to run again, then the connectors, then the store are closed).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
from collections.abc import Callable
from types import TracebackType
from typing import Any, Protocol, cast

from connectord.plugins.manager import Catalog
from connectord.runtime.accounts import Accounts
from connectord.runtime.cluster import Member, default_node_id
from connectord.runtime.config import Settings
from connectord.runtime.dbclock import DatabaseClock
from connectord.runtime.dispatch import Dispatcher
from connectord.runtime.event_routing import EventRouter
from connectord.runtime.executions.local import LocalExecutions
from connectord.runtime.executions.service import Executions
from connectord.runtime.executions.settings import ExecutionSettings
from connectord.runtime.executions.work import ExecutionWork
from connectord.runtime.jobs.service import Jobs
from connectord.runtime.jobs.settings import JobSettings
from connectord.runtime.jobs.webhooks import WebhookSender
from connectord.runtime.jobs.work import JobWork
from connectord.runtime.leases import LeaseKeeper
from connectord.runtime.metrics import Metrics, TimedRunner
from connectord.runtime.parts import Parts
from connectord.runtime.principals import Principals
from connectord.runtime.reload import reload_connectors
from connectord.runtime.secrets import SecretBox
from connectord.runtime.store import Store
from connectord.runtime.store.records import StoreUnavailableError
from connectord.runtime.store.runner import StoreRunner, store_runner, until_available
from connectord.runtime.waiters import Waiters
from connectord.sandbox.policy import SandboxPolicy
from connectord.sandbox.supervisor import Reloaded, Supervisor

log = logging.getLogger(__name__)


class Connectors(Protocol):
    """Where a node learns which connectors exist: the sandbox supervisor in a server (its
    zygotes loaded them; this process never imports connector code). Anything with a
    catalog does for a node that only describes them: it runs nothing."""

    @property
    def catalog(self) -> Catalog: ...

    async def start(self) -> None: ...

    async def close(self) -> None: ...


class Node:
    def __init__(
        self,
        settings: Settings,
        connectors: Connectors,
        store: Store,
        box: SecretBox,
        clock: Callable[[], float] | None = None,
        webhooks: WebhookSender | None = None,
        run: StoreRunner | None = None,
    ) -> None:
        """A node serving ``connectors`` on ``store``, which it owns from now on (it closes
        it). The clock defaults to this machine's on a store of one node, else to the
        store's (``DatabaseClock``). ``webhooks`` delivers those of job definitions (none:
        they are not sent). ``run`` runs the store's calls off the event loop (default:
        group commit on SQLite, a thread per pooled connection on PostgreSQL)."""
        self.settings, self.connectors, self.store, self.box = settings, connectors, store, box
        self.clock = clock if clock is not None else time.time if store.single_node else DatabaseClock()
        self.member = Member(settings.node_id or default_node_id(), settings.lease_seconds)
        self.metrics = Metrics(settings.metrics_tenant_labels)
        #: Whether it runs calls (a supervisor), or only describes connectors (a catalog).
        self.runs_calls = hasattr(connectors, "invoke")
        if self.runs_calls:  # its slots, zygotes and kills
            self.metrics.watch_sandbox(connectors)
        timed = TimedRunner(run if run is not None else store_runner(store), self.metrics)
        self.run: StoreRunner = cast(StoreRunner, timed)
        self.webhooks = webhooks
        self._build_services(cast(Supervisor, connectors))
        self._stack: contextlib.AsyncExitStack | None = None

    def _build_services(self, supervisor: Supervisor) -> None:
        settings, member, clock = self.settings, self.member, self.clock
        parts = Parts(self.store, self.run, self.box, supervisor, clock, self.metrics)
        executions = ExecutionSettings(retention=settings.result_retention)
        jobs = JobSettings(adhoc_retention=settings.job_retention, max_wait=settings.max_poll_wait)
        cancel = supervisor.cancel if self.runs_calls else lambda key: False
        execution_ends, job_ends = Waiters(), Waiters()
        local_executions = LocalExecutions()
        self.execution_dispatcher = Dispatcher(
            ExecutionWork(parts, executions, execution_ends, local_executions),
            member,
            clock,
            cancel,
            executions.max_running,
            execution_ends,
        )
        self.job_dispatcher = Dispatcher(
            JobWork(parts, jobs, job_ends, self.webhooks), member, clock, cancel, jobs.max_running, job_ends
        )
        self.executions = Executions(parts, executions, self.execution_dispatcher, local_executions)
        self.jobs = Jobs(parts, jobs, self.job_dispatcher)
        self.accounts = Accounts(self.store, self.run, self.box, lambda: self.connectors.catalog, clock)
        self.principals = Principals(self.store, self.run, settings.key_cache_seconds)
        self.router = EventRouter(
            self.execution_dispatcher, self.job_dispatcher, self.jobs.scheduler, self.principals.forget_all
        )

    @classmethod
    def open(cls, settings: Settings, policy: SandboxPolicy, webhooks: WebhookSender | None = None) -> Node:
        """The node ``connectord serve`` runs: the store the settings name (created or
        migrated), the secret key (checked against the store), and a sandbox supervisor
        with ``policy`` (ZygoteError when the sandbox cannot start)."""
        from connectord.runtime.key_check import check_secret_key
        from connectord.runtime.secrets import load_secret_box
        from connectord.runtime.store import open_store, prepare_data_dir
        from connectord.sandbox.cgroups import Cgroups
        from connectord.sandbox.user_ids import RECORD_FILE
        from connectord.sandbox.zygote_client import connectors_on_pythonpath

        store = open_store(settings)
        try:
            box = load_secret_box(prepare_data_dir(settings.data_dir), settings.secret_key)
            check_secret_key(store, box)
            cgroups = Cgroups.detect()
            supervisor = Supervisor(
                settings.connectors,
                policy,
                cgroups,
                settings.egress_allow,
                user_id_record=settings.data_dir / RECORD_FILE,
            )
        except BaseException:
            store.close()
            raise
        log.info(supervisor.host.describe(supervisor.policy, cgroups.describe()))
        if shared := connectors_on_pythonpath():
            log.warning(
                "connectors installed on PYTHONPATH (%s): every connector's zygote imports from there, "
                "and this server imports any module there; give each connector a directory of its own "
                "(connectord connectors install SPEC --into DIR) named in CONNECTORD_CONNECTOR_PATH",
                ", ".join(shared),
            )
        return cls(settings, supervisor, store, box, webhooks=webhooks)

    async def reload(self) -> Reloaded:
        """Take in connectors installed, upgraded or removed since (runtime/reload.py)."""
        return await reload_connectors(self.connectors, self.jobs)

    # -- running ----------------------------------------------------------------------

    async def __aenter__(self) -> Node:
        stack = contextlib.AsyncExitStack()
        try:
            stack.callback(self._close_store)
            await self.connectors.start()
            stack.push_async_callback(self.connectors.close)
            if self._reload_on_sighup():
                stack.callback(asyncio.get_running_loop().remove_signal_handler, signal.SIGHUP)
            if self.runs_calls:
                await self._start_work(stack)
        except BaseException:
            await stack.aclose()
            raise
        self._stack = stack
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        stack, self._stack = self._stack, None
        if stack is not None:
            await stack.aclose()

    def _close_store(self) -> None:
        self.run.close()
        self.store.close()

    async def _start_work(self, stack: contextlib.AsyncExitStack) -> None:
        """Start the background loops; ``stack`` stops them, last started first."""
        if isinstance(self.clock, DatabaseClock):
            clock = self.clock
            await until_available(lambda: self.run(clock.sync, self.store), "read the store's clock")
        binding = await self._bind_job_types()
        if binding is not None:
            stack.push_async_callback(_cancel, [binding])
        sealed = await until_available(self.jobs.seal_plain_webhooks, "seal stored webhook URLs")
        if sealed:
            log.info("sealed the webhook URLs of %d job definitions", sealed)
        # Stopped last: what still runs is given back once nothing claims any more.
        stack.push_async_callback(self._give_back)
        stack.push_async_callback(self.router.close)
        loop = asyncio.get_running_loop()
        stop_listening = await asyncio.to_thread(
            self.store.listen, lambda payload: _call_soon(loop, self.router, payload)
        )
        lease_runner = StoreRunner()  # renewals never wait behind requests for the store
        leases = LeaseKeeper(
            self.store, lease_runner, self.clock, self.member, self.execution_dispatcher, self.job_dispatcher
        )
        loops = [
            leases.forever(),
            self.execution_dispatcher.forever(),
            self.execution_dispatcher.purge_forever(),
            self.job_dispatcher.forever(),
            self.jobs.scheduler.run_forever(),
            self.job_dispatcher.purge_forever(),
        ]
        if isinstance(self.clock, DatabaseClock):
            loops.append(self.clock.sync_forever(self.store, self.run))
        tasks: list[asyncio.Future[Any]] = [asyncio.ensure_future(each) for each in loops]
        stack.push_async_callback(_stop_loops, stop_listening, tasks, lease_runner)

    async def _give_back(self) -> None:
        await self.execution_dispatcher.close()
        await self.job_dispatcher.close()
        if self.webhooks is not None:
            await self.webhooks.close()

    async def _bind_job_types(self) -> asyncio.Future[int] | None:
        """Bind rows stored before connectors were recorded, before anything runs or fires
        them; with the store unavailable (or read-only), keep trying in the background rather
        than not start: until then their jobs run where their type's owner is now, which the
        binding would pick too (this server's catalog does not change)."""
        try:
            await self.jobs.bind_job_types()
        except StoreUnavailableError as exc:
            log.warning("cannot bind job definitions to their connectors yet: %s", exc)
            return asyncio.ensure_future(
                until_available(self.jobs.bind_job_types, "bind job definitions to their connectors")
            )
        return None

    def _reload_on_sighup(self) -> bool:
        """SIGHUP reloads the connectors (where the supervisor can and signals reach this loop)."""
        if not hasattr(self.connectors, "reload"):
            return False
        tasks: set[asyncio.Task[None]] = set()

        def reload() -> None:
            task = asyncio.ensure_future(self._logged_reload())
            tasks.add(task)
            task.add_done_callback(tasks.discard)

        try:
            asyncio.get_running_loop().add_signal_handler(signal.SIGHUP, reload)
        except (NotImplementedError, RuntimeError, ValueError):  # not the main thread
            return False
        return True

    async def _logged_reload(self) -> None:
        try:
            await self.reload()
        except Exception:  # the server goes on with the catalog it had
            log.exception("cannot reload the connectors")


async def _stop_loops(
    stop_listening: Callable[[], None], tasks: list[asyncio.Future[Any]], lease_runner: StoreRunner
) -> None:
    await asyncio.to_thread(stop_listening)  # joins its thread: not on the loop
    await _cancel(tasks)
    await asyncio.to_thread(lease_runner.close)  # a renewal may still be connecting


async def _cancel(tasks: list[asyncio.Future[Any]]) -> None:
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


def _call_soon(loop: asyncio.AbstractEventLoop, router: EventRouter, payload: str) -> None:
    """Hand an event from the store's listening thread to the event loop."""
    with contextlib.suppress(RuntimeError):  # the loop closed while the event was on its way
        loop.call_soon_threadsafe(router, payload)
