"""Benchmark: the exec API on 1, 2 and 3 nodes sharing one PostgreSQL database, and on one
node with the embedded SQLite store, in one run.

    python bench/cluster.py [--executions 2000] [--clients 40] [--pg postgresql://postgres@127.0.0.1/postgres]

Each configuration gets a fresh database (dropped afterwards) and real ``connectord serve``
processes with a no-op connector. Clients schedule ``verify_credentials`` executions
round-robin across the nodes and long-poll each one through *another* node (following
the 303 to the result), so every result crosses nodes. Printed per configuration:
executions/s, schedule→result p50/p99, and the database transactions per execution
(``pg_stat_database``: each store call is one transaction of one or two round trips).
On a 2-core machine more nodes add overhead rather than speed: the point is to see how
much. The last line is one JSON object with every figure.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import aiohttp
import psycopg
from cryptography.fernet import Fernet

# Run as a script, bench/ is first on sys.path: its sibling loads by name (and loads its own).
_exec_bench = importlib.import_module("exec_api")
start_server = _exec_bench.start_server
install_noop = _exec_bench.install_noop


async def client(
    session: aiohttp.ClientSession,
    urls: list[str],
    first: int,
    count: int,
    latencies: list[float],
    errors: list[str],
) -> None:
    body = {"execution_type": "verify_credentials", "component": "noop", "account_data": {}}
    for n in range(count):
        node = (first + n) % len(urls)
        started = time.perf_counter()
        async with session.post(f"{urls[node]}/v1/exec/schedule", json=body) as scheduled:
            if scheduled.status != 202:
                errors.append(f"schedule {scheduled.status}")
                continue
            path = urlsplit(scheduled.headers["Location"]).path
        other = urls[(node + 1) % len(urls)]  # fetched through another node (itself when alone)
        while True:
            async with session.get(f"{other}{path}?wait=30") as answer:  # follows the 303
                if answer.status == 200 and "/exec/result/" in str(answer.url):
                    await answer.read()
                    break
                if answer.status != 200:
                    errors.append(f"poll {answer.status}")
                    break
        latencies.append((time.perf_counter() - started) * 1000)


async def drive(
    urls: list[str], auth: str, executions: int, clients: int
) -> tuple[list[float], float, list[str]]:
    latencies: list[float] = []
    errors: list[str] = []
    connector = aiohttp.TCPConnector(limit=clients * 2)
    async with aiohttp.ClientSession(headers={"Authorization": auth}, connector=connector) as session:
        await asyncio.gather(*(client(session, urls, i, 2, [], errors) for i in range(min(clients, 10))))
        started = time.perf_counter()
        await asyncio.gather(
            *(client(session, urls, i, executions // clients, latencies, errors) for i in range(clients))
        )
        return latencies, time.perf_counter() - started, errors


def transactions(admin_dsn: str, database: str) -> int:
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        conn.execute("SELECT pg_stat_clear_snapshot()")
        row = conn.execute(
            "SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = %s", (database,)
        ).fetchone()
    return int(row[0]) if row else 0


def settle_stats(admin_dsn: str, database: str) -> int:
    """Transactions counted so far; statistics reach pg_stat_database a moment after the
    transactions end, so read until two reads agree."""
    last = -1
    for _ in range(20):
        now = transactions(admin_dsn, database)
        if now == last:
            return now
        last = now
        time.sleep(0.6)
    return last


def run_configuration(
    name: str, nodes: int, store: str | None, base_env: dict[str, str], tmp: Path, args: argparse.Namespace
) -> dict[str, object]:
    database = None
    env = dict(base_env)
    if store == "postgresql":
        database = f"connectord_bench_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(args.pg, autocommit=True) as admin:
            admin.execute(f'CREATE DATABASE "{database}"')
        env["CONNECTORD_STORE_URL"] = urlunsplit(urlsplit(args.pg)._replace(path=f"/{database}"))
    env["CONNECTORD_DATA_DIR"] = str(tmp / name / "users")
    processes = []
    try:
        auth = _exec_bench.add_user(env)
        urls = []
        for i in range(nodes):
            node_env = (
                env if store != "postgresql" else env | {"CONNECTORD_DATA_DIR": str(tmp / name / str(i))}
            )
            process, url = start_server(node_env)
            processes.append(process)
            urls.append(url)
        before = settle_stats(args.pg, database) if database else 0
        latencies, wall, errors = asyncio.run(drive(urls, auth, args.executions, args.clients))
        after = settle_stats(args.pg, database) if database else 0
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(timeout=30)
            if process.stdout:
                process.stdout.close()
        if database:
            with psycopg.connect(args.pg, autocommit=True) as admin:
                admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
    ordered = sorted(latencies)
    figures: dict[str, object] = {
        "nodes": nodes,
        "store": store or "sqlite",
        "executions": len(ordered),
        "errors": len(errors),
        "per_s": round(len(ordered) / wall, 1),
        "p50_ms": round(statistics.median(ordered), 2),
        "p99_ms": round(ordered[int(len(ordered) * 0.99) - 1], 2),
    }
    if database:
        # the warm-up's executions ran inside the window too
        warmed = len(ordered) + 2 * min(args.clients, 10)
        figures["transactions_per_execution"] = round((after - before) / max(warmed, 1), 2)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--executions", type=int, default=2000)
    parser.add_argument("--clients", type=int, default=40)
    parser.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432/postgres", help="admin DSN")
    args = parser.parse_args()

    results: dict[str, dict[str, object]] = {}
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        site = tmp / "site"
        site.mkdir()
        install_noop(site)
        env = {k: v for k, v in os.environ.items() if not k.startswith("CONNECTORD_")}
        env |= {
            "PYTHONPATH": str(site),
            "CONNECTORD_LOG_LEVEL": "WARNING",
            "CONNECTORD_SECRET_KEY": Fernet.generate_key().decode(),  # one key for every node
        }
        for name, nodes, store in (
            ("sqlite-1", 1, None),
            ("pg-1", 1, "postgresql"),
            ("pg-2", 2, "postgresql"),
            ("pg-3", 3, "postgresql"),
        ):
            results[name] = figures = run_configuration(name, nodes, store, env, tmp, args)
            extra = (
                f", {figures['transactions_per_execution']} transactions/execution"
                if "transactions_per_execution" in figures
                else ""
            )
            print(
                f"{name:9} {figures['per_s']:>7} executions/s  p50 {figures['p50_ms']:>7} ms  "
                f"p99 {figures['p99_ms']:>7} ms  errors {figures['errors']}{extra}",
                flush=True,
            )
    base = float(results["sqlite-1"]["per_s"])  # type: ignore[arg-type]
    ratios = {name: round(float(r["per_s"]) / base, 3) for name, r in results.items()}  # type: ignore[arg-type]
    print(f"throughput relative to one SQLite node ({os.cpu_count()} cores): {ratios}")
    print(json.dumps({"configurations": results, "throughput_vs_sqlite_1": ratios}))


if __name__ == "__main__":
    sys.exit(main())
