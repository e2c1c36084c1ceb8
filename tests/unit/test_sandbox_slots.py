"""How many calls run at once by default: as many as the memory this server may use allows,
each counted at its connector's memory limit; never fewer than the cores."""

from __future__ import annotations

from pathlib import Path

from connectord.sandbox.host import Host, memory_allowed
from connectord.sandbox.policy import (
    MAX_DERIVED_SLOTS,
    RESERVED_BYTES,
    SLOT_OVERHEAD_BYTES,
    ConnectorPolicy,
    SandboxPolicy,
)
from connectord.sandbox.protocol import Limits

GiB = 1024**3


def policy(default: int | None = GiB, **connectors: int | None) -> SandboxPolicy:
    return SandboxPolicy(
        default=ConnectorPolicy(limits=Limits(memory_bytes=default)),
        connectors={name: ConnectorPolicy(limits=Limits(memory_bytes=m)) for name, m in connectors.items()},
    )


def test_slots_are_what_fits_in_memory_at_the_largest_limit() -> None:
    assert policy().derived_concurrency(24 * GiB, cores=2) == 22  # 23.5 GiB / (1 GiB + 32 MiB)
    slot = 2 * GiB + SLOT_OVERHEAD_BYTES
    assert policy(sql=2 * GiB).derived_concurrency(RESERVED_BYTES + 10 * slot, cores=2) == 10


def test_never_fewer_than_the_cores_nor_more_than_the_cap() -> None:
    assert policy().derived_concurrency(2 * GiB, cores=2) == 2
    assert policy().derived_concurrency(2 * GiB, cores=8) == 8
    assert policy(64 * 1024 * 1024).derived_concurrency(1024 * GiB, cores=2) == MAX_DERIVED_SLOTS


def test_an_unbounded_connector_or_unknown_memory_leaves_the_cores() -> None:
    assert policy(sql=None).derived_concurrency(24 * GiB, cores=2) == 2
    assert policy().derived_concurrency(None, cores=4) == 4


def test_the_host_resolves_zero_and_keeps_a_number_given() -> None:
    host = Host(landlock_abi=0, seccomp_missing=None, memory_bytes=24 * GiB, cores=2)
    resolved = host.resolve(policy())
    assert resolved.concurrency == 22 and resolved.capacity() == 22
    given = SandboxPolicy(concurrency=3)
    assert host.resolve(given).concurrency == 3
    assert "slots: 22 (at most 21 per connector)" in host.describe(resolved, "none")


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def test_memory_allowed_is_the_host_or_the_tightest_cgroup_above_us(tmp_path: Path) -> None:
    proc, mount = tmp_path / "proc", tmp_path / "cgroup"
    write(proc / "meminfo", "MemTotal:       24683772 kB\nMemFree:  1 kB\n")
    write(proc / "self/cgroup", "0::/\n")
    assert memory_allowed(proc, mount) == 24683772 * 1024

    # v2: the own cgroup says "max", its parent is limited.
    write(proc / "self/cgroup", "0::/box/server\n")
    write(mount / "box/server/memory.max", "max\n")
    write(mount / "box/memory.max", f"{8 * GiB}\n")
    assert memory_allowed(proc, mount) == 8 * GiB

    # v1: the memory controller's own cgroup; v1's "no limit" is a huge number.
    write(proc / "self/cgroup", "4:memory:/api/x\n0::/\n")
    write(mount / "memory/api/x/memory.limit_in_bytes", f"{3 * GiB}\n")
    write(mount / "memory/memory.limit_in_bytes", "9223372036854771712\n")
    assert memory_allowed(proc, mount) == 3 * GiB


def test_memory_allowed_without_proc_is_unknown(tmp_path: Path) -> None:
    assert memory_allowed(tmp_path / "none", tmp_path / "none") is None
