"""The aiohttp application factory and the blocking ``serve`` entry."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

from aiohttp import web
from aiohttp.web_runner import GracefulExit

from connectord.api import console
from connectord.api.auth import auth_middleware
from connectord.api.errors import error_middleware
from connectord.api.http_log import HandlerLogger
from connectord.api.keys import (
    ACCOUNTS,
    CLOCK,
    CONNECTORS,
    EXECUTIONS,
    JOBS,
    METRICS,
    NODE,
    SECRET_BOX,
    SETTINGS,
    STORE,
    STORE_RUNNER,
    Connectors,
)
from connectord.api.observe import observe_middleware, tenant_middleware
from connectord.api.routes import ROUTES
from connectord.plugins.egress_policy import EgressPolicy
from connectord.runtime.accounts import Accounts
from connectord.runtime.cluster import Node, default_node_id
from connectord.runtime.config import Settings
from connectord.runtime.dbclock import DatabaseClock
from connectord.runtime.event_routing import EventRouter
from connectord.runtime.executions.service import Executions, ExecutionSettings
from connectord.runtime.jobs.notify import Notifier
from connectord.runtime.jobs.service import Jobs
from connectord.runtime.jobs.settings import JobSettings
from connectord.runtime.leases import LeaseKeeper
from connectord.runtime.metrics import Metrics, TimedRunner
from connectord.runtime.reload import reload_connectors
from connectord.runtime.secrets import SecretBox
from connectord.runtime.store import Store
from connectord.runtime.store.records import StoreUnavailableError
from connectord.runtime.store.runner import StoreRunner, store_runner, until_available

log = logging.getLogger(__name__)


def create_app(
    settings: Settings,
    connectors: Connectors,
    store: Store,
    box: SecretBox,
    clock: Callable[[], float] | None = None,
) -> web.Application:
    """An application serving ``connectors`` on ``store``; they start and stop with it.

    ``connectors`` is the sandbox supervisor in a server (executions need it); anything
    with a catalog does for the component endpoints alone. The clock defaults to this
    machine's with a single-node store, else to the store's (``DatabaseClock``)."""
    if clock is None:
        clock = time.time if store.single_node else DatabaseClock()
    node = Node(settings.node_id or default_node_id(), settings.lease_seconds)
    app = web.Application(
        middlewares=[
            observe_middleware,
            error_middleware,
            console.console_middleware,
            auth_middleware,
            tenant_middleware,
        ],
        client_max_size=settings.max_body_bytes,
        # read_body decodes Content-Encoding itself; malformed HTTP is one warning line
        handler_args={"auto_decompress": False, "logger": HandlerLogger()},
    )
    metrics = Metrics(settings.metrics_tenant_labels)
    if hasattr(connectors, "invoke"):  # a supervisor: its slots, zygotes and kills
        metrics.watch_sandbox(connectors)
    app[METRICS] = metrics
    app[SETTINGS] = settings
    app[CONNECTORS] = connectors
    app[STORE] = store
    app[SECRET_BOX] = box
    # misc: a TimedRunner wraps a StoreRunner and is called like one, but is none (no common
    # type for runners yet: that comes with the store's rewrite).
    app[STORE_RUNNER] = TimedRunner(store_runner(store), metrics)  # type: ignore[misc]
    app[NODE] = node
    app[CLOCK] = clock
    app[EXECUTIONS] = Executions(
        store,
        app[STORE_RUNNER],
        box,
        connectors,  # type: ignore[arg-type]
        clock,
        ExecutionSettings(retention=settings.result_retention),
        node,
        metrics,
    )
    app[JOBS] = Jobs(
        store,
        app[STORE_RUNNER],
        box,
        connectors,  # type: ignore[arg-type]
        clock,
        JobSettings(adhoc_retention=settings.job_retention, max_wait=settings.max_poll_wait),
        notifier=Notifier(EgressPolicy.parse(settings.egress_allow), metrics=metrics),
        node=node,
        metrics=metrics,
    )
    app[ACCOUNTS] = Accounts(store, app[STORE_RUNNER], box, lambda: connectors.catalog, clock)
    app.add_routes(ROUTES)
    console.install(app)
    app.cleanup_ctx.append(_store_context)
    app.cleanup_ctx.append(_connectors_context)
    app.cleanup_ctx.append(_dispatcher_context)
    return app


async def _store_context(app: web.Application) -> AsyncIterator[None]:
    yield
    app[STORE_RUNNER].close()
    app[STORE].close()


async def _connectors_context(app: web.Application) -> AsyncIterator[None]:
    await app[CONNECTORS].start()
    hangup = _reload_on_sighup(app)
    yield
    if hangup:
        asyncio.get_running_loop().remove_signal_handler(signal.SIGHUP)
    await app[CONNECTORS].close()


def _reload_on_sighup(app: web.Application) -> bool:
    """SIGHUP reloads the connectors (where the supervisor can and signals reach this loop)."""
    if not hasattr(app[CONNECTORS], "reload"):
        return False
    tasks: set[asyncio.Task[object]] = set()

    def reload() -> None:
        task = asyncio.ensure_future(_logged_reload(app))
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    try:
        asyncio.get_running_loop().add_signal_handler(signal.SIGHUP, reload)
    except (NotImplementedError, RuntimeError, ValueError):  # not the main thread
        return False
    return True


async def _logged_reload(app: web.Application) -> None:
    try:
        await reload_connectors(app[CONNECTORS], app[JOBS])
    except Exception:  # the server goes on with the catalog it had
        log.exception("cannot reload the connectors")


async def _dispatcher_context(app: web.Application) -> AsyncIterator[None]:
    if not hasattr(app[CONNECTORS], "invoke"):  # a catalog only: nothing to execute with
        yield
        return
    store, run, clock = app[STORE], app[STORE_RUNNER], app[CLOCK]
    if isinstance(clock, DatabaseClock):
        await until_available(lambda: run(clock.sync, store), "read the store's clock")
    binding = await _bind_job_types(app[JOBS])
    sealed = await until_available(app[JOBS].seal_plain_webhooks, "seal stored webhook URLs")
    if sealed:
        logging.getLogger(__name__).info("sealed the webhook URLs of %d job definitions", sealed)
    router = EventRouter(app[EXECUTIONS], app[JOBS])
    loop = asyncio.get_running_loop()
    stop_listening = await asyncio.to_thread(store.listen, lambda payload: _call_soon(loop, router, payload))
    lease_runner = StoreRunner()  # renewals never wait behind requests for the store
    leases = LeaseKeeper(store, lease_runner, clock, app[NODE], app[EXECUTIONS], app[JOBS].runner)
    tasks: list[asyncio.Future[Any]] = [
        asyncio.ensure_future(leases.forever()),
        asyncio.ensure_future(app[EXECUTIONS].dispatch_forever()),
        asyncio.ensure_future(app[EXECUTIONS].purge_forever()),
        asyncio.ensure_future(app[JOBS].dispatch_forever()),
        asyncio.ensure_future(app[JOBS].scheduler_forever()),
        asyncio.ensure_future(app[JOBS].purge_forever()),
    ]
    if isinstance(clock, DatabaseClock):
        tasks.append(asyncio.ensure_future(clock.sync_forever(store, run)))
    if binding is not None:
        tasks.append(binding)
    yield
    await asyncio.to_thread(stop_listening)  # joins its thread: not on the loop
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    await asyncio.to_thread(lease_runner.close)  # a renewal may still be connecting
    await router.close()
    await app[EXECUTIONS].close()
    await app[JOBS].close()


async def _bind_job_types(jobs: Jobs) -> asyncio.Future[int] | None:
    """Bind rows stored before connectors were recorded, before anything runs or fires
    them; with the store unavailable (or read-only), keep trying in the background rather
    than not start: until then their jobs run where their type's owner is now, which the
    binding would pick too (this server's catalog does not change)."""
    try:
        await jobs.bind_job_types()
    except StoreUnavailableError as exc:
        log.warning("cannot bind job definitions to their connectors yet: %s", exc)
        return asyncio.ensure_future(
            until_available(jobs.bind_job_types, "bind job definitions to their connectors")
        )
    return None


def _call_soon(loop: asyncio.AbstractEventLoop, router: EventRouter, payload: str) -> None:
    """Hand an event from the store's listening thread to the event loop."""
    with contextlib.suppress(RuntimeError):  # the loop closed while the event was on its way
        loop.call_soon_threadsafe(router, payload)


def serve(app: web.Application, settings: Settings, ready: Callable[[str], None]) -> None:
    """Run until SIGINT or SIGTERM. ``ready`` gets the base URL once the socket listens
    (with port 0, the port the system chose). The access log is ours (api/observe.py),
    with route patterns and request ids: aiohttp's own is off."""
    with contextlib.suppress(GracefulExit, KeyboardInterrupt):
        asyncio.run(_serve(app, settings.host, settings.port, ready))


async def _serve(app: web.Application, host: str, port: int, ready: Callable[[str], None]) -> None:
    runner = web.AppRunner(app, handle_signals=True, access_log=None)
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port)
        await site.start()
        bound_host, bound_port = runner.addresses[0][:2]
        shown = f"[{bound_host}]" if ":" in bound_host else bound_host
        ready(f"http://{shown}:{bound_port}")
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()
