"""Benchmark: connectord beside the task queues a user would run instead, the same trivial
task on each, measured in one run.

    pip install -e '.[bench]'      # Celery, RQ (and py-spy for bench/server_profile.py)
    python bench/peers.py [--tasks 2000] [--round-trips 200] [--rounds 3] [--pg-tasks 500]
                          [--rq-tasks N]

Systems: Celery prefork + Redis (``--concurrency`` = cores, results in Redis), RQ with one
fork-per-job worker per core, and a real ``connectord serve`` (SQLite store in a temporary
data directory, its default INFO log and access log, to /dev/null) with a no-op connector
run ``per-call`` and one run ``pooled``. Redis must be running (``--redis``); its database
7 is used and emptied of this benchmark's keys.

Celery as measured above (its defaults) may lose what it accepted: a task is acknowledged
when a worker takes it, and this Redis keeps no append-only file. connectord answers 202
once the execution is committed and synced, and runs it again if its node dies. So Celery
also runs set up to lose nothing ("Celery durable"): ``task_acks_late`` and
``task_reject_on_worker_lost``, with a Redis of the benchmark's own (``redis-server`` on the
PATH, in the file system of connectord's store) keeping an append-only file, once synced
every second (``everysec``: nothing lost when a process is killed) and once before every
answer (``always``: what was accepted survives a power cut, as with connectord; Redis then
also syncs the results and acknowledgements, which connectord writes without a sync of
their own).

Each round, for every system (in an order that rotates round by round):

- **batch**: one client enqueues ``--tasks`` tasks one call at a time (connectord:
  ``POST /v1/exec/schedule``, 202), then collects every result (connectord: long poll
  ``?wait=30``, 303, the result once: three HTTP requests per execution). tasks/s is
  tasks over the whole batch, enqueue/s over the enqueueing alone;
- **CPU per task** during the batch, read from ``/proc``: every process of the system
  (connectord: the server's own time, then its zygotes and workers, live or reaped; Celery:
  the main process and its pool; RQ: the workers and their work horses), the broker
  (Redis' process; connectord has none: its store is in the server), and the client (this
  process) separately. "total" is service + broker, without the client;
- **round trips**: ``--round-trips`` sequential schedule → result, one at a time: on an
  otherwise idle server this is the design-time latency a user sees (p50, p95);
  connectord also with ``Prefer: wait=30`` on schedule (the result in its answer: one
  request instead of three, ``inline_p50_ms``);
- the **floor** of the contract: seed 001's three requests answered by a bare aiohttp server
  with nothing behind them (bench/_contract_floor.py: no authentication, store, sandbox,
  logs or metrics), the same client: what any Python server speaking the contract could do
  here, and so how far the targets against Celery are within reach;
- connectord only: the **first call** of a connector whose zygote is not running yet (a
  connector of its own per round, per-call and pooled), and of a ``warm`` one (per-call,
  its zygote and a worker started with the server), and **store calls and
  transactions per execution** during the batch, from ``/metrics`` (store calls by
  operation; SQLite transactions, group commit counted once), and the server's mean time
  per request in each route's handler and per store operation (queue, run, commit);
- **where the batch's time goes**: enqueue ms and collect ms per task, and the share of the
  cores left idle during the batch. One client waits for each answer before its next
  request: where the cores stay idle, the sum of the waits bounds tasks/s, not the CPU.

Then once, on PostgreSQL (``--pg-dsn``, a database created and dropped): a pooled batch of
``--pg-tasks`` with store calls from ``/metrics`` and ``xact_commit`` of
``pg_stat_database`` (an independent count: every transaction the server's connections
committed, reads included; read after the server stopped, when its backends have flushed
their counts; the background loops' few transactions in the window are included).

Medians of the rounds; ratios against Celery prefork and RQ; the last line is one JSON
object. The machine may be loaded by other work: the spread of the rounds is printed.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import importlib
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

HERE = Path(__file__).resolve().parent
CLOCK_TICK = os.sysconf("SC_CLK_TCK")
COUNT_LINE = re.compile(r'^connectord_store_call_duration_seconds_count\{operation="(\w+)"\} (\S+)$', re.M)
TRANSACTIONS_LINE = re.compile(r"^connectord_store_transactions_total (\S+)$", re.M)
#: Seconds the server spent, summed, per store operation and per HTTP route (and their counts).
SECONDS_LINE = re.compile(
    r"^connectord_(store_call|http_request)_duration_seconds_(sum|count)"
    r'\{(?:operation|route)="([^"]+)"\} (\S+)$',
    re.M,
)


# -- CPU from /proc -------------------------------------------------------------------


def _proc_table() -> dict[int, tuple[int, float, float]]:
    """pid → (parent pid, own CPU seconds, reaped children's CPU seconds)."""
    table = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        own = (int(fields[11]) + int(fields[12])) / CLOCK_TICK
        reaped = (int(fields[13]) + int(fields[14])) / CLOCK_TICK
        table[int(entry.name)] = (int(fields[1]), own, reaped)
    return table


def tree_cpu(roots: list[int]) -> tuple[float, float]:
    """CPU seconds so far of ``roots`` themselves, and of all their descendants (alive, or
    reaped by a process of the tree: counted in its parent's children's time)."""
    table = _proc_table()
    children: dict[int, list[int]] = {}
    for pid, (parent, _, _) in table.items():
        children.setdefault(parent, []).append(pid)
    own = rest = 0.0
    for root in roots:
        if root not in table:
            continue
        own += table[root][1]
        rest += table[root][2]
        todo = list(children.get(root, []))
        while todo:
            pid = todo.pop()
            rest += table[pid][1] + table[pid][2]
            todo += children.get(pid, [])
    return own, rest


def process_cpu(pid: int | None) -> float:
    if pid is None:
        return 0.0
    return tree_cpu([pid])[0]


def idle_seconds() -> float:
    """Seconds all cores together have been idle (idle + iowait in /proc/stat) since boot."""
    with open("/proc/stat") as stat:
        fields = stat.readline().split()
    return (int(fields[4]) + int(fields[5])) / CLOCK_TICK


def client_cpu() -> float:
    times = os.times()
    return times.user + times.system


# -- the systems ------------------------------------------------------------------------


@dataclass
class Batch:
    tasks: int
    wall: float
    enqueue_per_s: float
    service_cpu: float
    helpers_cpu: float  # connectord: zygotes and workers; Celery/RQ: pool children, horses
    broker_cpu: float
    client_cpu: float
    idle: float  # seconds all cores were idle during the batch
    extra: dict[str, Any] = field(default_factory=dict)

    def figures(self) -> dict[str, float]:
        per_ms = 1000 / self.tasks
        service = self.service_cpu + self.helpers_cpu
        return {
            "per_s": self.tasks / self.wall,
            "enqueue_per_s": self.enqueue_per_s,
            "collect_ms": (self.wall - self.tasks / self.enqueue_per_s) * per_ms,
            "idle_share": self.idle / (self.wall * (os.cpu_count() or 1)),
            "cpu_ms": (service + self.broker_cpu) * per_ms,
            "service_ms": service * per_ms,
            "main_ms": self.service_cpu * per_ms,
            "helpers_ms": self.helpers_cpu * per_ms,
            "broker_ms": self.broker_cpu * per_ms,
            "client_ms": self.client_cpu * per_ms,
            **self.extra,
        }


class System:
    name = ""
    broker_pid: int | None = None

    def roots(self) -> list[int]:
        raise NotImplementedError

    def enqueue(self) -> Any:
        raise NotImplementedError

    def collect(self, handle: Any) -> None:
        raise NotImplementedError

    def counters(self) -> dict[str, float]:
        return {}

    def batch(self, tasks: int) -> Batch:
        before = (tree_cpu(self.roots()), process_cpu(self.broker_pid), client_cpu(), self.counters())
        idle = idle_seconds()
        started = time.perf_counter()
        handles = [self.enqueue() for _ in range(tasks)]
        enqueued = time.perf_counter() - started
        for handle in handles:
            self.collect(handle)
        wall = time.perf_counter() - started
        idle = idle_seconds() - idle
        (main, helpers), broker, client = tree_cpu(self.roots()), process_cpu(self.broker_pid), client_cpu()
        return Batch(
            tasks,
            wall,
            tasks / enqueued,
            main - before[0][0],
            helpers - before[0][1],
            broker - before[1],
            client - before[2],
            idle,
            per_execution(before[3], self.counters(), tasks),
        )

    def round_trips(self, count: int) -> list[float]:
        latencies = []
        for _ in range(count):
            started = time.perf_counter()
            self.collect(self.enqueue())
            latencies.append((time.perf_counter() - started) * 1000)
        return latencies

    def close(self) -> None:
        pass


def per_execution(before: dict[str, float], after: dict[str, float], tasks: int) -> dict[str, Any]:
    """Counter deltas per task ("store.<operation>" summed into store_calls, "transactions")."""
    if not after:
        return {}
    delta = {name: after.get(name, 0.0) - before.get(name, 0.0) for name in after}
    delta["store.queue_depth"] = max(0.0, delta.get("store.queue_depth", 0.0) - 1)  # the scrape's own
    operations = {
        k.removeprefix("store."): round(v / tasks, 2)
        for k, v in delta.items()
        if k.startswith("store.") and round(v / tasks, 2)
    }
    figures: dict[str, Any] = {
        "store_calls": round(sum(operations.values()), 2),
        "store_operations": operations,
    }
    if "transactions" in delta:
        figures["transactions"] = round(delta["transactions"] / tasks, 2)
    figures["server_ms"] = {
        name.removeprefix("sum."): round(1000 * seconds / delta[f"count.{name[4:]}"], 3)
        for name, seconds in delta.items()
        if name.startswith("sum.") and delta.get(f"count.{name[4:]}", 0) >= tasks / 2
    }
    return figures


def _wait_for(predicate: Callable[[], bool], what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise SystemExit(f"{what} did not start within {timeout:g} s")
        time.sleep(0.1)


class CeleryPrefork(System):
    name = "Celery prefork + Redis"

    def __init__(self, env: dict[str, str], broker_pid: int | None, concurrency: int) -> None:
        import _peer_tasks

        self.task = self._task(_peer_tasks)
        self.broker_pid = broker_pid
        command = [sys.executable, "-m", "celery", "-A", self._app(), "worker", "--pool", "prefork"]
        command += ["--concurrency", str(concurrency), "--without-gossip", "--without-mingle"]
        self.process = subprocess.Popen(
            command, env=env, cwd=HERE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        self.task.delay().get(timeout=60)  # it is up

    def roots(self) -> list[int]:
        return [self.process.pid]

    def enqueue(self) -> Any:
        return self.task.delay()

    def collect(self, handle: Any) -> None:
        if handle.get(timeout=60) != {"verified": True}:
            raise SystemExit("Celery: unexpected result")

    def close(self) -> None:
        _stop(self.process)

    def _app(self) -> str:
        return "_peer_tasks:app"

    def _task(self, tasks: Any) -> Any:
        return tasks.celery_verify


class CeleryNothingLost(CeleryPrefork):
    """Celery set up to lose nothing it accepted: late acknowledgement (a task a worker took
    runs again should the worker die; with Redis, once the broker's visibility timeout has
    passed, an hour by default) and a broker of its own with an append-only file
    (``DurableRedis``)."""

    def __init__(self, env: dict[str, str], broker: DurableRedis, concurrency: int) -> None:
        self.name = f"Celery durable ({broker.fsync})"
        self.broker = broker
        super().__init__({**env, "PEERS_DURABLE_REDIS": broker.url}, broker.process.pid, concurrency)

    def _app(self) -> str:
        return "_peer_tasks:durable"

    def _task(self, tasks: Any) -> Any:
        return tasks.durable_app(self.broker.url).tasks["peers.verify"]


class DurableRedis:
    """A Redis of the benchmark's own, in a directory of ``directory`` (the file system
    connectord's store uses), whose append-only file is synced as ``fsync`` says:
    ``everysec`` loses nothing when a process is killed (a write reaches the file before
    Redis answers it, unless a sync still running makes Redis put the write off, for up to
    2 s), ``always`` also survives a power cut (it is synced first), as an execution does
    once connectord answered 202."""

    def __init__(self, directory: Path, fsync: str) -> None:
        self.fsync = fsync
        port = free_port()
        self.url = f"redis://127.0.0.1:{port}/0"
        home = directory / f"redis-{fsync}"
        home.mkdir()
        durable = ["--appendonly", "yes", "--appendfsync", fsync, "--save", ""]
        durable += ["--auto-aof-rewrite-percentage", "0"]  # a rewrite's child would escape the CPU count
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--dir", str(home), *durable],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        _wait_for(self._answers, "the benchmark's own redis-server")

    def _answers(self) -> bool:
        from redis import Redis
        from redis.exceptions import ConnectionError as RedisDown

        try:
            return bool(Redis.from_url(self.url).ping())
        except RedisDown:
            return False

    def close(self) -> None:
        _stop(self.process)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class RQForkPerJob(System):
    name = "RQ fork per job"

    def __init__(self, env: dict[str, str], broker_pid: int | None, workers: int) -> None:
        import _peer_tasks
        from redis import Redis
        from rq import Queue

        self.broker_pid = broker_pid
        self.function = _peer_tasks.rq_verify
        self.queue = Queue(_peer_tasks.QUEUE, connection=Redis.from_url(_peer_tasks.BROKER))
        command = [sys.executable, "-m", "rq.cli", "worker", "-u", _peer_tasks.BROKER, _peer_tasks.QUEUE]
        self.processes = [
            subprocess.Popen(
                [*command, "-n", f"peers-{uuid.uuid4().hex[:8]}"],
                env=env,
                cwd=HERE,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            for _ in range(workers)
        ]
        self.collect(self.enqueue())  # they are up

    def roots(self) -> list[int]:
        return [process.pid for process in self.processes]

    def enqueue(self) -> Any:
        return self.queue.enqueue(self.function)

    def collect(self, handle: Any) -> None:
        result = handle.latest_result(timeout=60)
        if result is None or result.return_value != {"verified": True}:
            raise SystemExit(f"RQ: unexpected result {result!r}")

    def close(self) -> None:
        for process in self.processes:
            _stop(process)


class ExecClient:
    """Seed 001 over one keep-alive connection, as a plain client would speak it."""

    def __init__(self, url: str, auth: str) -> None:
        parts = urlsplit(url)
        self.connection = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port)
        self.headers = {"Authorization": auth}

    def request(self, method: str, path: str, body: bytes | None = None) -> tuple[int, str | None, bytes]:
        headers = self.headers if body is None else {**self.headers, "Content-Type": "application/json"}
        self.connection.request(method, path, body, headers)
        response = self.connection.getresponse()
        return response.status, response.getheader("Location"), response.read()

    def schedule(self, component: str) -> str:
        body = {"execution_type": "verify_credentials", "component": component, "account_data": {}}
        status, location, answer = self.request("POST", "/v1/exec/schedule", json.dumps(body).encode())
        if status != 202 or location is None:
            raise SystemExit(f"schedule answered {status}: {answer[:200]!r}")
        return urlsplit(location).path

    def inline(self, component: str) -> Any:
        """Schedule with ``Prefer: wait=30``: the result in the same answer (one request)."""
        body = {"execution_type": "verify_credentials", "component": component, "account_data": {}}
        self.connection.request(
            "POST",
            "/v1/exec/schedule",
            json.dumps(body).encode(),
            {**self.headers, "Content-Type": "application/json", "Prefer": "wait=30"},
        )
        response = self.connection.getresponse()
        answer = response.read()
        if response.status != 200:
            raise SystemExit(f"schedule with Prefer: wait answered {response.status}: {answer[:200]!r}")
        return json.loads(answer)

    def result(self, poll: str) -> Any:
        while True:
            status, location, answer = self.request("GET", f"{poll}?wait=30")
            if status == 303 and location is not None:
                status, _, answer = self.request("GET", urlsplit(location).path)
                if status != 200:
                    raise SystemExit(f"result answered {status}: {answer[:200]!r}")
                return json.loads(answer)
            if status != 200:
                raise SystemExit(f"poll answered {status}: {answer[:200]!r}")

    def metrics(self) -> str:
        status, _, answer = self.request("GET", "/metrics")
        if status != 200:
            raise SystemExit(f"/metrics answered {status}")
        return answer.decode()


class ConnectordServer:
    """A real ``connectord serve`` in a temporary data directory, with no-op connectors:
    ``noop`` per-call, ``pooled`` pooled, and ``cold_<n>_<isolation>`` and ``warm_<n>``
    (``warm = true``) for first calls."""

    def __init__(
        self,
        root: Path,
        cold: int,
        store_url: str | None = None,
        log_level: str = "INFO",
        launcher: list[str] | None = None,
        sandbox_toml: str = "",
        extra: dict[str, str] | None = None,
    ) -> None:
        exec_bench = importlib.import_module("exec_api")  # bench/ is on the path of its scripts
        install_noop = exec_bench.install_noop
        site, data = root / "site", root / "data"
        site.mkdir()
        data.mkdir()
        self.cold = [f"cold_{n}_{isolation}" for n in range(cold) for isolation in ("per_call", "pooled")]
        warm = [f"warm_{n}" for n in range(cold)]  # ``warm = true``: started with the server
        for connector in ["noop", "pooled", *self.cold, *warm]:
            install_noop(site, connector)
        for connector, source in (extra or {}).items():
            install_noop(site, connector, source)
        pooled = ["pooled", *(name for name in self.cold if name.endswith("_pooled"))]
        (data / "connectord.toml").write_text(
            sandbox_toml
            + "".join(f'[sandbox.connectors.{name}]\nisolation = "pooled"\n' for name in pooled)
            + "".join(f"[sandbox.connectors.{name}]\nwarm = true\n" for name in warm)
        )
        env = {k: v for k, v in os.environ.items() if not k.startswith("CONNECTORD_")}
        env |= {"CONNECTORD_DATA_DIR": str(data), "PYTHONPATH": str(site), "CONNECTORD_LOG_LEVEL": log_level}
        if store_url:
            env["CONNECTORD_STORE_URL"] = store_url
        auth = exec_bench.add_user(env)
        self.process, url = exec_bench.start_server(env, launcher, stderr=subprocess.DEVNULL)
        assert self.process.stdout is not None
        self.process.stdout.close()
        self.url, self.auth = url, auth
        self.client = ExecClient(self.url, auth)

    def call(self, component: str) -> float:
        """One schedule → result, in ms."""
        started = time.perf_counter()
        answer = self.client.result(self.client.schedule(component))
        if not answer.get("data", {}).get("verified"):
            raise SystemExit(f"{component}: unexpected result {answer}")
        return (time.perf_counter() - started) * 1000

    def counters(self) -> dict[str, float]:
        text = self.client.metrics()
        found = {f"store.{operation}": float(count) for operation, count in COUNT_LINE.findall(text)}
        for kind, part, name, value in SECONDS_LINE.findall(text):
            found[f"{part}.{'store ' if kind == 'store_call' else ''}{name}"] = float(value)
        transactions = TRANSACTIONS_LINE.search(text)
        if transactions:
            found["transactions"] = float(transactions.group(1))
        return found

    def close(self) -> None:
        _stop(self.process)


class ConnectordSystem(System):
    def __init__(self, server: ConnectordServer, component: str, name: str) -> None:
        self.server, self.component, self.name = server, component, name
        for _ in range(20):  # its zygote and (pooled) its worker are up
            server.call(component)

    def roots(self) -> list[int]:
        return [self.server.process.pid]

    def enqueue(self) -> Any:
        return self.server.client.schedule(self.component)

    def collect(self, handle: Any) -> None:
        answer = self.server.client.result(handle)
        if not answer.get("data", {}).get("verified"):
            raise SystemExit(f"{self.name}: unexpected result {answer}")

    def counters(self) -> dict[str, float]:
        return self.server.counters()

    def inline_round_trips(self, count: int) -> list[float]:
        """Sequential round trips of one request each (``Prefer: wait``), in ms."""
        latencies = []
        for _ in range(count):
            started = time.perf_counter()
            answer = self.server.client.inline(self.component)
            if not answer.get("data", {}).get("verified"):
                raise SystemExit(f"{self.name}: unexpected result {answer}")
            latencies.append((time.perf_counter() - started) * 1000)
        return latencies


class ContractFloor(System):
    """Seed 001's three requests on a bare aiohttp server (bench/_contract_floor.py): the
    most any Python server speaking the contract to this client could do here."""

    name = "seed 001 floor (bare aiohttp)"

    def __init__(self) -> None:
        command = [sys.executable, str(HERE / "_contract_floor.py")]
        self.process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        assert self.process.stdout is not None
        port = self.process.stdout.readline().strip()
        if not port:
            raise SystemExit("bench/_contract_floor.py did not start")
        self.client = ExecClient(f"http://127.0.0.1:{port}", "Basic none")
        _wait_for(self._answers, "the floor server")

    def _answers(self) -> bool:
        try:
            self.collect(self.enqueue())
        except OSError:
            self.client.connection.close()
            return False
        return True

    def roots(self) -> list[int]:
        return [self.process.pid]

    def enqueue(self) -> Any:
        return self.client.schedule("noop")

    def collect(self, handle: Any) -> None:
        if not self.client.result(handle).get("data", {}).get("verified"):
            raise SystemExit("floor: unexpected result")

    def close(self) -> None:
        _stop(self.process)


def _stop(process: subprocess.Popen[Any]) -> None:
    process.terminate()
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


# -- PostgreSQL -------------------------------------------------------------------------


@contextlib.contextmanager
def pg_database(admin_dsn: str) -> Iterator[str]:
    import psycopg

    name = f"connectord_peers_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(admin_dsn, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield name
    finally:
        with psycopg.connect(admin_dsn, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def xact_commit(admin_dsn: str, database: str) -> int:
    import psycopg

    with psycopg.connect(admin_dsn, autocommit=True) as conn:  # a fresh snapshot of the counts
        row = conn.execute(
            "SELECT xact_commit FROM pg_stat_database WHERE datname = %s", (database,)
        ).fetchone()
    return int(row[0]) if row else 0


def postgres_counts(admin_dsn: str, tasks: int) -> dict[str, Any]:
    """Store calls and committed transactions per pooled execution on PostgreSQL."""
    with pg_database(admin_dsn) as database, tempfile.TemporaryDirectory() as tmp:
        url = urlunsplit(urlsplit(admin_dsn)._replace(path=f"/{database}"))
        server = ConnectordServer(Path(tmp), 0, store_url=url)
        try:
            system = ConnectordSystem(server, "pooled", "connectord pooled (PostgreSQL)")
            # A backend reports its counts when idle for 10 s (or at exit): wait, so that what
            # the start and warm-up did is counted before the baseline.
            time.sleep(11)
            before = xact_commit(admin_dsn, database)
            batch = system.batch(tasks)
        finally:
            server.close()
        time.sleep(0.5)
        after = xact_commit(admin_dsn, database)
    figures = batch.figures()
    return {
        "tasks": tasks,
        "per_s": round(figures["per_s"], 1),
        "store_calls": figures.get("store_calls"),
        "store_operations": figures.get("store_operations"),
        "transactions": figures.get("transactions"),  # the store's own count, /metrics
        "xact_commit": round((after - before) / tasks, 2),
    }


# -- the run ----------------------------------------------------------------------------


def redis_pid(url: str) -> int | None:
    from redis import Redis

    return int(Redis.from_url(url).info("server")["process_id"])


def empty_redis(url: str, queue: str) -> None:
    from redis import Redis

    redis = Redis.from_url(url)
    for pattern in ("celery-task-meta-*", "rq:*", "_kombu.*", "unacked*", queue):
        for key in redis.scan_iter(match=pattern, count=1000):
            redis.delete(key)


def quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))]


def load_average() -> float:
    return os.getloadavg()[0]


def run(args: argparse.Namespace) -> dict[str, Any]:
    cores = os.cpu_count() or 2
    queue = f"connectord-peers-{uuid.uuid4().hex[:6]}"
    env = {**os.environ, "PYTHONPATH": str(HERE), "PEERS_REDIS": args.redis, "PEERS_QUEUE": queue}
    os.environ.update(PEERS_REDIS=args.redis, PEERS_QUEUE=queue)
    sys.path.insert(0, str(HERE))
    broker = redis_pid(args.redis)
    loads = [load_average()]
    systems: list[System] = []
    with tempfile.TemporaryDirectory() as tmp, contextlib.ExitStack() as stack:
        server = ConnectordServer(Path(tmp), args.rounds)
        try:
            for fsync in ("everysec", "always") if shutil.which("redis-server") else ():
                durable = DurableRedis(Path(tmp), fsync)
                stack.callback(durable.close)
                systems.append(CeleryNothingLost(env, durable, cores))
            if not shutil.which("redis-server"):
                print("no redis-server on the PATH: Celery durable is not measured", file=sys.stderr)
            systems += [
                CeleryPrefork(env, broker, cores),
                RQForkPerJob(env, broker, cores),
                ConnectordSystem(server, "noop", "connectord per-call"),
                ConnectordSystem(server, "pooled", "connectord pooled"),
                ContractFloor(),
            ]
            rounds: dict[str, list[dict[str, Any]]] = {s.name: [] for s in systems}
            cold: dict[str, list[float]] = {"per_call": [], "pooled": [], "warm": []}
            for index in range(args.rounds):
                order = systems[index % len(systems) :] + systems[: index % len(systems)]
                for system in order:
                    tasks = (
                        args.rq_tasks if isinstance(system, RQForkPerJob) and args.rq_tasks else args.tasks
                    )
                    figures = system.batch(tasks).figures()
                    trips = system.round_trips(args.round_trips)
                    figures |= {"p50_ms": statistics.median(trips), "p95_ms": quantile(trips, 0.95)}
                    if isinstance(system, ConnectordSystem):
                        inline = system.inline_round_trips(args.round_trips)
                        figures["inline_p50_ms"] = statistics.median(inline)
                    rounds[system.name].append(figures)
                    print(f"round {index + 1}: {system.name}: {figures['per_s']:.0f}/s", file=sys.stderr)
                for isolation in ("per_call", "pooled"):
                    cold[isolation].append(server.call(f"cold_{index}_{isolation}"))
                cold["warm"].append(server.call(f"warm_{index}"))
                loads.append(load_average())
        finally:
            for system in systems:
                system.close()
            server.close()
            empty_redis(args.redis, queue)
    postgres = postgres_counts(args.pg_dsn, args.pg_tasks) if args.pg_tasks else None
    return {"rounds": rounds, "cold": cold, "postgres": postgres, "loads": loads, "cores": cores}


NUMBERS = ("per_s", "enqueue_per_s", "p50_ms", "p95_ms", "cpu_ms", "service_ms", "main_ms", "helpers_ms")
NUMBERS += ("broker_ms", "client_ms", "store_calls", "transactions", "inline_p50_ms")
NUMBERS += ("collect_ms", "idle_share")


def medians(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    found = {k: statistics.median(r[k] for r in rounds) for k in NUMBERS if k in rounds[0]}
    found["per_s_range"] = [min(r["per_s"] for r in rounds), max(r["per_s"] for r in rounds)]
    if "store_operations" in rounds[-1]:
        found["store_operations"] = rounds[-1]["store_operations"]
    if "server_ms" in rounds[-1]:
        names = set.intersection(*(set(r["server_ms"]) for r in rounds))
        found["server_ms"] = {n: statistics.median(r["server_ms"][n] for r in rounds) for n in sorted(names)}
    return found


def report(measured: dict[str, Any], args: argparse.Namespace) -> dict[str, Any]:
    table = {name: medians(rounds) for name, rounds in measured["rounds"].items()}
    celery, rq = table["Celery prefork + Redis"], table["RQ fork per job"]
    rq_tasks = f" (RQ: {args.rq_tasks})" if args.rq_tasks else ""
    print(
        f"\n{args.tasks} trivial tasks per batch{rq_tasks} (one client: enqueue all, then collect all), "
        f"{args.round_trips} sequential round trips; medians of {args.rounds} interleaved rounds, "
        f"{measured['cores']} cores, load average {', '.join(f'{x:.1f}' for x in measured['loads'])}"
    )
    head = f"{'system':26}{'tasks/s':>9}{'(rounds)':>15}{'enqueue/s':>10}{'p50 ms':>8}{'p95 ms':>8}"
    print(head + f"{'CPU/task ms':>12}  {'service (main + helpers) | broker | client'}")
    for name, row in table.items():
        low, high = row["per_s_range"]
        print(
            f"{name:26}{row['per_s']:>9.0f}{f'{low:.0f}-{high:.0f}':>15}{row['enqueue_per_s']:>10.0f}"
            f"{row['p50_ms']:>8.2f}{row['p95_ms']:>8.2f}{row['cpu_ms']:>12.2f}  "
            f"{row['service_ms']:.2f} ({row['main_ms']:.2f} + {row['helpers_ms']:.2f}) | "
            f"{row['broker_ms']:.2f} | {row['client_ms']:.2f}"
        )
    ratios = {}
    for name in ("connectord per-call", "connectord pooled"):
        row = table[name]
        ratios[name] = {
            "throughput_vs_celery": round(row["per_s"] / celery["per_s"], 2),
            "throughput_vs_rq": round(row["per_s"] / rq["per_s"], 2),
            "cpu_vs_celery": round(row["cpu_ms"] / celery["cpu_ms"], 2),
            "p50_vs_celery": round(row["p50_ms"] / celery["p50_ms"], 2),
        }
        r = ratios[name]
        print(
            f"{name}: throughput {r['throughput_vs_celery']}x Celery prefork, {r['throughput_vs_rq']}x RQ; "
            f"CPU per task {r['cpu_vs_celery']}x Celery's; round trip p50 {r['p50_vs_celery']}x Celery's"
        )
        for fsync in ("everysec", "always"):
            if durable := table.get(f"Celery durable ({fsync})"):
                r[f"vs_celery_durable_{fsync}"] = against = {
                    "throughput": round(row["per_s"] / durable["per_s"], 2),
                    "cpu": round(row["cpu_ms"] / durable["cpu_ms"], 2),
                    "p50": round(row["p50_ms"] / durable["p50_ms"], 2),
                }
                print(
                    f"  against Celery durable ({fsync}): throughput {against['throughput']}x, "
                    f"CPU per task {against['cpu']}x, round trip p50 {against['p50']}x"
                )
    floor = table[ContractFloor.name]
    ratios["floor"] = {
        "throughput_vs_celery": round(floor["per_s"] / celery["per_s"], 2),
        "per_call_share": round(table["connectord per-call"]["per_s"] / floor["per_s"], 2),
        "pooled_share": round(table["connectord pooled"]["per_s"] / floor["per_s"], 2),
    }
    r = ratios["floor"]
    print(
        f"{ContractFloor.name}: throughput {r['throughput_vs_celery']}x Celery prefork; connectord "
        f"per-call does {r['per_call_share']} of it, pooled {r['pooled_share']}"
    )
    print("\nstore per execution (SQLite, during the batch; calls by operation from /metrics):")
    for name in ("connectord per-call", "connectord pooled"):
        row = table[name]
        print(
            f"  {name}: {row.get('store_calls')} calls, {row.get('transactions')} transactions (group commit)"
        )
        print(f"    {row.get('store_operations')}")
    postgres = measured["postgres"]
    if postgres:
        print(
            f"  PostgreSQL, pooled ({postgres['tasks']} tasks, {postgres['per_s']}/s): "
            f"{postgres['store_calls']} store calls, {postgres['transactions']} transactions "
            f"(the store's count); {postgres['xact_commit']} committed transactions in all "
            "(pg_stat_database: the background loops', the start's and the stop's included) per execution"
        )
        print(f"    {postgres['store_operations']}")
    print(
        "\nwhere the batch's time goes (one client, one request at a time: each waits for the last; "
        "idle: the cores' share unused during the batch):"
    )
    for name, row in table.items():
        print(
            f"  {name}: enqueue {1000 / row['enqueue_per_s']:.2f} ms per task, then collect "
            f"{row['collect_ms']:.2f} ms per task; cores idle {100 * row['idle_share']:.0f} %"
        )
        if row.get("server_ms"):
            spent = ", ".join(f"{n} {ms:.3f}" for n, ms in row["server_ms"].items())
            print(f"    server-side means, ms (HTTP: in the handlers; store: queue, run, commit): {spent}")
    cold = {k: statistics.median(v) for k, v in measured["cold"].items()}
    print(
        "\nidle design-time latency, schedule → result through HTTP with long poll, p50: "
        f"per-call {table['connectord per-call']['p50_ms']:.2f} ms, "
        f"pooled {table['connectord pooled']['p50_ms']:.2f} ms; with Prefer: wait (one request): "
        f"per-call {table['connectord per-call']['inline_p50_ms']:.2f} ms, "
        f"pooled {table['connectord pooled']['inline_p50_ms']:.2f} ms; "
        f"first call of a connector whose zygote is not running: per-call {cold['per_call']:.0f} ms, "
        f"pooled {cold['pooled']:.0f} ms; of a warm connector (per-call, its zygote and a worker "
        f"started with the server): {cold['warm']:.1f} ms (rounds: {measured['cold']})"
    )
    return {
        "tasks": args.tasks,
        "round_trips": args.round_trips,
        "rounds": args.rounds,
        "cores": measured["cores"],
        "load_averages": [round(x, 2) for x in measured["loads"]],
        "systems": {name: _rounded(row) for name, row in table.items()},
        "ratios": ratios,
        "first_call_ms": {k: round(v, 1) for k, v in cold.items()},
        "postgres": postgres,
    }


def _rounded(row: dict[str, Any]) -> dict[str, Any]:
    return {k: round(v, 3) if isinstance(v, float) else v for k, v in row.items()}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--tasks", type=int, default=2000)
    parser.add_argument("--round-trips", type=int, default=200)
    parser.add_argument(
        "--rq-tasks",
        type=int,
        default=0,
        help="RQ's batch, if not --tasks (a fork per job is slow on a loaded machine)",
    )
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--pg-tasks", type=int, default=500, help="0: no PostgreSQL run")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/7")
    parser.add_argument(
        "--pg-dsn",
        default=os.environ.get("CONNECTORD_TEST_PG_DSN", "postgresql://postgres@127.0.0.1:5432/postgres"),
    )
    args = parser.parse_args()
    figures = report(run(args), args)
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
