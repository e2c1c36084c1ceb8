"""Prometheus metrics of one application, in a registry of its own (tests build many
applications in one process; nothing goes to prometheus-client's global registry).

The hot paths only increment counters and observe histograms (prometheus-client's own
per-metric lock); what costs more (queue depth, sandbox slots, zygote restarts, workers
killed) is read when ``/metrics`` is scraped. No label holds a tenant id unless
``tenant_labels`` is set, and none ever holds a secret: connector ids, hook names, job
types and outcome kinds only. The API adds the metrics of its requests (api/observe.py)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from connectord.runtime.store.records import StoreUnavailableError

#: Seconds: a design-time call takes milliseconds to seconds, a job up to its deadline.
DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300)
#: Seconds a scheduled job started after its slot.
LAG_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300)
#: Seconds a store call took, queueing for its thread included.
STORE_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5)


class Metrics:
    """The metrics the services record into; ``registry`` is what ``/metrics`` exposes."""

    def __init__(self, tenant_labels: bool = False) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self._children: dict[tuple[int, tuple[str, ...]], Any] = {}
        self.tenant_labels = tenant_labels
        tenant = ("tenant",) if tenant_labels else ()
        r = self.registry
        self.executions = Counter(
            "connectord_executions",
            "Executions finished, by connector, kind (execution_type) and outcome",
            ("connector", "kind", "outcome", *tenant),
            registry=r,
        )
        self.execution_seconds = Histogram(
            "connectord_execution_duration_seconds",
            "How long an execution ran, from its claim to its outcome",
            ("connector", "kind"),
            buckets=DURATION_BUCKETS,
            registry=r,
        )
        self.job_runs = Counter(
            "connectord_job_runs",
            "Job runs ended or recorded without running (MISSED, SKIPPED), and retries, by status",
            ("status", "job_type", *tenant),
            registry=r,
        )
        self.job_seconds = Histogram(
            "connectord_job_duration_seconds",
            "How long a job attempt ran",
            ("job_type",),
            buckets=DURATION_BUCKETS,
            registry=r,
        )
        self.fire_lag = Histogram(
            "connectord_job_fire_lag_seconds",
            "How late a scheduled job's first attempt started after its slot",
            buckets=LAG_BUCKETS,
            registry=r,
        )
        self.webhooks = Counter(
            "connectord_webhook_deliveries",
            "Job webhook deliveries, by event and outcome (delivered, failed)",
            ("event", "outcome"),
            registry=r,
        )
        self.store_seconds = Histogram(
            "connectord_store_call_duration_seconds",
            "How long a store call took, waiting for the store's thread included, by operation",
            ("operation",),
            buckets=STORE_BUCKETS,
            registry=r,
        )
        self.store_errors = Counter(
            "connectord_store_errors",
            "Store calls that failed because the store was unavailable, by operation",
            ("operation",),
            registry=r,
        )
        self.queue_depth = Gauge(
            "connectord_queue_depth",
            "Work waiting in the store: queued executions, jobs due and waiting (read at scrape)",
            ("queue",),
            registry=r,
        )

    def child(self, metric: Any, *values: str) -> Any:
        """``metric.labels(*values)``, looked up once: prometheus-client checks the labels
        and takes a lock on every ``labels`` call, three times the cost of the increment."""
        key = (id(metric), values)
        found = self._children.get(key)
        if found is None:
            found = self._children[key] = metric.labels(*values)
        return found

    def tenant(self, tenant_id: str) -> tuple[str, ...]:
        """The tenant label's value, when tenant labels are asked for; else nothing."""
        return (tenant_id,) if self.tenant_labels else ()

    def watch_sandbox(self, supervisor: Any) -> None:
        """Expose the supervisor's slots, zygote restarts and killed workers (read at scrape)."""
        self.registry.register(SandboxCollector(supervisor))


class SandboxCollector(Collector):
    """What the sandbox supervisor counts itself, read only when scraped."""

    def __init__(self, supervisor: Any) -> None:
        self.supervisor = supervisor

    def collect(self) -> Iterator[Any]:
        limiter = getattr(self.supervisor, "limiter", None)
        busy = GaugeMetricFamily("connectord_sandbox_slots_busy", "Sandbox slots running a call now")
        waiting = GaugeMetricFamily("connectord_sandbox_calls_waiting", "Calls waiting for a sandbox slot")
        if limiter is not None:
            busy.add_metric([], limiter.in_use)
            waiting.add_metric([], limiter.queued)
        yield busy
        yield waiting
        restarts = CounterMetricFamily(
            "connectord_zygote_restarts",
            "Zygotes lost while running (died, broke the protocol): each starts again at the next call",
            labels=["connector"],
        )
        for zygote in getattr(self.supervisor, "zygotes", []):
            restarts.add_metric([zygote.source.name], zygote.restarts)
        yield restarts
        killed = CounterMetricFamily(
            "connectord_workers_killed",
            "Workers killed at their deadline (timed_out) or for memory (memory_exceeded)",
            labels=["connector", "reason"],
        )
        for (connector, reason), count in sorted(getattr(self.supervisor, "kills", {}).items()):
            killed.add_metric([connector, reason], count)
        yield killed


class TimedRunner:
    """A StoreRunner that records how long each call took (and which failed)."""

    def __init__(self, inner: Any, metrics: Metrics) -> None:
        self._inner = inner
        self._metrics = metrics
        if isinstance(getattr(inner, "turns", None), int):
            metrics.registry.register(TransactionsCollector(inner))

    async def __call__(self, method: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        name = getattr(method, "__name__", "call")
        started = time.perf_counter()
        try:
            return await self._inner(method, *args, **kwargs)
        except StoreUnavailableError:
            self._metrics.child(self._metrics.store_errors, name).inc()
            raise
        finally:
            self._metrics.child(self._metrics.store_seconds, name).observe(time.perf_counter() - started)

    def close(self) -> None:
        self._inner.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


class TransactionsCollector(Collector):
    """Transactions a group-committing store runner committed (SQLite: several store calls
    can share one), counted by the runner as it goes and read only when scraped."""

    def __init__(self, runner: Any) -> None:
        self.runner = runner

    def collect(self) -> Iterator[Any]:
        yield CounterMetricFamily(
            "connectord_store_transactions",
            "Store transactions committed (a group commit of several store calls counts once)",
            value=self.runner.turns,
        )
