"""Benchmark: what each optional confinement adds to a worker, measured where it happens.

    python bench/confinement.py [--forks 300]

A zygote-like parent (the worker's modules loaded, heap frozen) forks a child per sample,
as the zygote does: it prepares what the zygote prepares (an empty network namespace, a
Landlock ruleset), then the child does what a worker does first (its own session, dying
with its parent, not dumpable), confines itself exactly as a worker does
(``sandbox.worker._confine``) and reports how long that took. The first row, with nothing
to apply, is the baseline measured in the same run. Whole-call figures are too noisy on a
shared machine to show a fraction of a millisecond; this is what the README's table quotes.
The last line is one JSON object with the medians (µs).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import time
from typing import Any

import msgspec

from connectord.runtime.supervisor.syscall_filter import compiled_filter
from connectord.sandbox import isolation
from connectord.sandbox.confinement import Preparations
from connectord.sandbox.protocol import Limits, Spawn
from connectord.sandbox.worker import _confine

CASES: dict[str, dict[str, Any]] = {
    "nothing": {},
    "hidden data directory (default for the server)": {"hidden_paths": ["/var/lib/connectord-bench"]},
    "seccomp": {"seccomp": True},
    "landlock": {"landlock": True},
    "network = false": {"network": False},
    "seccomp + landlock + network = false": {"seccomp": True, "landlock": True, "network": False},
}


def sample(spawn: Spawn, preparations: Preparations) -> float:
    """µs the child spent confining itself; raises if the confinement was refused."""
    prepared = preparations.prepare(spawn)
    read, write = os.pipe()
    parent = os.getpid()
    pid = os.fork()
    if pid == 0:
        # what a worker does before it confines itself (the first foreign call after a
        # fork is the dearest: it is paid here, as in a worker)
        os.setsid()
        isolation.die_with_parent(parent)
        isolation.forbid_inspection()
        started = time.perf_counter_ns()
        refusal = _confine(prepared)
        spent = (time.perf_counter_ns() - started) / 1000
        os.write(write, json.dumps(spent if refusal is None else refusal.message).encode())
        os._exit(0)
    preparations.forked(prepared)
    os.close(write)
    answer = json.loads(os.read(read, 4096))
    os.close(read)
    os.waitpid(pid, 0)
    if isinstance(answer, str):
        raise SystemExit(f"refused: {answer}")
    return float(answer)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--forks", type=int, default=300)
    args = parser.parse_args()
    os.makedirs("/var/lib/connectord-bench", exist_ok=True)
    program = compiled_filter()
    preparations = Preparations(isolation.system_paths())
    spawns = {
        name: Spawn(0, "bench", msgspec.convert(limits, Limits), syscall_filter=program)
        for name, limits in CASES.items()
    }
    gc.collect()
    gc.freeze()  # as the zygote does
    samples: dict[str, list[float]] = {name: [] for name in CASES}
    for _ in range(args.forks):  # interleaved, so that the machine's moods hit all alike
        for name, spawn in spawns.items():
            samples[name].append(sample(spawn, preparations))
    medians = {name: round(statistics.median(values), 1) for name, values in samples.items()}
    base = medians["nothing"]
    print(f"{args.forks} forks each, a worker's own confinement (median µs; extra over nothing)")
    for name, median in medians.items():
        print(f"{name:45}{median:>10.1f}{median - base:>+10.1f}")
    print(json.dumps(medians))


if __name__ == "__main__":
    main()
