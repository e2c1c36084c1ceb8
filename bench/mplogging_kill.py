"""Does a killed worker poison multiprocessing-logging for every later worker?

Reproduces, with nothing but the standard library, msgspec and multiprocessing-logging:

A. The library. ``install_mp_handler`` wraps a logger's handlers; every forked child then
   sends records through one ``multiprocessing.Queue`` shared by all children. The queue's
   feeder thread in each child holds the queue's cross-process write lock (a POSIX
   semaphore) while it writes a record into the pipe. A child killed (SIGTERM, SIGKILL) or
   leaving with ``os._exit`` while its feeder holds that lock never releases it, so every
   later child's feeder blocks on it, and the later child hangs at exit when
   multiprocessing joins that feeder thread.
B. The alternative. Each child owns a socket to the parent and sends one length-prefixed
   msgpack frame per record with one ``sendall``; there is no lock shared between
   processes, and a record that left the child is in the kernel buffer, so a kill loses
   at most the record being written.

For both it kills children mid-logging, probes whether the library's lock was left held,
starts further children that log a few records and exit normally, and counts those that
do not exit in time (hung) and the records that never reached the parent. It also
measures the cost per record of each transport on a clean, unkilled child.

Run from the project root (about 50 s on 2 cores; it kills and reaps every child it started):

    .venv/bin/python bench/mplogging_kill.py

The last line of output is one JSON object with the results.
"""

from __future__ import annotations

import argparse
import json
import logging
import mmap
import multiprocessing
import os
import random
import signal
import socket
import statistics
import struct
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import metadata
from multiprocessing.process import BaseProcess
from typing import Protocol

import msgspec
import multiprocessing_logging

# The library only supports the fork start method (install_mp_handler asserts it): children
# must inherit the handler and its queue.
FORK = multiprocessing.get_context("fork")

LIB_LOGGER = "bench.mplogging"
PIPE_LOGGER = "bench.pipe"
NOP_LOGGER = "bench.nop"

# How a child that is "killed mid-logging" ends. os._exit is how the project's worker always
# leaves; SIGTERM then SIGKILL is what the supervisor sends when a deadline passes.
KILL_MODES = ("sigkill", "sigterm", "os_exit")
SIGNALS = {"sigkill": signal.SIGKILL, "sigterm": signal.SIGTERM}

# A victim is killed (or calls os._exit) after a random number of records in this range, so
# the end falls at an arbitrary point of its feeder thread's work.
KILL_AFTER = (200, 3000)
# Victims log "forever" until killed; the cap and the time limit only bound an orphan.
VICTIM_RECORDS = 10_000_000
CHILD_MAX_SECONDS = 10.0

CHILD_JOIN_S = 5.0  # a killed child is reaped at once; this only bounds a surprise
LOCK_PROBE_S = 1.0  # no child is alive during the probe, so a free lock is taken at once
SETTLE_QUIET_S = 0.15  # the parent has read everything once its counts stop moving this long
SETTLE_MAX_S = 2.0

# Scenario B's framing is the project's (sandbox/protocol.py): a 4-byte big-endian length,
# then a msgpack body. The body here is a small array-like struct, not the tagged ``Log``.
HEADER = struct.Struct(">I")

# Cells per slot in the shared mapping, written by the child that owns the slot.
PRODUCED, START_NS, LOOP_NS = range(3)
CELLS = 3


# --- shared bookkeeping --------------------------------------------------------------------


class Shared:
    """int64 cells in an anonymous MAP_SHARED mapping made before any fork.

    A child records there how many log calls returned, so the parent can count lost
    records of a child it killed. Each cell has exactly one writer, so no lock is needed
    (a lock here would reintroduce the very problem under test).
    """

    def __init__(self, slots: int) -> None:
        self._map = mmap.mmap(-1, slots * CELLS * 8)
        self._cells = memoryview(self._map).cast("q")
        self.slots = slots
        self._next = 0

    def new_slot(self) -> int:
        """A slot for one child; the parent is the only caller."""
        if self._next >= self.slots:
            raise RuntimeError("out of slots; raise the capacity estimate")
        self._next += 1
        return self._next - 1

    def get(self, slot: int, cell: int) -> int:
        return self._cells[slot * CELLS + cell]

    def set(self, slot: int, cell: int, value: int) -> None:
        self._cells[slot * CELLS + cell] = value


class Tally:
    """What the parent received, per child slot.

    Each slot is updated by one thread only (the library's single receive thread, or the
    one reader thread of that child's socket), so plain list cells are enough.
    """

    def __init__(self, slots: int) -> None:
        self.counts = [0] * slots
        self.last_ns = [0] * slots
        self.torn = [False] * slots

    def note(self, slot: int) -> None:
        self.counts[slot] += 1
        self.last_ns[slot] = time.monotonic_ns()

    def total(self) -> int:
        return sum(self.counts)


def _slot_of(record: logging.LogRecord) -> int:
    # Set through ``extra=``; survives the library's pickling of the record.
    return int(record.__dict__["slot"])


def _wait_until(predicate: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.0005)
    return True


def _settle(tally: Tally) -> None:
    """Wait until the parent has read what the dead children left in the pipe."""
    deadline = time.monotonic() + SETTLE_MAX_S
    seen, quiet_since = tally.total(), time.monotonic()
    while time.monotonic() < deadline:
        time.sleep(0.01)
        now = tally.total()
        if now != seen:
            seen, quiet_since = now, time.monotonic()
        elif time.monotonic() - quiet_since >= SETTLE_QUIET_S:
            return


# --- child side ----------------------------------------------------------------------------

# Every child this script started, so the end can kill and reap whatever is still there.
_STARTED: list[BaseProcess] = []


def _spawn(target: Callable[..., None], args: tuple[object, ...]) -> BaseProcess:
    process = FORK.Process(target=target, args=args)
    process.start()
    _STARTED.append(process)
    return process


def _log_records(log: logging.Logger, shared: Shared, slot: int, count: int) -> None:
    """The worker's job here: log ``count`` records as fast as it can.

    The same call is used for both transports, so the per-record cost differs only by the
    handler. Counting in shared memory adds the same ~0.1 µs to both.
    """
    deadline = time.monotonic() + CHILD_MAX_SECONDS
    start = time.monotonic_ns()
    shared.set(slot, START_NS, start)
    for i in range(count):
        log.info("record %d of call %d", i, slot, extra={"slot": slot})
        shared.set(slot, PRODUCED, i + 1)
        if i % 256 == 0 and time.monotonic() > deadline:
            break
    shared.set(slot, LOOP_NS, time.monotonic_ns() - start)


def _child(log: logging.Logger, shared: Shared, slot: int, mode: str, count: int) -> None:
    _log_records(log, shared, slot, count)
    if mode == "os_exit":
        # Leave like the project's worker does: no finalizers, no join of the feeder thread.
        os._exit(0)
    # Any other mode returns: multiprocessing then runs its exit finalizers, which for the
    # library join the queue's feeder thread, i.e. wait until every record was written.


class LogFrame(msgspec.Struct, array_like=True):
    slot: int
    created: float
    level: int
    logger: str
    message: str


_ENCODER = msgspec.msgpack.Encoder()


class FrameHandler(logging.Handler):
    """Scenario B, child side: one frame per record, sent with one ``sendall``.

    There is no buffer and no helper thread: when ``emit`` returns the record is in the
    kernel's socket buffer and reaches the parent even if the child is killed right after.
    The handler's own lock is per process, so dying while holding it harms nobody else.
    """

    def __init__(self, sock: socket.socket) -> None:
        super().__init__()
        self._sock = sock

    def emit(self, record: logging.LogRecord) -> None:
        try:
            body = _ENCODER.encode(
                LogFrame(_slot_of(record), record.created, record.levelno, record.name, record.getMessage())
            )
            self._sock.sendall(HEADER.pack(len(body)) + body)
        except Exception:
            self.handleError(record)


def _pipe_child(
    sock: socket.socket, parent_end: socket.socket, shared: Shared, slot: int, mode: str, count: int
) -> None:
    parent_end.close()
    log = logging.getLogger(PIPE_LOGGER)
    log.addHandler(FrameHandler(sock))
    _child(log, shared, slot, mode, count)


class NopHandler(logging.Handler):
    """The floor of the bench: the logging call without any transport."""

    def emit(self, record: logging.LogRecord) -> None:
        pass


def _nop_child(shared: Shared, slot: int, count: int) -> None:
    log = logging.getLogger(NOP_LOGGER)
    log.addHandler(NopHandler())
    _child(log, shared, slot, "bench", count)


# --- parent side: the two transports -------------------------------------------------------


class Transport(Protocol):
    tally: Tally

    def start(self, shared: Shared, slot: int, mode: str, count: int) -> BaseProcess: ...

    def lock_leaked(self) -> bool: ...

    def close(self) -> float: ...


class TallyHandler(logging.Handler):
    """Scenario A's real handler in the parent: the library's receive thread calls it."""

    def __init__(self, tally: Tally) -> None:
        super().__init__()
        self._tally = tally

    def emit(self, record: logging.LogRecord) -> None:
        self._tally.note(_slot_of(record))


class LibraryTransport:
    """Scenario A: a fresh ``install_mp_handler`` (so a fresh queue and lock) per instance."""

    def __init__(self, slots: int) -> None:
        self.tally = Tally(slots)
        self._log = logging.getLogger(LIB_LOGGER)
        self._log.addHandler(TallyHandler(self.tally))
        multiprocessing_logging.install_mp_handler(self._log)
        (handler,) = self._log.handlers
        assert isinstance(handler, multiprocessing_logging.MultiProcessingHandler)
        self._handler = handler

    def start(self, shared: Shared, slot: int, mode: str, count: int) -> BaseProcess:
        return _spawn(_child, (self._log, shared, slot, mode, count))

    def lock_leaked(self) -> bool:
        """Whether the queue's write lock is held although none of our children is alive.

        Diagnostic only, so it reaches into the queue: ``_wlock`` is the multiprocessing.Lock
        (a process-shared semaphore) every feeder thread takes around each pipe write.
        """
        wlock = self._handler.queue._wlock  # type: ignore[attr-defined]
        if wlock.acquire(timeout=LOCK_PROBE_S):
            wlock.release()
            return False
        return True

    def close(self) -> float:
        """Close the handler as ``logging.shutdown`` would; return how long ``close()`` took."""
        began = time.monotonic()
        self._handler.close()
        elapsed = time.monotonic() - began
        multiprocessing_logging.uninstall_mp_handler(self._log)
        for handler in list(self._log.handlers):
            self._log.removeHandler(handler)
        return elapsed


class PipeTransport:
    """Scenario B: a socketpair per child and a reader thread per socket in the parent."""

    def __init__(self, slots: int) -> None:
        self.tally = Tally(slots)
        self._readers: list[threading.Thread] = []

    def start(self, shared: Shared, slot: int, mode: str, count: int) -> BaseProcess:
        parent_end, child_end = socket.socketpair()
        process = _spawn(_pipe_child, (child_end, parent_end, shared, slot, mode, count))
        # Only the child may hold its end, or the parent would never see EOF.
        child_end.close()
        reader = threading.Thread(target=_drain, args=(parent_end, slot, self.tally), daemon=True)
        reader.start()
        self._readers.append(reader)
        return process

    def lock_leaked(self) -> bool:
        return False  # nothing is shared between children

    def close(self) -> float:
        began = time.monotonic()
        for reader in self._readers:
            reader.join(SETTLE_MAX_S)
        return time.monotonic() - began


def _drain(sock: socket.socket, slot: int, tally: Tally) -> None:
    """Read frames until EOF; a partial frame left at EOF counts as torn."""
    decoder = msgspec.msgpack.Decoder(LogFrame)
    pending = bytearray()
    with sock:
        while chunk := sock.recv(65536):
            pending += chunk
            while len(pending) >= HEADER.size:
                end = HEADER.size + HEADER.unpack_from(pending)[0]
                if len(pending) < end:
                    break
                decoder.decode(pending[HEADER.size : end])  # decode as the supervisor must
                del pending[:end]
                tally.note(slot)
    tally.torn[slot] = bool(pending)


# --- one round: kills, then later children --------------------------------------------------


@dataclass
class RoundResult:
    kills: Counter[str] = field(default_factory=Counter)
    leaks: Counter[str] = field(default_factory=Counter)
    killed_lost: int = 0
    later: int = 0
    later_hung: int = 0
    later_lost: int = 0
    torn: int = 0
    close_s: float = 0.0

    @property
    def lock_leaked(self) -> bool:
        return bool(self.leaks)


def _end_one(transport: Transport, shared: Shared, mode: str, rng: random.Random) -> int:
    """Start a child that logs fast, end it mid-logging the ``mode`` way; return records lost."""
    slot = shared.new_slot()
    after = rng.randint(*KILL_AFTER)
    if mode == "os_exit":
        process = transport.start(shared, slot, mode, after)
    else:
        process = transport.start(shared, slot, "victim", VICTIM_RECORDS)
        _wait_until(lambda: shared.get(slot, PRODUCED) >= after, CHILD_JOIN_S)
        assert process.pid is not None  # set by start()
        os.kill(process.pid, SIGNALS[mode])
    process.join(CHILD_JOIN_S)
    _kill_and_reap([process])
    _settle(transport.tally)
    # A record can reach the parent just before the child counts it; never report that as -1.
    return max(0, shared.get(slot, PRODUCED) - transport.tally.counts[slot])


def _later_children(transport: Transport, shared: Shared, cfg: Config) -> tuple[int, int]:
    """Start ``cfg.later`` well-behaved children at once; return (hung, records lost)."""
    started = []
    for _ in range(cfg.later):
        slot = shared.new_slot()
        started.append((slot, transport.start(shared, slot, "later", cfg.later_records)))
    # All start within milliseconds, so one deadline gives each at least hang_timeout.
    deadline = time.monotonic() + cfg.hang_timeout
    for _, process in started:
        process.join(max(0.0, deadline - time.monotonic()))
    hung = [process for _, process in started if process.is_alive()]
    _kill_and_reap(hung)
    _settle(transport.tally)
    lost = sum(cfg.later_records - transport.tally.counts[slot] for slot, _ in started)
    return len(hung), lost


def run_round(
    number: int, transport: Transport, shared: Shared, cfg: Config, rng: random.Random
) -> RoundResult:
    result = RoundResult()
    # Rotated per round: the first end usually leaves the lock held, so each way of ending
    # gets to go first in some round.
    modes = [KILL_MODES[(number + i) % len(KILL_MODES)] for i in range(cfg.kills)]
    for mode in modes:
        result.kills[mode] += 1
        result.killed_lost += _end_one(transport, shared, mode, rng)
        # Probed after every end, so a leak is attributed to the way that child ended.
        if transport.lock_leaked():
            result.leaks[mode] += 1
            break  # the lock stays held for good; more kills cannot change the outcome
    result.later = cfg.later
    result.later_hung, result.later_lost = _later_children(transport, shared, cfg)
    result.close_s = transport.close()
    result.torn = sum(transport.tally.torn)
    return result


# --- cost per record -----------------------------------------------------------------------


def bench_once(transport: Transport, shared: Shared, records: int) -> tuple[float, float]:
    """One clean child logs ``records`` records; return (end-to-end, caller) µs per record.

    End-to-end runs from the child's first log call to the parent's receipt of the last
    record (CLOCK_MONOTONIC is system-wide), so the library's feeder thread is included.
    Caller is what the logging loop itself took in the child.
    """
    slot = shared.new_slot()
    process = transport.start(shared, slot, "bench", records)
    process.join(CHILD_MAX_SECONDS)
    _kill_and_reap([process])
    if not _wait_until(lambda: transport.tally.counts[slot] >= records, SETTLE_MAX_S):
        raise RuntimeError(f"bench child received {transport.tally.counts[slot]} of {records} records")
    end_to_end = (transport.tally.last_ns[slot] - shared.get(slot, START_NS)) / records / 1e3
    caller = shared.get(slot, LOOP_NS) / records / 1e3
    transport.close()
    return end_to_end, caller


def bench_baseline(shared: Shared, records: int) -> float:
    """µs per record of the logging call alone, in a child like the others."""
    slot = shared.new_slot()
    process = _spawn(_nop_child, (shared, slot, records))
    process.join(CHILD_MAX_SECONDS)
    _kill_and_reap([process])
    return shared.get(slot, LOOP_NS) / records / 1e3


@dataclass
class BenchResult:
    baseline: list[float] = field(default_factory=list)
    lib_e2e: list[float] = field(default_factory=list)
    lib_caller: list[float] = field(default_factory=list)
    pipe_e2e: list[float] = field(default_factory=list)
    pipe_caller: list[float] = field(default_factory=list)


def run_bench(shared: Shared, cfg: Config) -> BenchResult:
    result = BenchResult()
    # Interleaved, so drift of the machine affects both transports alike.
    for _ in range(cfg.bench_runs):
        result.baseline.append(bench_baseline(shared, cfg.bench_records))
        e2e, caller = bench_once(LibraryTransport(shared.slots), shared, cfg.bench_records)
        result.lib_e2e.append(e2e)
        result.lib_caller.append(caller)
        e2e, caller = bench_once(PipeTransport(shared.slots), shared, cfg.bench_records)
        result.pipe_e2e.append(e2e)
        result.pipe_caller.append(caller)
    return result


# --- cleanup, config, report ---------------------------------------------------------------


def _kill_and_reap(processes: list[BaseProcess]) -> None:
    for process in processes:
        if process.is_alive():
            process.kill()
    for process in processes:
        process.join()


def _leftover_children() -> int:
    """Kill and reap every child still running; return how many processes remain (want 0)."""
    _kill_and_reap(_STARTED)
    multiprocessing.active_children()  # reaps anything multiprocessing still tracks
    try:
        os.waitpid(-1, os.WNOHANG)
    except ChildProcessError:
        return 0  # no child of ours exists, not even a zombie
    return 1


@dataclass
class Config:
    rounds: int
    kills: int
    later: int
    later_records: int
    hang_timeout: float
    bench_runs: int
    bench_records: int
    seed: int

    def slots_needed(self) -> int:
        per_round = self.kills + self.later
        return 3 * self.bench_runs + 2 * self.rounds * per_round


def parse_args(argv: list[str] | None = None) -> Config:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3, help="rounds per transport")
    parser.add_argument("--kills", type=int, default=6, help="children ended mid-logging per round (max)")
    parser.add_argument("--later", type=int, default=10, help="well-behaved children started per round")
    parser.add_argument("--later-records", type=int, default=5, help="records each of those logs")
    parser.add_argument("--hang-timeout", type=float, default=5.0, help="seconds a later child may take")
    parser.add_argument("--bench-runs", type=int, default=5, help="runs of the per-record cost bench")
    parser.add_argument("--bench-records", type=int, default=10_000, help="records per bench run")
    parser.add_argument("--seed", type=int, default=1, help="seed for the points where children end")
    return Config(**vars(parser.parse_args(argv)))


def _sum_rounds(rounds: list[RoundResult]) -> RoundResult:
    total = RoundResult()
    for r in rounds:
        total.kills += r.kills
        total.leaks += r.leaks
        total.killed_lost += r.killed_lost
        total.later += r.later
        total.later_hung += r.later_hung
        total.later_lost += r.later_lost
        total.torn += r.torn
        total.close_s += r.close_s
    return total


def _print_rounds(title: str, rounds: list[RoundResult]) -> None:
    row = "  {:>5}  {:32} {:17} {:>11}  {:>18}  {:>7}"
    print(f"\n{title}")
    heads = ("round", "ended mid-logging", "lock left held by", "later hung", "lost ended/later", "close()")
    print(row.format(*heads))
    for i, r in enumerate(rounds, 1):
        ended = ", ".join(f"{mode} {n}" for mode, n in sorted(r.kills.items()))
        leaked_by = ", ".join(r.leaks) or "-"
        hung = f"{r.later_hung}/{r.later}"
        lost = f"{r.killed_lost}/{r.later_lost}"
        print(row.format(i, ended, leaked_by, hung, lost, f"{r.close_s:.2f} s"))


def _median(values: list[float]) -> float:
    return round(statistics.median(values), 2)


def report(
    cfg: Config, bench: BenchResult, lib: list[RoundResult], pipe: list[RoundResult], leftover: int
) -> dict[str, object]:
    lib_total, pipe_total = _sum_rounds(lib), _sum_rounds(pipe)
    _print_rounds("A. multiprocessing-logging (one shared Queue, one cross-process write lock)", lib)
    _print_rounds("B. one socket per child, one sendall per length-prefixed frame", pipe)
    leak_rate = {mode: f"{lib_total.leaks[mode]}/{lib_total.kills[mode]}" for mode in KILL_MODES}
    print(f"\nA: ends that left the lock held, by way of ending: {leak_rate}")
    print(f"A: rounds with the lock left held: {sum(r.lock_leaked for r in lib)}/{len(lib)}")
    print(f"A: later children hung: {lib_total.later_hung}/{lib_total.later}")
    print(f"B: later children hung: {pipe_total.later_hung}/{pipe_total.later}", end="")
    print(f", frames torn by a kill: {pipe_total.torn}")
    print(f"\nrecords lost by ended children:  A {lib_total.killed_lost}   B {pipe_total.killed_lost}")
    print(f"records lost by later children:  A {lib_total.later_lost}   B {pipe_total.later_lost}")
    base = _median(bench.baseline)
    print(f"\ncost per record, median of {cfg.bench_runs} runs of {cfg.bench_records} records (µs):")
    print(f"  logging call with a do-nothing handler (the floor): {base}")
    rows = (("A", bench.lib_e2e, bench.lib_caller), ("B", bench.pipe_e2e, bench.pipe_caller))
    for name, e2e, caller in rows:
        print(
            f"  {name} end-to-end {_median(e2e):6} (+{_median(e2e) - base:.2f} over the floor)"
            f"   in the caller {_median(caller):6} (+{_median(caller) - base:.2f})"
        )
    print(f"children left behind: {leftover}")
    return {
        "mp_logging_version": metadata.version("multiprocessing-logging"),
        "rounds": cfg.rounds,
        "later_children": lib_total.later,
        "later_children_hung": lib_total.later_hung,
        "pipe_hung": pipe_total.later_hung,
        "mp_logging_us_per_record": _median(bench.lib_e2e),
        "pipe_us_per_record": _median(bench.pipe_e2e),
        "mp_logging_caller_us_per_record": _median(bench.lib_caller),
        "pipe_caller_us_per_record": _median(bench.pipe_caller),
        "baseline_us_per_record": base,
        "mp_logging_rounds_lock_leaked": sum(r.lock_leaked for r in lib),
        "mp_logging_lost_records": lib_total.killed_lost + lib_total.later_lost,
        "pipe_lost_records": pipe_total.killed_lost + pipe_total.later_lost,
        "children_left": leftover,
    }


def main(argv: list[str] | None = None) -> int:
    cfg = parse_args(argv)
    rng = random.Random(cfg.seed)
    for name in (LIB_LOGGER, PIPE_LOGGER, NOP_LOGGER):
        logger = logging.getLogger(name)
        logger.setLevel(logging.INFO)
        logger.propagate = False  # keep the bench's records off the terminal
    shared = Shared(cfg.slots_needed())
    began = time.monotonic()
    try:
        bench = run_bench(shared, cfg)
        lib = [run_round(n, LibraryTransport(shared.slots), shared, cfg, rng) for n in range(cfg.rounds)]
        pipe = [run_round(n, PipeTransport(shared.slots), shared, cfg, rng) for n in range(cfg.rounds)]
    finally:
        leftover = _leftover_children()
    summary = report(cfg, bench, lib, pipe, leftover)
    summary["elapsed_s"] = round(time.monotonic() - began, 1)
    print(json.dumps(summary))
    return 0 if leftover == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
