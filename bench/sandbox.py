"""Benchmark: the cost of a sandboxed call, against the floors measured in the same run.

    python bench/sandbox.py [--calls 5000] [--callers 2]
                            [--limits '{"seccomp": true, "landlock": true, "network": false}']

Runs trivial ``verify_credentials`` calls of a no-op connector through connectord's
supervisor, ``per-call`` and then ``pooled``, with CALLERS concurrent callers, and in the
same run the floors: a raw ``os.fork`` per call from a small warmed parent answering over
a pipe, and a raw persistent worker over a pipe (bench/_floors.py). It then checks the
supervisor for leaks (zombies, descriptors, RSS) after all those calls. The last line
printed is one JSON object with the figures.

What the supervisor's look at a pooled worker's cgroups after each call costs
(``WorkerCgroups.holds_only``, reading its leaves' ``cgroup.procs``) is measured in the same
run twice: pooled calls with and without it, in alternating rounds (``pooled_judged`` and
``pooled_unjudged``), and the look alone, on an idle pooled worker's leaf (``procs_check_us``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec

from connectord.plugins.manager import Selection
from connectord.runtime.calls import run_in_sandbox
from connectord.sandbox.calls import Call
from connectord.sandbox.cgroups import Cgroups, WorkerCgroups
from connectord.sandbox.outcomes import Succeeded
from connectord.sandbox.policy import ConnectorPolicy, SandboxPolicy
from connectord.sandbox.protocol import Limits
from connectord.sandbox.supervisor import Supervisor

HERE = Path(__file__).resolve().parent
NOOP = """
import connectord

@connectord.hookimpl
def describe_connector():
    return connectord.ConnectorInfo(id=__name__.removeprefix("connectord_bench_"), title="No-op", version="1")

@connectord.hookimpl
def verify_credentials(credentials):
    return connectord.verified()
"""


def install_noop(site: Path, connector_id: str = "noop", source: str = NOOP) -> None:
    """A connector (by default the no-op one) installed as ``connector_id`` in the site
    directory ``site``."""
    module = f"connectord_bench_{connector_id}"
    (site / f"{module}.py").write_text(source)
    dist_info = site / f"{module}-1.dist-info"
    dist_info.mkdir()
    (dist_info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {module}\nVersion: 1\n")
    (dist_info / "entry_points.txt").write_text(f"[connectord.connectors]\n{connector_id} = {module}\n")


def summary(latencies_us: list[float], wall_s: float) -> dict[str, float]:
    ordered = sorted(latencies_us)
    return {
        "per_s": round(len(ordered) / wall_s, 1),
        "median_us": round(statistics.median(ordered), 1),
        "p99_us": round(ordered[int(len(ordered) * 0.99) - 1], 1),
    }


def floor(kind: str, calls: int, callers: int) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, "-I", str(HERE / "_floors.py"), kind, str(calls), str(callers)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    data = json.loads(out)
    return summary(data["latencies_us"], data["wall_s"])


async def timed_calls(
    supervisor: Supervisor, isolation: Any, calls: int, callers: int
) -> tuple[list[float], float]:
    """Latencies (µs) of ``calls`` calls made by ``callers`` concurrent callers, and the wall time (s)."""
    call = Call(connector="noop", method="verify_credentials")
    latencies: list[float] = []

    async def caller(count: int) -> None:
        for _ in range(count):
            started = time.perf_counter()
            result = await run_in_sandbox(supervisor, call, isolation=isolation)
            latencies.append((time.perf_counter() - started) * 1e6)
            if not isinstance(result.outcome, Succeeded):
                raise SystemExit(f"unexpected outcome: {result.outcome}")

    started = time.perf_counter()
    await asyncio.gather(*(caller(calls // callers) for _ in range(callers)))
    return latencies, time.perf_counter() - started


async def connectord_run(
    supervisor: Supervisor, isolation: Any, calls: int, callers: int
) -> dict[str, float]:
    await timed_calls(supervisor, isolation, min(200, calls), callers)  # warm up
    return summary(*await timed_calls(supervisor, isolation, calls, callers))


async def judged_or_not(
    supervisor: Supervisor, calls: int, callers: int, rounds: int = 10
) -> list[dict[str, float]]:
    """Pooled calls with and without the supervisor's look at the worker's cgroups, in
    alternating rounds, so that the machine's load weighs on both alike."""
    both: list[tuple[list[float], float]] = [([], 0.0), ([], 0.0)]
    for _ in range(rounds):
        for index, judge in enumerate((contextlib.nullcontext, procs_unjudged)):
            with judge():
                latencies, wall = await timed_calls(supervisor, "pooled", calls // rounds, callers)
            both[index] = (both[index][0] + latencies, both[index][1] + wall)
    return [summary(*measured) for measured in both]


def zombies_of(pid: int) -> int:
    count = 0
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if fields[0] == "Z" and int(fields[1]) == pid:
                count += 1
    return count


def rss_kb(pid: int) -> int:
    return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE") // 1024


@contextlib.contextmanager
def procs_unjudged() -> Iterator[None]:
    """Pooled workers reused on their own word, as before the supervisor looked."""
    judge = WorkerCgroups.holds_only
    WorkerCgroups.holds_only = lambda self, pid: True  # type: ignore[method-assign]
    try:
        yield
    finally:
        WorkerCgroups.holds_only = judge  # type: ignore[method-assign]


def procs_check_us(supervisor: Supervisor, rounds: int = 20000) -> float | None:
    """The supervisor's look at one idle pooled worker's cgroups, in µs."""
    worker = next((w for workers in supervisor._idle.values() for w in workers), None)
    if worker is None or not worker.cgroups.paths:
        return None
    assert worker.cgroups.holds_only(worker.pid)
    started = time.perf_counter()
    for _ in range(rounds):
        worker.cgroups.holds_only(worker.pid)
    return round((time.perf_counter() - started) / rounds * 1e6, 2)


async def measure(calls: int, callers: int, limits: Limits) -> dict[str, Any]:
    policy = SandboxPolicy(concurrency=callers, per_connector=callers, default=ConnectorPolicy(limits=limits))
    supervisor = Supervisor(Selection(), policy, Cgroups.detect())
    await supervisor.start()
    try:
        # A first call starts the connector's zygote (its socket is no leak) and imports
        # what checking a call needs (neither is growth).
        await run_in_sandbox(supervisor, Call(connector="noop", method="verify_credentials"))
        fds_before, rss_before = len(os.listdir("/proc/self/fd")), rss_kb(os.getpid())
        per_call = await connectord_run(supervisor, "per-call", calls, callers)
        pooled = await connectord_run(supervisor, "pooled", calls, callers)
        check_us = procs_check_us(supervisor)
        judged, unjudged = await judged_or_not(supervisor, calls, callers)
        supervisor.retire_idle()  # their sockets are no leak
        await asyncio.sleep(0.5)  # let the last exits be reaped
        zygotes = [zygote.pid for zygote in supervisor.zygotes if zygote.pid is not None]
        leaks = {
            "fds_before": fds_before,
            "fds_after": len(os.listdir("/proc/self/fd")),
            "rss_kb_before": rss_before,
            "rss_kb_after": rss_kb(os.getpid()),
            "zombies": sum(zombies_of(pid) for pid in zygotes) + zombies_of(os.getpid()),
            "zygote_rss_kb": rss_kb(zygotes[-1]),
            "cgroups": supervisor.cgroups.available,
        }
    finally:
        await supervisor.close()
    judged = {"pooled_judged": judged, "pooled_unjudged": unjudged, "procs_check_us": check_us}
    return {"per_call": per_call, "pooled": pooled, "judged": judged, "leaks": leaks}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--calls", type=int, default=5000)
    parser.add_argument("--callers", type=int, default=2)
    parser.add_argument(
        "--limits",
        type=json.loads,
        default={},
        help='limits changed from the defaults, as JSON: \'{"seccomp": true, "landlock": true}\'',
    )
    args = parser.parse_args()
    limits = msgspec.convert(args.limits, Limits)

    fork_floor = floor("fork", args.calls, args.callers)
    worker_floor = floor("worker", args.calls, args.callers)
    with tempfile.TemporaryDirectory() as site:
        Path(site).chmod(0o755)  # its zygote may run as a user of its own (run as root)
        install_noop(Path(site))
        sys.path.insert(0, site)
        ours = asyncio.run(measure(args.calls, args.callers, limits))

    rows = [
        ("fork floor", fork_floor),
        ("connectord per-call", ours["per_call"]),
        ("persistent-worker floor", worker_floor),
        ("connectord pooled", ours["pooled"]),
        ("  alternating: judged", ours["judged"]["pooled_judged"]),
        ("  alternating: unjudged", ours["judged"]["pooled_unjudged"]),
    ]
    print(
        f"{args.calls} trivial verify_credentials calls, {args.callers} concurrent callers, "
        f"{os.cpu_count()} cores"
    )
    print(f"{'':26}{'calls/s':>10}{'median µs':>12}{'p99 µs':>10}{'p99/median':>12}")
    for name, row in rows:
        ratio = row["p99_us"] / row["median_us"]
        print(f"{name:26}{row['per_s']:>10}{row['median_us']:>12}{row['p99_us']:>10}{ratio:>12.1f}")
    figures = {
        "calls": args.calls,
        "callers": args.callers,
        "limits": args.limits,
        "per_call_per_s": ours["per_call"]["per_s"],
        "per_call_median_us": ours["per_call"]["median_us"],
        "per_call_p99_us": ours["per_call"]["p99_us"],
        "pooled_per_s": ours["pooled"]["per_s"],
        "pooled_median_us": ours["pooled"]["median_us"],
        "pooled_p99_us": ours["pooled"]["p99_us"],
        "pooled_judged_per_s": ours["judged"]["pooled_judged"]["per_s"],
        "pooled_judged_median_us": ours["judged"]["pooled_judged"]["median_us"],
        "pooled_unjudged_per_s": ours["judged"]["pooled_unjudged"]["per_s"],
        "pooled_unjudged_median_us": ours["judged"]["pooled_unjudged"]["median_us"],
        "procs_check_us": ours["judged"]["procs_check_us"],
        "fork_floor_per_s": fork_floor["per_s"],
        "fork_floor_median_us": fork_floor["median_us"],
        "fork_floor_p99_us": fork_floor["p99_us"],
        "worker_floor_per_s": worker_floor["per_s"],
        "worker_floor_median_us": worker_floor["median_us"],
        "worker_floor_p99_us": worker_floor["p99_us"],
        "per_call_vs_floor": round(ours["per_call"]["per_s"] / fork_floor["per_s"], 3),
        "pooled_vs_floor": round(ours["pooled"]["per_s"] / worker_floor["per_s"], 3),
        **ours["leaks"],
    }
    print(
        f"per-call vs fork floor: {figures['per_call_vs_floor']:.0%}   "
        f"pooled vs persistent-worker floor: {figures['pooled_vs_floor']:.0%}"
    )
    print(
        f"after {2 * args.calls} calls: zombies {figures['zombies']}, supervisor fds "
        f"{figures['fds_before']} -> {figures['fds_after']}, RSS {figures['rss_kb_before']} -> "
        f"{figures['rss_kb_after']} kB"
    )
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
