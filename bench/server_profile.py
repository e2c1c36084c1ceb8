"""Profile: where a ``connectord serve`` process's CPU goes per execution, by component.

    python bench/server_profile.py [--tasks 2000]

Starts the server of bench/peers.py (SQLite store, no-op connectors, default logging) under
bench/_profiled_serve.py, then for ``pooled`` and ``per-call`` runs one client's batch
(enqueue ``--tasks``, then collect every result) and measures the server process alone
(not its zygotes and workers):

- each of its threads' CPU over the batch, from ``/proc/PID/task``: the event loop (main
  thread), the store's thread (SQLite statements and commits), any other;
- the main thread split by component, in a second batch: cProfile counting CPU time
  (``time.thread_time``), each function's own time charged to the component of its file
  (a built-in's, such as a socket send, to its caller's), see ``COMPONENTS``. cProfile adds
  about the same cost to every call it records (here it doubled the main thread's CPU):
  what the profiled batch took beyond the unprofiled one is taken off each component in
  proportion to its calls, and the shares are applied to the unprofiled milliseconds.

py-spy was tried first: its idle detection counted threads waiting in epoll, on a queue or
in fsync as busy here, so its samples are wall time, not CPU. The last line is one JSON
object.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import pstats
import re
import signal
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
CLOCK_TICK = os.sysconf("SC_CLK_TCK")

#: Components, tried in this order on "file:function" of the function whose own time it is.
COMPONENTS: list[tuple[str, re.Pattern[str]]] = [
    ("auth: principal look-ups, key hashing", re.compile(r"api/auth\.py|hash_api_key|_hashlib")),
    ("store calls (event-loop side)", re.compile(r"runtime/store/|sqlite3")),
    (
        "encoding: JSON, msgpack, sealing",
        re.compile(
            r"secrets\.py|cryptography|msgspec|json/|results\.py|body\.py|responses\.py|bodies\.py|base64"
        ),
    ),
    ("sandbox supervisor, zygote client", re.compile(r"sandbox/")),
    (
        "logging, metrics",
        re.compile(r"logging/|log_context|log_format|http_log|prometheus_client|metrics\.py|observe\.py"),
    ),
    ("execution service, calls, waiters", re.compile(r"runtime/")),
    ("HTTP: aiohttp, routes, handlers", re.compile(r"aiohttp|multidict|yarl|api/|http/")),
    ("event loop: asyncio, selectors, sockets", re.compile(r"asyncio/|selectors|socket|epoll|select")),
]
OTHER = "other"


def component(filename: str, function: str) -> str:
    where = f"{filename}:{function}"
    for name, pattern in COMPONENTS:
        if pattern.search(where):
            return name
    return OTHER


def components(stats: dict[Any, Any]) -> tuple[Counter[str], Counter[str]]:
    """Own CPU seconds and calls by component; a built-in's charged to its callers'."""
    seconds: Counter[str] = Counter()
    calls: Counter[str] = Counter()
    for (filename, _, function), (_, count, own, _, callers) in stats.items():
        by_name = component(filename, function)
        if filename != "~" or by_name != OTHER or not callers:
            seconds[by_name] += own
            calls[by_name] += count
            continue
        for (caller_file, _, caller_function), caller_stats in callers.items():
            by_caller = component(caller_file, caller_function)
            seconds[by_caller] += caller_stats[2]
            calls[by_caller] += caller_stats[1]
    return seconds, calls


def corrected(seconds: Counter[str], calls: Counter[str], unprofiled: float) -> dict[str, float]:
    """Each component's share of the main thread's CPU without the profiler: cProfile costs
    about the same for every call it records, so what the profiled run took beyond the
    unprofiled one (``unprofiled``, seconds) is taken off each component by its calls."""
    profiled = sum(seconds.values())
    per_call = max(0.0, profiled - unprofiled) / (sum(calls.values()) or 1)
    left = {name: max(0.0, seconds[name] - per_call * calls[name]) for name in seconds}
    total = sum(left.values()) or 1.0
    return {name: share / total for name, share in sorted(left.items(), key=lambda item: -item[1])}


def thread_cpu(pid: int) -> dict[str, float]:
    """CPU seconds of each thread of ``pid`` by name (the main thread as "main")."""
    found: dict[str, float] = {}
    for entry in os.scandir(f"/proc/{pid}/task"):
        try:
            stat = Path(entry.path, "stat").read_text()
        except OSError:
            continue
        name = "main" if entry.name == str(pid) else stat[stat.index("(") + 1 : stat.rindex(")")]
        fields = stat.rsplit(")", 1)[1].split()
        found[name] = found.get(name, 0.0) + (int(fields[11]) + int(fields[12])) / CLOCK_TICK
    return found


def profile(system: Any, tasks: int, out: Path) -> dict[str, Any]:
    """A batch unprofiled (the CPU per thread), then one profiled (the split)."""
    pid = system.server.process.pid
    before = thread_cpu(pid)
    figures = system.batch(tasks).figures()
    after = thread_cpu(pid)
    threads = {name: (after[name] - before.get(name, 0.0)) * 1000 / tasks for name in after}
    out.unlink(missing_ok=True)
    os.kill(pid, signal.SIGUSR1)
    system.batch(tasks)
    os.kill(pid, signal.SIGUSR2)
    for _ in range(100):
        if out.exists() and out.stat().st_size:
            break
        time.sleep(0.1)
    time.sleep(0.2)
    stats = pstats.Stats(str(out))
    seconds, calls = components(stats.stats)  # type: ignore[attr-defined]
    main_ms = threads.get("main", 0.0)
    return {
        "per_s": round(figures["per_s"], 1),
        "server_ms": round(figures["main_ms"], 3),
        "threads_ms": {
            # Python names no thread for the system: the other busy one is the store's.
            ("main" if name == "main" else f"other threads ('{name}': the store's)"): round(ms, 3)
            for name, ms in sorted(threads.items(), key=lambda x: -x[1])
            if ms
        },
        "main_thread": {
            name: round(share, 3) for name, share in corrected(seconds, calls, main_ms * tasks / 1000).items()
        },
        "calls_per_execution": round(sum(calls.values()) / tasks),
        "top_functions": top_functions(stats),
    }


def top_functions(stats: pstats.Stats, count: int = 15) -> list[list[Any]]:
    rows = stats.stats  # type: ignore[attr-defined]
    total = sum(row[2] for row in rows.values()) or 1.0
    ordered = sorted(rows.items(), key=lambda item: -item[1][2])[:count]
    return [
        [f"{Path(f).name if f != '~' else ''}:{fn}", round(row[2] / total, 3)] for (f, _, fn), row in ordered
    ]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--tasks", type=int, default=2000)
    args = parser.parse_args()
    peers = importlib.import_module("peers")  # bench/ is on the path of its scripts
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp, "profile.pstats")
        launcher = [sys.executable, str(HERE / "_profiled_serve.py"), str(out)]
        server = peers.ConnectordServer(Path(tmp), 0, launcher=launcher)
        try:
            for component_id, name in (("pooled", "pooled"), ("noop", "per-call")):
                system = peers.ConnectordSystem(server, component_id, f"connectord {name}")
                results[name] = profile(system, args.tasks, out)
        finally:
            server.close()
    for name, found in results.items():
        threads = ", ".join(f"{thread} {ms:.2f}" for thread, ms in found["threads_ms"].items())
        print(
            f"\n{name}: {found['per_s']}/s; server CPU {found['server_ms']:.2f} ms per execution: {threads}"
        )
        main_ms = found["threads_ms"].get("main", 0.0)
        print(
            f"  main thread (event loop), {main_ms:.2f} ms, by component (cProfile, CPU time, "
            f"{found['calls_per_execution']} calls per execution):"
        )
        for part, share in found["main_thread"].items():
            print(f"    {part:42}{share:>7.1%}{share * main_ms:>8.3f} ms")
        print("  functions with the most own time on the main thread:")
        for function, share in found["top_functions"]:
            print(f"    {share:>6.1%}  {function}")
    print(json.dumps({"tasks": args.tasks, **results}))


if __name__ == "__main__":
    main()
