"""The memory controller's files as each cgroup version names and orders them. This machine
runs the v1 memory controller (tests/integration/sandbox/test_cgroups.py uses it); the v2
names are checked here on a directory laid out like a v2 leaf."""

from __future__ import annotations

from pathlib import Path

from connectord.sandbox.cgroups import MemoryCgroup

V1_UNLIMITED = "9223372036854771712"


def leaf(tmp_path: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    return tmp_path


def test_a_v2_leaf_is_limited_without_swap_and_killed_whole(tmp_path: Path) -> None:
    path = leaf(
        tmp_path,
        {
            "memory.max": "max\n",
            "memory.swap.max": "max\n",
            "memory.oom.group": "0\n",
            "memory.current": "4096\n",
            "memory.events": "low 0\nhigh 0\nmax 7\noom 2\noom_kill 2\noom_group_kill 1\n",
        },
    )
    memory = MemoryCgroup.of((tmp_path / "elsewhere", path))
    assert memory is not None and not memory.v1
    assert (path / "memory.oom.group").read_text() == "1"
    memory.set_limit(300)
    assert (path / "memory.max").read_text() == "300" and (path / "memory.swap.max").read_text() == "0"
    memory.set_limit(None)
    assert (path / "memory.max").read_text() == "max"
    assert memory.oom_kills() == 2 and memory.usage() == 4096


def test_a_v1_leaf_sets_memory_and_memory_plus_swap_alike(tmp_path: Path) -> None:
    path = leaf(
        tmp_path,
        {
            "memory.limit_in_bytes": V1_UNLIMITED,
            "memory.memsw.limit_in_bytes": V1_UNLIMITED,
            "memory.usage_in_bytes": "8192\n",
            "memory.oom_control": "oom_kill_disable 0\nunder_oom 0\noom_kill 3\n",
        },
    )
    memory = MemoryCgroup.of((path,))
    assert memory is not None and memory.v1
    for limit, text in ((300, "300"), (None, "-1")):
        memory.set_limit(limit)
        assert (path / "memory.limit_in_bytes").read_text() == text
        assert (path / "memory.memsw.limit_in_bytes").read_text() == text
    assert memory.oom_kills() == 3 and memory.usage() == 8192


def test_an_old_v1_kernel_without_an_oom_kill_count_tells_how_often_the_limit_was_hit(tmp_path: Path) -> None:
    path = leaf(
        tmp_path,
        {
            "memory.limit_in_bytes": V1_UNLIMITED,
            "memory.failcnt": "5\n",
            "memory.oom_control": "oom_kill_disable 0\nunder_oom 0\n",
        },
    )
    memory = MemoryCgroup.of((path,))
    assert memory is not None and memory.oom_kills() == 5


def test_a_leaf_without_the_memory_controller_has_none(tmp_path: Path) -> None:
    assert MemoryCgroup.of((leaf(tmp_path, {"pids.max": "max\n", "cgroup.procs": ""}),)) is None
