"""Benchmark: the supervisor's CPU per call for a connector that logs one huge line.

    python bench/huge_log_line.py [--mib 15] [--calls 20]

Runs ``verify_credentials`` calls with a secret credential (so there is something to
redact) of a connector that logs one line of MIB MiB, then of one that logs a short line,
through connectord's supervisor; the supervisor's own CPU time (this process: reading the
frame, decoding, cutting, redacting) is measured, the workers' is not. The last line
printed is one JSON object: milliseconds of CPU per call for each, and their difference.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path

from connectord.plugins.manager import Selection
from connectord.runtime.calls import run_in_sandbox
from connectord.sandbox.calls import Call
from connectord.sandbox.cgroups import Cgroups
from connectord.sandbox.outcomes import Succeeded
from connectord.sandbox.policy import ConnectorPolicy, SandboxPolicy
from connectord.sandbox.supervisor import Supervisor

LOGGER = """
import logging

import connectord

@connectord.hookimpl
def describe_connector():
    schema = {"type": "object", "properties": {"token": {"type": "string", "secret": True},
                                               "size": {"type": "integer"}}}
    return connectord.ConnectorInfo(id="logger", title="Logger", version="1", credentials_schema=schema)

@connectord.hookimpl
def verify_credentials(credentials):
    logging.getLogger("bench").warning("x" * credentials["size"])
    return connectord.verified()
"""


def install(site: Path) -> None:
    (site / "connectord_bench_logger.py").write_text(LOGGER)
    dist_info = site / "connectord_bench_logger-1.dist-info"
    dist_info.mkdir()
    (dist_info / "METADATA").write_text("Metadata-Version: 2.1\nName: connectord-bench-logger\nVersion: 1\n")
    (dist_info / "entry_points.txt").write_text("[connectord.connectors]\nlogger = connectord_bench_logger\n")


async def cpu_ms_per_call(supervisor: Supervisor, size: int, calls: int) -> float:
    call = Call(
        connector="logger",
        method="verify_credentials",
        credentials={"token": "tok-bench-secret-1", "size": size},
    )
    await run_in_sandbox(supervisor, call)  # warm
    started = time.process_time()
    for _ in range(calls):
        result = await run_in_sandbox(supervisor, call)
        assert isinstance(result.outcome, Succeeded), result.outcome
    return (time.process_time() - started) * 1000 / calls


async def main(mib: int, calls: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        install(Path(tmp))
        sys.path.insert(0, tmp)
        policy = SandboxPolicy(default=ConnectorPolicy(timeouts={"verify_credentials": 60}))
        supervisor = Supervisor(Selection(allow=frozenset({"logger"})), policy, Cgroups(None, None))
        await supervisor.start()
        try:
            huge = await cpu_ms_per_call(supervisor, mib * 1024 * 1024, calls)
            short = await cpu_ms_per_call(supervisor, 100, calls)
        finally:
            await supervisor.close()
    return {
        "mib": mib,
        "huge_ms": round(huge, 2),
        "short_ms": round(short, 2),
        "line_ms": round(huge - short, 2),
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--mib", type=int, default=15)
    parser.add_argument("--calls", type=int, default=20)
    args = parser.parse_args()
    print(json.dumps(asyncio.run(main(args.mib, args.calls))))
