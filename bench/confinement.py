"""Benchmark: what confinement costs, measured where it happens.

    python bench/confinement.py [--forks 300]

Two parts, each interleaved over its cases so that the machine's moods hit all alike:

- **Per worker** (paid on every per-call call): a zygote-like parent (the worker's modules
  loaded, heap frozen) prepares what the zygote prepares for a worker (its temporary
  directories, its Landlock ruleset), forks, and the child confines itself exactly as a
  worker does (``sandbox.worker._confine``); then the parent removes the directories. The
  row "nothing" (no directory, no domain) is the baseline of the same run.
- **Per zygote** (paid once per connector start, and by the process describing it): a
  child confines itself as a zygote does before importing its connector
  (``sandbox.enclosure.enclose``: its own view with the data directory hidden and a
  fresh /tmp, network, Landlock, seccomp, no capabilities; run as root, also as a user of
  its own, with the directories it may not pass covered). A worker inherits its zygote's
  user with the fork: that costs it nothing.

The last line is one JSON object with the medians (µs).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

from connectord.sandbox import isolation, landlock
from connectord.sandbox.confinement import Preparations, Prepared, remove_trees
from connectord.sandbox.enclosure import enclose
from connectord.sandbox.protocol import Hello, Limits, Preload, Spawn
from connectord.sandbox.syscall_filter import compiled_filter
from connectord.sandbox.user_ids import DEFAULT, own_slot
from connectord.sandbox.worker import _confine

HIDDEN = "/var/lib/connectord-bench"
WORKER_CASES: dict[str, dict[str, Any]] = {
    "landlock = false (signal scoping only)": {"landlock": False},
    "landlock (the default)": {"landlock": True},
}
#: Each case's limits, and whether it becomes a user of its own.
ZYGOTE_CASES: dict[str, tuple[dict[str, Any], bool]] = {
    "view only (hidden paths, fresh /tmp)": ({"landlock": False, "seccomp": False}, False),
    "+ landlock, seccomp (no user of its own)": ({"landlock": True, "seccomp": True}, False),
    "+ its own user (the default, as root)": ({"landlock": True, "seccomp": True}, True),
    "the default + network = false": ({"landlock": True, "seccomp": True, "network": False}, True),
}


def in_child(work: Callable[[int], float]) -> float:
    """Run ``work`` in a forked child (given the descriptor it answers on); the µs it reports."""
    read, write = os.pipe()
    parent = os.getpid()
    pid = os.fork()
    if pid == 0:
        os.setsid()
        isolation.die_with_parent(parent)
        isolation.forbid_inspection()
        try:
            os.write(write, json.dumps(work(write)).encode())
        except BaseException as exc:
            os.write(write, json.dumps(f"{type(exc).__name__}: {exc}").encode())
        os._exit(0)
    os.close(write)
    answer = json.loads(os.read(read, 4096))
    os.close(read)
    os.waitpid(pid, 0)
    if isinstance(answer, str):
        raise SystemExit(f"refused: {answer}")
    return float(answer)


def worker_sample(spawn: Spawn | None, preparations: Preparations) -> float:
    """µs of the zygote's preparation and removal plus the worker's own confinement."""
    started = time.perf_counter_ns()
    prepared = preparations.prepare(spawn, []) if spawn is not None else Prepared()
    zygote_ns = time.perf_counter_ns() - started

    def confine(_: int) -> float:
        begun = time.perf_counter_ns()
        refusal = _confine(prepared)
        if refusal is not None:
            raise OSError(0, refusal.message)
        return (time.perf_counter_ns() - begun) / 1000

    spent = in_child(confine)
    started = time.perf_counter_ns()
    preparations.forked(prepared)
    remove_trees(prepared.temporary)
    zygote_ns += time.perf_counter_ns() - started
    return spent + zygote_ns / 1000


def zygote_sample(hello: Hello) -> float:
    def confine(answer: int) -> float:
        begun = time.perf_counter_ns()
        enclose(hello, answer)
        return (time.perf_counter_ns() - begun) / 1000

    return in_child(confine)


def medians_of(samples: dict[str, list[float]]) -> dict[str, float]:
    return {name: round(statistics.median(values), 1) for name, values in samples.items()}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--forks", type=int, default=300)
    args = parser.parse_args()
    if landlock.abi_version() < 1:
        raise SystemExit("this kernel has no Landlock: nothing to measure")
    os.makedirs(HIDDEN, exist_ok=True)
    # As a zygote: its workers' directories are made on its own tmpfs (on this disk's
    # /tmp, a directory made and removed costs 0.3 ms of journaling instead of 0.01).
    isolation.enter_own_view([HIDDEN], [sys.prefix, *sys.path])
    isolation.no_new_privileges()  # a zygote's workers inherit it (drop_capabilities)
    preparations = Preparations(isolation.system_paths())
    workers: dict[str, Spawn | None] = {"nothing": None}
    workers |= {name: Spawn(1, "bench", Limits(**limits)) for name, limits in WORKER_CASES.items()}
    source = Preload("bench", "bench", "bench")
    root = os.geteuid() == 0
    zygotes = {
        name: Hello(
            sys.path,
            source,
            Limits(hidden_paths=[HIDDEN], **limits),
            compiled_filter(limits.get("network", True)),
            user_id=own_slot("bench", DEFAULT) if own_user else None,
        )
        for name, (limits, own_user) in ZYGOTE_CASES.items()
        if root or not own_user
    }
    gc.collect()
    gc.freeze()  # as the zygote does
    per_worker: dict[str, list[float]] = {name: [] for name in workers}
    per_zygote: dict[str, list[float]] = {name: [] for name in zygotes}
    for _ in range(args.forks):
        for name, spawn in workers.items():
            per_worker[name].append(worker_sample(spawn, preparations))
    for _ in range(max(10, args.forks // 10)):
        for name, hello in zygotes.items():
            per_zygote[name].append(zygote_sample(hello))
    worker_medians, zygote_medians = medians_of(per_worker), medians_of(per_zygote)
    base = worker_medians["nothing"]
    print(f"per worker, {args.forks} forks each (median µs; extra over nothing)")
    for name, median in worker_medians.items():
        print(f"  {name:45}{median:>10.1f}{median - base:>+10.1f}")
    print("per zygote, once per connector start (median µs)")
    for name, median in zygote_medians.items():
        print(f"  {name:45}{median:>10.1f}")
    print(json.dumps({"per_worker": worker_medians, "per_zygote": zygote_medians}))


if __name__ == "__main__":
    main()
