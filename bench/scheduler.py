"""Benchmark: the job scheduler with 100,000 started definitions in one SQLite store.

    python bench/scheduler.py [--definitions 100000] [--seconds 30] [--rate 100]
                              [--idle-seconds 10] [--sandbox-rate 20] [--sandbox-seconds 15]
                              [--seed 1] [--wal-autocheckpoint N]

Quick check: ``--definitions 10000 --seconds 10 --idle-seconds 5 --sandbox-seconds 5``.

**Setup** (timed, reported, not a figure of the scheduler). A child process (this script
with ``--build``, so that its memory does not count against the measuring process) opens a
fresh ``SQLiteStore`` in a temporary directory (schema migrated), adds a user and its
tenant through the store's API, checks every definition with ``parse_spec`` and computes
its ``next_fire_at`` with ``Definition.first_fire(now)``, then inserts all of them in ONE
transaction with ``executemany`` on its own sqlite3 connection to the same file (same
schema, column names are DefinitionRecord's fields, ``synchronous=FULL``), and checkpoints
the WAL so that the measured window does not pay for copying the setup's pages.

**Definitions**, all STARTED, a third Quartz (6 or 7 fields: ``?``, ``L``, ``L-n``,
``LW``, ``nW``, ``n#k``, ``nL``, names, two-letter days, years) and the rest Unix, in 16
IANA zones (half-hour and 45-minute offsets among them):

* ``hotA`` / ``hotB``: RATE definitions for each second of two windows of SECONDS each;
  hourly Quartz expressions (``S M * * * ?`` and equivalent spellings) whose M:S is the
  local time of that second in the definition's zone, so each fires once in its window
  and then not before an hour. That is RATE fires/s, every second, as bursts of RATE
  definitions sharing one slot (cron slots are whole seconds).
* ``hotC``: SANDBOX_RATE definitions per second of a later window, run through the sandbox.
* ``rare``: all the others (hourly to yearly, weekdays, L/W/#...), chosen so that none
  fires before the benchmark is over: a candidate whose first slot is too near is redrawn.

**Phases**, in one process, with the real clock (``time.time``):

1. load: ``Scheduler.load()`` (the heap of every started definition); RSS before/after.
2. A, "ledger lag": ``Scheduler.run_forever()`` alone during hotA's window. Per fired
   slot: tick lag = the row's ``created_at`` - slot (``created_at`` is the ``now`` the tick
   started with, before the read, the planning and the commit) and commit lag = when
   ``on_fired`` ran (after the batch's transaction committed) - slot.
3. B, "start lag": the same scheduler plus a claimer loop shaped like
   ``Dispatcher.forever`` WITHOUT the sandbox: ``store.claim_job(now)`` through the same
   StoreRunner thread, woken by the scheduler's ``on_fired``, each claimed job marked
   COMPLETED at once (``finish_job``). Start lag = ``started_at`` - slot (``started_at`` is
   the ``now`` given to the claim) and claimed lag = when the claim returned - slot.
   hotA's jobs left WAITING by phase A are cancelled before (one UPDATE, not measured).
4. idle: the same scheduler, nothing due for IDLE_SECONDS: process CPU time / wall time.
5. C, "sandbox start lag": the real ``Jobs`` service of a ``Node`` (its own Scheduler,
   loading the 100k again, and the node's job ``Dispatcher.forever``) with a real
   ``Supervisor`` and a no-op ``run_job`` connector installed in a temporary site
   directory; start lag = ``started_at`` - slot, done lag = ``finished_at`` - slot; then
   the whole service's idle CPU (this process only; the zygote is another process).
6. tick anatomy: batches of RATE hotA definitions (now due an hour later) read
   (``definitions_by_id``), planned (``Scheduler._plan``) and fired (``store.fire``)
   synchronously, each timed; the planning under cProfile.
7. floors: a bare one-row SQLite commit (WAL, synchronous=FULL) on the same disk, asyncio's
   timer wake-up lag, and ``Definition.slot_after`` (next fire) of stored definitions.

Reading the lags: the RATE fires of a second share one tick and one commit, so a p99 over
the rows is about the worst of the 2 x SECONDS ticks, and a single stall of the shared
disk shows in it. ``--wal-autocheckpoint 0`` sets that PRAGMA on the store's connection (an
experiment: SQLite's automatic WAL checkpoints, by default every 1000 pages, otherwise run
inside whichever commit crosses the threshold, i.e. inside some ticks).

The last line printed is one JSON object with the figures, pass/fail against the issue's
targets (lag p99 < 100 ms, idle CPU < 2 % of a core, memory < 300 MB) included.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import importlib
import json
import math
import os
import pstats
import random
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import msgspec
from cryptography.fernet import Fernet

from connectord.plugins.manager import Selection
from connectord.runtime.config import Settings
from connectord.runtime.jobs import schedules
from connectord.runtime.jobs.definitions import Definition, check_spec, decode_spec, encode_spec, parse_spec
from connectord.runtime.jobs.planning import dated_id
from connectord.runtime.jobs.scheduler import Scheduler
from connectord.runtime.node import Node
from connectord.runtime.secrets import SecretBox
from connectord.runtime.store.records import DefinitionRecord, JobEnd, NewJob
from connectord.runtime.store.runner import StoreRunner
from connectord.runtime.store.sqlite import SQLiteStore
from connectord.sandbox.cgroups import Cgroups
from connectord.sandbox.policy import SandboxPolicy
from connectord.sandbox.supervisor import Supervisor

DB_FILE = "connectord.sqlite3"
KEY_FILE = "bench.key"
JOB_TYPE = "benchNoop"
TARGET_LAG_MS = 100.0
TARGET_IDLE_CPU_PCT = 2.0
TARGET_RSS_MB = 300.0
#: Seconds between windows: A → B (cancel A's leftovers, start the claimer), after B (drain).
GAP = 3
DRAIN = 3
#: Seconds set aside to start the supervisor and the Jobs service (and its load) before C.
C_SETUP = 8

ZONES = (
    "UTC",
    "Europe/Berlin",
    "Europe/London",
    "Europe/Moscow",
    "America/New_York",
    "America/Los_Angeles",
    "America/Sao_Paulo",
    "America/St_Johns",
    "Asia/Tokyo",
    "Asia/Shanghai",
    "Asia/Kolkata",
    "Asia/Kathmandu",
    "Australia/Sydney",
    "Australia/Adelaide",
    "Pacific/Auckland",
    "Africa/Johannesburg",
)
#: Hourly at M:S, spelled the ways Quartz allows (all fire at the same instants).
HOURLY_FORMS = (
    "{s} {m} * * * ?",
    "{s} {m} * ? * *",
    "{s} {m} * * * ? *",
    "{s} {m} 0/1 * * ?",
    "{s} {m} * ? * SUN-SAT",
    "{s} {m} 0-23 ? * SU-SA",
)

BENCH_CONNECTOR = f'''
import connectord

@connectord.hookimpl
def describe_connector():
    return connectord.ConnectorInfo(
        id="benchjobs",
        title="Scheduler bench",
        version="1",
        job_types=[connectord.JobType(code="{JOB_TYPE}", title="No-op job")],
    )

@connectord.hookimpl
def verify_credentials(credentials):
    return connectord.verified()

@connectord.hookimpl
def run_job(job_type, params, credentials):
    return connectord.JobResult(data=None)
'''


# ----------------------------------------------------------------------------- helpers


def rss_mb(field: str = "VmRSS") -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def pct(ordered: list[float], q: float) -> float:
    """Nearest-rank percentile of a sorted list."""
    return ordered[max(0, min(len(ordered) - 1, math.ceil(q * len(ordered)) - 1))]


def lags(values_s: list[float]) -> dict[str, float]:
    """p50/p99/max in ms of lags given in seconds."""
    if not values_s:
        return {"n": 0, "p50_ms": float("nan"), "p99_ms": float("nan"), "max_ms": float("nan")}
    ordered = sorted(values_s)
    return {
        "n": len(ordered),
        "p50_ms": round(statistics.median(ordered) * 1000, 2),
        "p99_ms": round(pct(ordered, 0.99) * 1000, 2),
        "max_ms": round(ordered[-1] * 1000, 2),
    }


def line(name: str, stat: dict[str, float]) -> str:
    p50, p99, top = stat["p50_ms"], stat["p99_ms"], stat["max_ms"]
    return f"  {name:36} p50 {p50:8.1f} ms   p99 {p99:8.1f} ms   max {top:8.1f} ms"


async def sleep_until(instant: float) -> None:
    delay = instant - time.time()
    if delay > 0:
        await asyncio.sleep(delay)


def plan_times(args: argparse.Namespace, t_a: int) -> dict[str, int]:
    t_b = t_a + args.seconds + GAP
    t_c = t_b + args.seconds + DRAIN + args.idle_seconds + 1 + C_SETUP
    return {"t_a": t_a, "t_b": t_b, "t_c": t_c}


# ----------------------------------------------------------------------------- build (child)


def unix_rare(rng: random.Random) -> str:
    m, h, d = rng.randrange(60), rng.randrange(24), rng.randint(1, 28)
    return rng.choice(
        (
            f"{m} * * * *",
            f"{m} {h} * * *",
            f"{m} {h} * * 1-5",
            f"{m} {h} * * MON,WED,FRI",
            f"{m} {h} {d} * *",
            f"{m} {h} 1,15 * *",
            f"{m} */6 * * *",
            f"{m} {h} * JAN-MAR *",
            f"{m} {h} {d} {rng.randint(1, 12)} *",
            f"{m} {h} 1-7 * 1",
            f"{m} {h} 1 */3 *",
            f"{m} 8-18/2 * * 1-5",
            f"{m} {h} * * sun",
        )
    )


def quartz_rare(rng: random.Random) -> str:
    s, m, h, d = rng.randrange(60), rng.randrange(60), rng.randrange(24), rng.randint(1, 28)
    return rng.choice(
        (
            f"{s} {m} {h} * * ?",
            f"{s} {m} {h} ? * MON-FRI",
            f"{s} {m} {h} L * ?",
            f"{s} {m} {h} ? * {rng.randint(1, 7)}#{rng.randint(1, 4)}",
            f"{s} {m} {h} {d}W * ?",
            f"{s} {m} {h} LW * ?",
            f"{s} {m} {h} ? * 6L",
            f"{s} {m} {h} L-{rng.randint(1, 5)} * ?",
            f"{s} {m} {h} ? * SA,SU",
            f"{s} {m} {h} {d} JAN-JUN ? 2000-2099",
            f"{s} {m} {h} * * ? *",
            f"{s} {m} */4 * * ?",
            f"{s} {m} {h} ? JAN,JUL MO",
            f"{s} {m} {h} {d} * ? *",
        )
    )


def build(args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    """Create the store with every definition; runs in a child process."""
    rng = random.Random(args.seed)
    box = SecretBox([(tmp / KEY_FILE).read_bytes()])
    path = tmp / DB_FILE
    store = SQLiteStore(path)
    store.add_user("bench@example.test", "bench", "bench-key-hash", time.time())
    principal = store.principal("bench-key-hash")
    assert principal is not None
    tenant = principal.tenant_id
    store.close()
    sealed = box.seal_json({})  # every definition has params {}: one token will do

    hot_ab = 2 * args.rate * args.seconds
    hot_c = args.sandbox_rate * args.sandbox_seconds
    rare_count = args.definitions - hot_ab - hot_c
    if rare_count < 0:
        raise SystemExit(f"--definitions {args.definitions} < the {hot_ab + hot_c} the windows need")
    rare_quartz = max(0, args.definitions // 3 - hot_ab - hot_c)
    # Nothing rare may fire before the end: the windows, their gaps, a slow build, margin.
    horizon = (
        900 + 3 * (2 * args.seconds + args.idle_seconds + args.sandbox_seconds) + args.definitions * 2e-4
    )

    rows: list[tuple[Any, ...]] = []
    expressions: Counter[str] = Counter()
    kinds: Counter[str] = Counter()

    def parsed(code: str, raw_schedule: dict[str, str]) -> Definition:
        return parse_spec({"jobDefinitionCode": code, "jobType": JOB_TYPE, "schedule": raw_schedule})

    def add(definition: Definition, raw_schedule: dict[str, str], now: float, next_fire: float) -> None:
        spec = definition.spec
        code = spec.job_definition_code
        record = DefinitionRecord(
            id=dated_id(now),
            tenant_id=tenant,
            code=code,
            job_type=JOB_TYPE,
            state="STARTED",
            document=encode_spec(msgspec.structs.replace(spec, params={})),
            sealed_params=sealed,
            next_fire_at=next_fire,
            version=1,
            history_count=spec.history_max_count,
            history_seconds=spec.history_max_age_days * 86400.0,
            created_at=now,
            updated_at=now,
        )
        rows.append(msgspec.structs.astuple(record))
        expressions[raw_schedule["cron"]] += 1
        kinds["quartz" if len(raw_schedule["cron"].split()) in (6, 7) else "unix"] += 1

    started = time.perf_counter()
    now = time.time()
    redrawn = 0
    for i in range(rare_count):
        quartz = (i * rare_quartz) // rare_count != ((i + 1) * rare_quartz) // rare_count
        for _ in range(200):
            schedule = {"cron": (quartz_rare if quartz else unix_rare)(rng), "timezone": rng.choice(ZONES)}
            definition = parsed(f"rare-{i:06d}", schedule)
            first = definition.first_fire(now)
            if first is not None and first >= now + horizon:
                break
            redrawn += 1
        else:
            raise SystemExit("could not draw a rare definition far enough from now")
        add(definition, schedule, now, first)
    rare_s = time.perf_counter() - started

    # The windows start once the rows are in and the parent has loaded them.
    lead = 3 + args.definitions * 4e-5
    times = plan_times(args, math.ceil(time.time() + lead))
    hot_started = time.perf_counter()
    now = time.time()
    for group, start, seconds, rate in (
        ("hotA", times["t_a"], args.seconds, args.rate),
        ("hotB", times["t_b"], args.seconds, args.rate),
        ("hotC", times["t_c"], args.sandbox_seconds, args.sandbox_rate),
    ):
        for j in range(seconds):
            slot = start + j
            for k in range(rate):
                zone = ZONES[(j + k) % len(ZONES)]
                local = datetime.fromtimestamp(slot, ZoneInfo(zone))
                expression = HOURLY_FORMS[k % len(HOURLY_FORMS)].format(s=local.second, m=local.minute)
                schedule = {"cron": expression, "timezone": zone}
                definition = parsed(f"{group}-{j * rate + k:06d}", schedule)
                first = definition.first_fire(now)
                assert first == slot, (expression, zone, first, slot)
                add(definition, schedule, now, first)
    hot_s = time.perf_counter() - hot_started

    rng.shuffle(rows)  # no order in the table that the scheduler could benefit from
    columns = ", ".join(field.name for field in msgspec.structs.fields(DefinitionRecord))
    marks = ", ".join("?" * len(rows[0]))
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA synchronous=FULL")
    started = time.perf_counter()
    conn.execute("BEGIN IMMEDIATE")
    conn.executemany(f"INSERT INTO job_definitions ({columns}) VALUES ({marks})", rows)
    conn.execute("COMMIT")
    insert_s = time.perf_counter() - started
    started = time.perf_counter()
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    checkpoint_s = time.perf_counter() - started
    conn.close()
    return {
        **times,
        "tenant": tenant,
        "definitions": len(rows),
        "quartz": kinds["quartz"],
        "unix": kinds["unix"],
        "distinct_expressions": len(expressions),
        "rare": rare_count,
        "rare_redrawn": redrawn,
        "rare_horizon_s": round(horizon),
        "hot_a": args.rate * args.seconds,
        "hot_b": args.rate * args.seconds,
        "hot_c": hot_c,
        "build_rare_s": round(rare_s, 2),
        "build_hot_s": round(hot_s, 2),
        "insert_s": round(insert_s, 2),
        "checkpoint_s": round(checkpoint_s, 2),
        "db_mb": round(path.stat().st_size / 2**20, 1),
    }


# ----------------------------------------------------------------------------- measuring


class FireLog:
    """The scheduler's on_fired: what each tick added, and when its commit was done."""

    def __init__(self) -> None:
        self.rows: dict[str, list[tuple[float, float, float]]] = defaultdict(list)  # slot, created, committed
        self.ticks: list[tuple[float, float, int]] = []  # tick's now, committed, rows
        self.wake: asyncio.Event | None = None
        self.forward: Any = None

    def __call__(self, jobs: list[NewJob]) -> None:
        committed = time.time()
        for job in jobs:
            assert job.definition_code is not None and job.scheduled_for is not None
            self.rows[job.definition_code.split("-")[0]].append(
                (job.scheduled_for, job.created_at, committed)
            )
        if jobs:
            self.ticks.append((jobs[0].created_at, committed, len(jobs)))
        if self.wake is not None:
            self.wake.set()
        if self.forward is not None:
            self.forward(jobs)

    def count(self) -> int:
        return sum(len(rows) for rows in self.rows.values())


class Claimer:
    """The job dispatcher's loop without the sandbox: claim the due job, mark it done."""

    def __init__(self, store: SQLiteStore, run: StoreRunner) -> None:
        self.store, self.run = store, run
        self.wake = asyncio.Event()
        # group -> (slot, started_at, when the claim returned)
        self.claimed: dict[str, list[tuple[float, float, float]]] = defaultdict(list)
        self.pending: set[asyncio.Future[bool]] = set()

    async def forever(self) -> None:
        while True:
            self.wake.clear()
            now = time.time()
            claimed = await self.run(self.store.claim_job, now, "bench", now + 60)
            if claimed is None:
                due = await self.run(self.store.next_job_due)
                pause = 5.0 if due is None or due <= now else min(5.0, due - now)
                try:
                    async with asyncio.timeout(pause):
                        await self.wake.wait()
                except TimeoutError:
                    pass
                continue
            job = claimed.job
            assert job.started_at is not None and job.definition_code is not None
            self.claimed[job.definition_code.split("-")[0]].append(
                (job.scheduled_for or job.run_at or now, job.started_at, time.time())
            )
            end = JobEnd("COMPLETED", b"[]", None, None, time.time())
            done = asyncio.ensure_future(self.run(self.store.finish_job, job.id, claimed.fence, end))
            self.pending.add(done)
            done.add_done_callback(self.pending.discard)


def cancel_waiting(path: Path) -> int:
    """Bench housekeeping between phases (not measured): jobs nobody ran are cancelled."""
    conn = sqlite3.connect(path, isolation_level=None, timeout=10.0)
    try:
        conn.execute("BEGIN IMMEDIATE")
        cursor = conn.execute(
            """UPDATE jobs SET status = 'CANCELLED', finished_at = ?, sealed_params = NULL, run_at = NULL
               WHERE status = 'WAITING'""",
            (time.time(),),
        )
        conn.execute("COMMIT")
        return cursor.rowcount
    finally:
        conn.close()


def query(path: Path, sql: str, *params: object) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(path, timeout=10.0)
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


def install_connector(site: Path) -> None:
    (site / "connectord_bench_jobs.py").write_text(BENCH_CONNECTOR)
    dist_info = site / "connectord_bench_jobs-1.dist-info"
    dist_info.mkdir()
    (dist_info / "METADATA").write_text("Metadata-Version: 2.1\nName: connectord-bench-jobs\nVersion: 1\n")
    (dist_info / "entry_points.txt").write_text(
        "[connectord.connectors]\nbenchjobs = connectord_bench_jobs\n"
    )


async def cpu_over(seconds: float) -> tuple[float, float]:
    """% of one core this process used over ``seconds`` of wall time (all its threads)."""
    cpu, wall = time.process_time(), time.perf_counter()
    await asyncio.sleep(seconds)
    wall = time.perf_counter() - wall
    return 100 * (time.process_time() - cpu) / wall, wall


async def phase_c(
    args: argparse.Namespace, info: dict[str, Any], tmp: Path, store: SQLiteStore, run: StoreRunner
) -> dict[str, Any]:
    """The real Jobs service and sandbox at SANDBOX_RATE fires/s."""
    path = tmp / DB_FILE
    site = tmp / "site"
    site.mkdir()
    install_connector(site)
    sys.path.insert(0, str(site))
    importlib.invalidate_caches()
    box = SecretBox([(tmp / KEY_FILE).read_bytes()])
    supervisor = Supervisor(Selection(allow=frozenset({"benchjobs"})), SandboxPolicy(), Cgroups(None, None))
    started = time.perf_counter()
    await supervisor.start()
    supervisor_s = time.perf_counter() - started
    assert supervisor.catalog.job_type(JOB_TYPE) is not None, "the bench connector did not load"
    # The node's jobs service and dispatcher, on the bench's store and runner; only their
    # loops run (not the node's executions, leases or purges).
    node = Node(Settings(data_dir=tmp), supervisor, store, box, time.time, run=run)
    jobs, dispatcher = node.jobs, node.job_dispatcher
    log = FireLog()
    log.forward = jobs.scheduler.on_fired
    jobs.scheduler.on_fired = log
    started = time.perf_counter()
    tasks = [asyncio.ensure_future(dispatcher.forever()), asyncio.ensure_future(jobs.scheduler.run_forever())]
    while not jobs.scheduler.loaded:
        await asyncio.sleep(0.01)
    load_s = time.perf_counter() - started
    rss = rss_mb()
    slack = info["t_c"] - time.time()
    end = info["t_c"] + args.sandbox_seconds
    await sleep_until(end + 1)
    deadline = time.time() + 30
    while time.time() < deadline:
        open_jobs = query(
            path,
            "SELECT count(*) FROM jobs WHERE definition_code LIKE 'hotC-%' "
            "AND status IN ('WAITING', 'STARTED')",
        )[0][0]
        if open_jobs == 0 and len(log.rows["hotC"]) >= info["hot_c"]:
            break
        await asyncio.sleep(0.2)
    idle_cpu, idle_wall = await cpu_over(min(5.0, args.idle_seconds))
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    await dispatcher.close()
    await supervisor.close()
    sys.path.remove(str(site))

    rows = query(
        path,
        "SELECT scheduled_for, started_at, finished_at, status FROM jobs WHERE definition_code LIKE 'hotC-%'",
    )
    statuses = Counter(status for *_, status in rows)
    start = [s - slot for slot, s, _, _ in rows if s is not None]
    done = [f - slot for slot, s, f, status in rows if f is not None and status == "COMPLETED"]
    return {
        "supervisor_start_s": round(supervisor_s, 2),
        "service_load_s": round(load_s, 3),
        "service_rss_mb": round(rss, 1),
        "slack_s": round(slack, 2),
        "fired": len(log.rows["hotC"]),
        "statuses": dict(statuses),
        "commit": lags([c - s for s, _, c in log.rows["hotC"]]),
        "start": lags(start),
        "done": lags(done),
        "idle_cpu_pct": round(idle_cpu, 3),
        "idle_wall_s": round(idle_wall, 1),
    }


def profile_figures(profile: cProfile.Profile) -> tuple[list[list[Any]], dict[str, float]]:
    """The top functions by own time, and the cumulative share of the planning steps (%)."""
    stats = pstats.Stats(profile).stats  # type: ignore[attr-defined]
    total = sum(tt for _, _, tt, _, _ in stats.values()) or 1.0
    top = sorted(stats.items(), key=lambda item: item[1][2], reverse=True)[:8]
    steps = ("decode_spec", "check_spec", "parse_schedule", "_compiled_cron", "parse_instant", "plan_fire",
             "_due_slots", "next_fire", "dated_id", "_ledger_row")  # fmt: skip
    cumulative = {
        func: round(100 * ct / total, 1)
        for (file, _, func), (_, _, _, ct, _) in stats.items()
        if func in steps and ("connectord" in file or "/runtime/" in file)
    }
    named = [
        [f"{Path(file).name}:{lineno}({func})", round(100 * tt / total, 1)]
        for (file, lineno, func), (_, _, tt, _, _) in top
    ]
    return named, dict(sorted(cumulative.items(), key=lambda kv: -kv[1]))


def anatomy(store: SQLiteStore, run: StoreRunner, path: Path, rate: int, batches: int) -> dict[str, Any]:
    """Where a tick's time goes, for batches of RATE due definitions (hotA's, now due an hour
    later): read, plan (warm: the cron expressions compiled already; cold: the compiled-cron
    cache emptied first, as for an expression not seen lately), fire."""
    ids = [
        row[0] for row in query(path, "SELECT id FROM job_definitions WHERE code LIKE 'hotA-%' ORDER BY code")
    ]
    probe = Scheduler(store, run, time.time)
    warm_profile, cold_profile = cProfile.Profile(), cProfile.Profile()
    read, warm, cold, fire = [], [], [], []

    def plan(records: list[DefinitionRecord], profile: cProfile.Profile | None) -> list[Any]:
        if profile is not None:
            profile.enable()
        fires = [probe._plan(r, r.next_fire_at) for r in records if r.next_fire_at is not None]
        if profile is not None:
            profile.disable()
        return [f for f in fires if f is not None]

    for b in range(min(batches, len(ids) // rate)):
        chunk = ids[b * rate : (b + 1) * rate]
        t0 = time.perf_counter()
        records = store.definitions_by_id(chunk)
        read.append(time.perf_counter() - t0)
        plan(records, None)  # warm up: compiled expressions, memoized days
        t0 = time.perf_counter()
        plan(records, warm_profile)
        warm.append(time.perf_counter() - t0)
        schedules._compiled_cron.cache_clear()
        t0 = time.perf_counter()
        fires = plan(records, cold_profile)
        cold.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        store.fire(fires, max(r.next_fire_at or 0.0 for r in records))
        fire.append(time.perf_counter() - t0)
    per_def = 1e6 / rate
    warm_top, warm_steps = profile_figures(warm_profile)
    _, cold_steps = profile_figures(cold_profile)
    return {
        "batch": rate,
        "batches": len(read),
        "read_ms": round(statistics.median(read) * 1000, 2),
        "plan_ms": round(statistics.median(warm) * 1000, 2),
        "plan_cold_ms": round(statistics.median(cold) * 1000, 2),
        "fire_ms": round(statistics.median(fire) * 1000, 2),
        "fire_max_ms": round(max(fire) * 1000, 2),
        "plan_us_per_def": round(statistics.median(warm) * per_def, 1),
        "plan_cold_us_per_def": round(statistics.median(cold) * per_def, 1),
        "profile_top": warm_top,
        "profile_cumulative_pct": warm_steps,
        "profile_cold_cumulative_pct": cold_steps,
    }


def commit_floor(directory: Path, count: int = 300) -> dict[str, float]:
    """One small row per transaction, WAL and synchronous=FULL as the store has them."""
    conn = sqlite3.connect(directory / "floor.sqlite3", isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v BLOB)")
    times = []
    for _ in range(count):
        started = time.perf_counter()
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("INSERT INTO t (v) VALUES (?)", (os.urandom(64),))
        conn.execute("COMMIT")
        times.append(time.perf_counter() - started)
    conn.close()
    return lags(times)


async def timer_floor(count: int = 30) -> dict[str, float]:
    """How late asyncio wakes up for an instant on a 0.1 s grid, waiting as the scheduler
    does (an Event nobody sets, under asyncio.timeout)."""
    never = asyncio.Event()
    late = []
    for _ in range(count):
        target = math.ceil(time.time() * 10) / 10 + 0.1
        try:
            async with asyncio.timeout(target - time.time()):
                await never.wait()
        except TimeoutError:
            pass
        late.append(time.time() - target)
    return lags(late)


def next_fire_floor(path: Path, sample: int = 2000) -> float:
    """Median µs of Definition.slot_after for stored definitions (compiled, warm)."""
    documents = [
        row[0]
        for row in query(path, "SELECT document FROM job_definitions ORDER BY random() LIMIT ?", sample)
    ]
    definitions = [check_spec(decode_spec(d)) for d in documents]
    now = time.time()
    for d in definitions:
        d.slot_after(now)
    times = []
    for d in definitions:
        started = time.perf_counter()
        d.slot_after(now)
        times.append(time.perf_counter() - started)
    return round(statistics.median(times) * 1e6, 2)


async def measure(args: argparse.Namespace, info: dict[str, Any], tmp: Path) -> dict[str, Any]:
    path = tmp / DB_FILE
    out: dict[str, Any] = {}
    rss_start = rss_mb()
    store = SQLiteStore(path)
    if args.wal_autocheckpoint is not None:
        store.db._conn.execute(f"PRAGMA wal_autocheckpoint={int(args.wal_autocheckpoint)}")
    run = StoreRunner()
    log = FireLog()
    scheduler = Scheduler(store, run, time.time, on_fired=log)
    rss_before = rss_mb()
    started = time.perf_counter()
    loaded = await scheduler.load()
    load_s = time.perf_counter() - started
    rss_after = rss_mb()
    out |= {
        "loaded": loaded,
        "load_s": round(load_s, 3),
        "rss_start_mb": round(rss_start, 1),
        "rss_before_load_mb": round(rss_before, 1),
        "rss_after_load_mb": round(rss_after, 1),
        "rss_load_delta_mb": round(rss_after - rss_before, 1),
    }
    print(
        f"load: {loaded} definitions in {load_s:.3f} s; RSS {rss_before:.0f} -> {rss_after:.0f} MB",
        flush=True,
    )

    scheduler_task = asyncio.ensure_future(scheduler.run_forever())
    out["slack_a_s"] = round(info["t_a"] - time.time(), 2)
    if out["slack_a_s"] < 0.5:
        print(f"warning: the scheduler started only {out['slack_a_s']} s before window A", flush=True)

    # A: the scheduler alone.
    await sleep_until(info["t_a"] + args.seconds + 1)
    out["cancelled_after_a"] = await asyncio.to_thread(cancel_waiting, path)

    # B: the scheduler and a claimer sharing the store thread.
    claimer = Claimer(store, run)
    log.wake = claimer.wake
    claimer_task = asyncio.ensure_future(claimer.forever())
    out["slack_b_s"] = round(info["t_b"] - time.time(), 2)
    await sleep_until(info["t_b"] + args.seconds)
    deadline = time.time() + DRAIN
    while time.time() < deadline and len(claimer.claimed["hotB"]) < len(log.rows["hotB"]):
        await asyncio.sleep(0.05)
    claimer_task.cancel()
    await asyncio.gather(claimer_task, *claimer.pending, return_exceptions=True)
    log.wake = None
    out["rss_after_b_mb"] = round(rss_mb(), 1)
    out["rss_peak_b_mb"] = round(rss_mb("VmHWM"), 1)

    # Idle: the scheduler with nothing due (the next slot is window C's).
    fired_before = log.count()
    idle_for = min(args.idle_seconds, info["t_c"] - C_SETUP - time.time())
    idle_cpu, idle_wall = await cpu_over(max(1.0, idle_for))
    out |= {
        "idle_cpu_pct": round(idle_cpu, 3),
        "idle_wall_s": round(idle_wall, 1),
        "idle_fired": log.count() - fired_before,
        "idle_heap": len(scheduler),
    }
    scheduler_task.cancel()
    await asyncio.gather(scheduler_task, return_exceptions=True)
    del scheduler, scheduler_task  # the task's frame holds the scheduler and its heap

    statuses = {
        group: dict(Counter(status for (status,) in query(
            path, "SELECT status FROM jobs WHERE definition_code LIKE ?", f"{group}-%")))
        for group in ("hotA", "hotB", "rare")
    }  # fmt: skip
    for group in ("hotA", "hotB"):
        rows = log.rows[group]
        out[group] = {
            "expected": args.rate * args.seconds,
            "fired": len(rows),
            "fires_per_s": round(len(rows) / args.seconds, 1),
            "statuses": statuses[group],
            "tick": lags([created - slot for slot, created, _ in rows]),
            "commit": lags([committed - slot for slot, _, committed in rows]),
        }
    out["rare_fired"] = len(log.rows["rare"])
    ticks = [(committed - now, n) for now, committed, n in log.ticks if n >= args.rate // 2]
    out["tick_duration"] = lags([d for d, _ in ticks])
    claimed_b = claimer.claimed["hotB"]
    bursts: dict[float, list[float]] = defaultdict(list)
    for slot, _, claimed_at in claimed_b:
        bursts[slot].append(claimed_at)
    drains = [max(times) - slot for slot, times in bursts.items()]
    per_claim = [(max(t) - min(t)) / (len(t) - 1) for t in bursts.values() if len(t) > 1]
    out["hotB"] |= {
        "claimed": len(claimed_b),
        "claims_per_s": round(len(claimed_b) / args.seconds, 1),
        "start": lags([started_at - slot for slot, started_at, _ in claimed_b]),
        "claimed_lag": lags([claimed_at - slot for slot, _, claimed_at in claimed_b]),
        # per slot: when its last job was claimed, and the claimer's time per job
        "burst_last_claimed": lags(drains),
        "claim_interval_ms": round(statistics.median(per_claim) * 1000, 3) if per_claim else float("nan"),
    }

    # C: the Jobs service through the sandbox.
    out["cancelled_before_c"] = await asyncio.to_thread(cancel_waiting, path)
    out["hotC"] = await phase_c(args, info, tmp, store, run)
    out["rss_peak_mb"] = round(rss_mb("VmHWM"), 1)

    out["anatomy"] = anatomy(store, run, path, args.rate, batches=20)
    out["floor_commit"] = commit_floor(tmp)
    out["floor_timer"] = await timer_floor()
    out["floor_next_fire_us"] = next_fire_floor(path)
    run.close()
    store.close()
    return out


def report(args: argparse.Namespace, info: dict[str, Any], out: dict[str, Any]) -> dict[str, Any]:
    a, b, c, an = out["hotA"], out["hotB"], out["hotC"], out["anatomy"]
    commit_p50 = out["floor_commit"]["p50_ms"]
    print(
        f"setup: {info['definitions']} started definitions ({info['quartz']} Quartz, {info['unix']} Unix, "
        f"{info['distinct_expressions']} distinct expressions, {len(ZONES)} zones): built in "
        f"{info['build_rare_s'] + info['build_hot_s']:.1f} s, inserted in one transaction in "
        f"{info['insert_s']:.2f} s "
        f"(+ checkpoint {info['checkpoint_s']:.2f} s), {info['db_mb']} MB; {os.cpu_count()} cores"
    )
    print(
        f"memory: RSS {out['rss_before_load_mb']:.0f} MB before load, "
        f"{out['rss_after_load_mb']:.0f} MB after (+{out['rss_load_delta_mb']:.0f} MB for {out['loaded']} "
        f"heap entries); peak {out['rss_peak_b_mb']:.0f} MB through A and B, {out['rss_peak_mb']:.0f} MB "
        "with the Jobs service"
    )
    print(
        f"A, scheduler alone: {a['fired']}/{a['expected']} fired, {a['fires_per_s']} fires/s; "
        f"statuses {a['statuses']}"
    )
    print(line("tick lag (created_at - slot)", a["tick"]))
    print(line("commit lag (committed - slot)", a["commit"]))
    print(
        f"B, scheduler + claimer (no sandbox): {b['fired']} fired ({b['fires_per_s']}/s), "
        f"{b['claimed']} claimed ({b['claims_per_s']}/s); statuses {b['statuses']}"
    )
    print(line("tick lag (created_at - slot)", b["tick"]))
    print(line("commit lag (committed - slot)", b["commit"]))
    print(line("start lag (started_at - slot)", b["start"]))
    print(line("claimed lag (claim returned - slot)", b["claimed_lag"]))
    print(line("last job of a slot claimed - slot", b["burst_last_claimed"]))
    print(f"  claimer: one job claimed (and finished) every {b['claim_interval_ms']} ms within a burst")
    print(line(f"tick duration (≥{args.rate // 2} rows, A+B)", out["tick_duration"]))
    print(
        f"idle: {out['idle_cpu_pct']:.3f} % of a core over {out['idle_wall_s']} s with {out['idle_heap']} "
        f"definitions in the heap ({out['idle_fired']} fired meanwhile)"
    )
    print(
        f"C, Jobs service + sandbox at {args.sandbox_rate}/s: {c['fired']} fired, statuses {c['statuses']}; "
        f"service load {c['service_load_s']} s, slack {c['slack_s']} s"
    )
    print(line("commit lag", c["commit"]))
    print(line("start lag (started_at - slot)", c["start"]))
    print(line("done lag (finished_at - slot)", c["done"]))
    print(
        f"  service idle CPU {c['idle_cpu_pct']:.3f} % of a core over {c['idle_wall_s']} s "
        "(zygote not counted)"
    )
    print(
        f"tick anatomy, batch of {an['batch']} (median of {an['batches']}): read {an['read_ms']} ms, plan "
        f"{an['plan_ms']} ms ({an['plan_us_per_def']} µs/definition; cold cron cache "
        f"{an['plan_cold_ms']} ms, "
        f"{an['plan_cold_us_per_def']} µs/definition), fire transaction {an['fire_ms']} ms "
        f"(max {an['fire_max_ms']} ms)"
    )
    print("  plan profile (warm), % self: " + ", ".join(f"{name} {p}" for name, p in an["profile_top"][:6]))
    print(
        "  plan profile (warm), % cumulative: "
        + ", ".join(f"{k} {v}" for k, v in an["profile_cumulative_pct"].items())
    )
    print(
        "  plan profile (cold), % cumulative: "
        + ", ".join(f"{k} {v}" for k, v in an["profile_cold_cumulative_pct"].items())
    )
    print(
        f"floors: SQLite commit (WAL, FULL) p50 {commit_p50} ms p99 {out['floor_commit']['p99_ms']} ms; "
        "asyncio "
        f"timer lag p50 {out['floor_timer']['p50_ms']} ms p99 {out['floor_timer']['p99_ms']} ms; next fire "
        f"{out['floor_next_fire_us']} µs"
    )

    def ratio(x: float, y: float) -> float:
        return round(x / y, 1) if y else float("nan")

    lag_p99 = max(a["commit"]["p99_ms"], b["start"]["p99_ms"])
    passed = {
        "ledger_lag_p99": a["commit"]["p99_ms"] < TARGET_LAG_MS and b["commit"]["p99_ms"] < TARGET_LAG_MS,
        "start_lag_p99": b["start"]["p99_ms"] < TARGET_LAG_MS,
        "idle_cpu": out["idle_cpu_pct"] < TARGET_IDLE_CPU_PCT,
        "memory": out["rss_peak_b_mb"] < TARGET_RSS_MB,
        "rate": a["fired"] == a["expected"] and b["fired"] == b["expected"],
    }
    print(
        f"targets: lag p99 < {TARGET_LAG_MS:g} ms: ledger {a['commit']['p99_ms']}/{b['commit']['p99_ms']} ms "
        f"{'PASS' if passed['ledger_lag_p99'] else 'FAIL'}, start {b['start']['p99_ms']} ms "
        f"{'PASS' if passed['start_lag_p99'] else 'FAIL'}; idle CPU < {TARGET_IDLE_CPU_PCT:g} %: "
        f"{'PASS' if passed['idle_cpu'] else 'FAIL'}; memory < {TARGET_RSS_MB:g} MB: "
        f"{out['rss_peak_b_mb']:.0f} MB "
        f"{'PASS' if passed['memory'] else 'FAIL'}; every slot fired: {'PASS' if passed['rate'] else 'FAIL'}"
    )
    print(
        f"ratios: ledger lag p99 / commit p50 = {ratio(a['commit']['p99_ms'], commit_p50)}, start lag p99 / "
        f"commit p50 = {ratio(b['start']['p99_ms'], commit_p50)}, tick lag p50 / timer lag p50 = "
        f"{ratio(a['tick']['p50_ms'], out['floor_timer']['p50_ms'])}, plan per definition / next fire = "
        f"{ratio(an['plan_us_per_def'], out['floor_next_fire_us'])}"
    )
    figures = {
        "definitions": info["definitions"],
        "quartz": info["quartz"],
        "distinct_expressions": info["distinct_expressions"],
        "zones": len(ZONES),
        "rate": args.rate,
        "seconds": args.seconds,
        "wal_autocheckpoint": args.wal_autocheckpoint,
        "setup_build_s": round(info["build_rare_s"] + info["build_hot_s"], 2),
        "setup_insert_s": info["insert_s"],
        "setup_checkpoint_s": info["checkpoint_s"],
        "db_mb": info["db_mb"],
        "load_s": out["load_s"],
        "rss_before_load_mb": out["rss_before_load_mb"],
        "rss_after_load_mb": out["rss_after_load_mb"],
        "rss_load_delta_mb": out["rss_load_delta_mb"],
        "rss_peak_mb": out["rss_peak_b_mb"],
        "rss_peak_with_service_mb": out["rss_peak_mb"],
        "idle_cpu_pct": out["idle_cpu_pct"],
        "idle_wall_s": out["idle_wall_s"],
        "a_fired": a["fired"],
        "a_fires_per_s": a["fires_per_s"],
        "a_tick_lag_p50_ms": a["tick"]["p50_ms"],
        "a_tick_lag_p99_ms": a["tick"]["p99_ms"],
        "a_commit_lag_p50_ms": a["commit"]["p50_ms"],
        "a_commit_lag_p99_ms": a["commit"]["p99_ms"],
        "a_commit_lag_max_ms": a["commit"]["max_ms"],
        "b_fired": b["fired"],
        "b_fires_per_s": b["fires_per_s"],
        "b_claims_per_s": b["claims_per_s"],
        "b_commit_lag_p50_ms": b["commit"]["p50_ms"],
        "b_commit_lag_p99_ms": b["commit"]["p99_ms"],
        "b_start_lag_p50_ms": b["start"]["p50_ms"],
        "b_start_lag_p99_ms": b["start"]["p99_ms"],
        "b_start_lag_max_ms": b["start"]["max_ms"],
        "b_claimed_lag_p50_ms": b["claimed_lag"]["p50_ms"],
        "b_claimed_lag_p99_ms": b["claimed_lag"]["p99_ms"],
        "b_burst_last_claimed_p50_ms": b["burst_last_claimed"]["p50_ms"],
        "b_claim_interval_ms": b["claim_interval_ms"],
        "tick_duration_p50_ms": out["tick_duration"]["p50_ms"],
        "tick_duration_p99_ms": out["tick_duration"]["p99_ms"],
        "c_rate": args.sandbox_rate,
        "c_fired": c["fired"],
        "c_completed": c["statuses"].get("COMPLETED", 0),
        "c_start_lag_p50_ms": c["start"]["p50_ms"],
        "c_start_lag_p99_ms": c["start"]["p99_ms"],
        "c_done_lag_p50_ms": c["done"]["p50_ms"],
        "c_done_lag_p99_ms": c["done"]["p99_ms"],
        "c_service_load_s": c["service_load_s"],
        "c_service_rss_mb": c["service_rss_mb"],
        "c_service_idle_cpu_pct": c["idle_cpu_pct"],
        "tick_read_ms": an["read_ms"],
        "tick_plan_ms": an["plan_ms"],
        "tick_plan_cold_ms": an["plan_cold_ms"],
        "tick_fire_ms": an["fire_ms"],
        "tick_fire_max_ms": an["fire_max_ms"],
        "plan_us_per_def": an["plan_us_per_def"],
        "plan_cold_us_per_def": an["plan_cold_us_per_def"],
        "floor_commit_p50_ms": commit_p50,
        "floor_commit_p99_ms": out["floor_commit"]["p99_ms"],
        "floor_timer_p50_ms": out["floor_timer"]["p50_ms"],
        "floor_next_fire_us": out["floor_next_fire_us"],
        "ledger_lag_p99_vs_commit_p50": ratio(a["commit"]["p99_ms"], commit_p50),
        "start_lag_p99_vs_commit_p50": ratio(b["start"]["p99_ms"], commit_p50),
        "plan_vs_next_fire": ratio(an["plan_us_per_def"], out["floor_next_fire_us"]),
        "lag_p99_ms": lag_p99,
        "slack_a_s": out["slack_a_s"],
        "rare_fired": out["rare_fired"],
        "pass": passed,
        "pass_all": all(passed.values()),
    }
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--definitions", type=int, default=100_000)
    parser.add_argument("--seconds", type=int, default=30, help="length of windows A and B")
    parser.add_argument("--rate", type=int, default=100, help="fires per second in windows A and B")
    parser.add_argument("--idle-seconds", type=int, default=10)
    parser.add_argument("--sandbox-rate", type=int, default=20, help="fires per second in window C")
    parser.add_argument("--sandbox-seconds", type=int, default=15)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--wal-autocheckpoint",
        type=int,
        help="set this PRAGMA on the store's connection (an experiment: 0 takes checkpoints out of "
        "the measured commits; default: leave the store as it is, SQLite's 1000 pages)",
    )
    parser.add_argument("--build", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if not (1 <= args.seconds <= 600 and 1 <= args.sandbox_seconds <= 600 and args.rate >= 1):
        parser.error("windows of 1 to 600 s (hourly definitions must not fire twice), rate >= 1")

    if args.build is not None:
        print(json.dumps(build(args, args.build)))
        return

    with tempfile.TemporaryDirectory(prefix="connectord-bench-scheduler-") as name:
        tmp = Path(name)
        (tmp / KEY_FILE).write_bytes(Fernet.generate_key())
        (tmp / KEY_FILE).chmod(0o600)
        started = time.perf_counter()
        child = subprocess.run(
            [sys.executable, __file__, *sys.argv[1:], "--build", str(tmp)],
            check=True,
            capture_output=True,
            text=True,
        )
        info = json.loads(child.stdout.strip().splitlines()[-1])
        print(f"setup: {time.perf_counter() - started:.1f} s in a child process", flush=True)
        out = asyncio.run(measure(args, info, tmp))
    figures = report(args, info, out)
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
