"""Benchmark: executions end to end through HTTP on loopback, with the SQLite store and the
sandbox, against the sandbox's fork floor measured in the same run.

    python bench/exec_api.py [--executions 5000] [--clients 50]

Starts a real ``connectord serve`` with a no-op connector, then CLIENTS concurrent clients
each schedule ``verify_credentials`` executions and long-poll (``?wait=``, following the
303) until the result; prints throughput and schedule→result latency. The last line is
one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import importlib.util
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import ModuleType

import aiohttp

HERE = Path(__file__).resolve().parent


def _sibling(name: str) -> ModuleType:
    """bench/ is a folder of scripts, not a package: load bench/sandbox.py by its path."""
    spec = importlib.util.spec_from_file_location(f"bench_{name}", HERE / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_sandbox_bench = _sibling("sandbox")
floor, install_noop = _sandbox_bench.floor, _sandbox_bench.install_noop

LISTENING = re.compile(r"connectord listening on (http://\S+)")
CONNECTORD = shutil.which("connectord", path=str(Path(sys.executable).parent)) or "connectord"


def start_server(
    env: dict[str, str], launcher: list[str] | None = None, stderr: int | None = None
) -> tuple[subprocess.Popen[str], str]:
    """``connectord serve`` on a free port (``launcher``: what runs it instead of the
    ``connectord`` script); the process and its URL."""
    process = subprocess.Popen(
        [*(launcher or [CONNECTORD]), "serve", "--port", "0"],
        env=env,
        text=True,
        stdout=subprocess.PIPE,
        stderr=stderr,
    )
    assert process.stdout is not None
    match = LISTENING.search(process.stdout.readline())
    if not match:
        process.kill()
        raise SystemExit("the server did not start")
    return process, match.group(1)


def add_user(env: dict[str, str], email: str = "bench@example.test") -> str:
    """A user of the server ``env`` configures; its Basic Authorization header."""
    key = subprocess.run(
        [CONNECTORD, "users", "add", email], env=env, check=True, capture_output=True, text=True
    ).stdout.strip()
    return "Basic " + base64.b64encode(f"{email}:{key}".encode()).decode()


async def client(
    session: aiohttp.ClientSession, url: str, count: int, latencies: list[float], errors: list[str]
) -> None:
    body = {"execution_type": "verify_credentials", "component": "noop", "account_data": {}}
    for _ in range(count):
        started = time.perf_counter()
        async with session.post(f"{url}/v1/exec/schedule", json=body) as scheduled:
            if scheduled.status != 202:
                errors.append(f"schedule {scheduled.status}")
                continue
            poll = scheduled.headers["Location"]
        while True:
            async with session.get(f"{poll}?wait=30") as answer:  # follows the 303 to the result
                if answer.status == 200 and "/exec/result/" in str(answer.url):
                    await answer.read()
                    break
                if answer.status != 200:
                    errors.append(f"poll {answer.status}")
                    break
        latencies.append((time.perf_counter() - started) * 1000)


async def drive(url: str, auth: str, executions: int, clients: int) -> tuple[list[float], float, list[str]]:
    latencies: list[float] = []
    errors: list[str] = []
    connector = aiohttp.TCPConnector(limit=clients)
    async with aiohttp.ClientSession(headers={"Authorization": auth}, connector=connector) as session:
        await asyncio.gather(
            *(client(session, url, 2, [], errors) for _ in range(min(clients, 10)))
        )  # warm up
        started = time.perf_counter()
        await asyncio.gather(
            *(client(session, url, executions // clients, latencies, errors) for _ in range(clients))
        )
        return latencies, time.perf_counter() - started, errors


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--executions", type=int, default=5000)
    parser.add_argument("--clients", type=int, default=50)
    args = parser.parse_args()

    fork_floor = floor("fork", 2000, 2)
    with tempfile.TemporaryDirectory() as tmp:
        site, data = Path(tmp, "site"), Path(tmp, "data")
        site.mkdir()
        install_noop(site)
        env = {k: v for k, v in os.environ.items() if not k.startswith("CONNECTORD_")}
        env |= {"CONNECTORD_DATA_DIR": str(data), "PYTHONPATH": str(site), "CONNECTORD_LOG_LEVEL": "WARNING"}
        auth = add_user(env)
        process, url = start_server(env)
        try:
            latencies, wall, errors = asyncio.run(drive(url, auth, args.executions, args.clients))
        finally:
            process.terminate()
            process.wait(timeout=30)
            if process.stdout:
                process.stdout.close()

    ordered = sorted(latencies)
    p50 = statistics.median(ordered)
    p99 = ordered[int(len(ordered) * 0.99) - 1]
    per_s = len(ordered) / wall
    floor_p50_ms = fork_floor["median_us"] / 1000
    figures = {
        "executions": len(ordered),
        "clients": args.clients,
        "errors": len(errors),
        "per_s": round(per_s, 1),
        "p50_ms": round(p50, 2),
        "p99_ms": round(p99, 2),
        "fork_floor_per_s": fork_floor["per_s"],
        "fork_floor_p50_ms": round(floor_p50_ms, 3),
        "throughput_vs_floor": round(per_s / fork_floor["per_s"], 3),
        "p50_vs_floor_p50": round(p50 / floor_p50_ms, 1),
    }
    print(
        f"{len(ordered)} executions by {args.clients} long-polling clients, {os.cpu_count()} cores; "
        f"{len(errors)} errors"
    )
    print(f"end to end: {per_s:.0f} executions/s, schedule→result p50 {p50:.1f} ms, p99 {p99:.1f} ms")
    print(f"fork floor: {fork_floor['per_s']:.0f} calls/s, p50 {floor_p50_ms:.2f} ms")
    print(
        f"throughput vs floor {figures['throughput_vs_floor']:.0%}, "
        f"p50 vs floor p50: {figures['p50_vs_floor_p50']} times"
    )
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
