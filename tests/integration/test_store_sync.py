"""Which SQLite commits reach the disk before they return (``[store] sync``), counted as the
kernel sees them: the process runs under strace, which records every fsync and fdatasync.

By default (``accepted``) what a client is told was accepted is synced, and what only
moves work along (a claim, an outcome, a delivery) is written without a sync of its own;
a batch of both syncs once."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from connectord.runtime.config import ConfigurationError, settings_from_env
from connectord.runtime.configured import configured
from connectord.runtime.store.records import NewExecution
from connectord.runtime.store.sqlite import SQLiteStore

pytestmark = pytest.mark.skipif(shutil.which("strace") is None, reason="needs strace to count syncs")

# Each step is announced by a failed access() of a path naming it, which strace shows
# between the syncs of the steps before and after.
SCRIPT = """
import os, sys
from pathlib import Path
from connectord.runtime.store.sqlite import SQLiteStore
from connectord.runtime.store.records import ExecutionEnd, NewExecution

store = SQLiteStore(Path(sys.argv[1]), sys.argv[2])
end = ExecutionEnd(b"outcome", b"[]", 2.0, 60.0)
store.add_user("a@example.com", "acme", "hash-a", 0.0)
t = store.principal("hash-a").tenant_id

def step(name):
    os.access("/connectord-step/" + name, os.F_OK)

step("add")
store.add_execution(NewExecution("e1", t, b"call", 1.0))
step("claim")
claimed = store.claim_execution(1.0, "node", 30.0)
step("finish")
store.finish_execution(claimed.id, claimed.fence, end, "succeeded")
step("deliver")
store.deliver_result(t, "e1", 3.0)
step("mixed-batch")
with store.db.batch():
    store.add_execution(NewExecution("e2", t, b"call", 4.0))
    store.add_execution(NewExecution("e3", t, b"call", 4.0))
    store.claim_execution(4.0, "node", 30.0)
step("unsynced-batch")
with store.db.batch():
    claimed = store.claim_execution(5.0, "node", 30.0)
    store.finish_execution(claimed.id, claimed.fence, end, "succeeded")
step("end")
store.close()
"""


def syncs_per_step(tmp_path: Path, mode: str) -> dict[str, int]:
    trace = tmp_path / f"trace-{mode}"
    subprocess.run(
        [
            "strace",
            "-f",
            "-qq",
            "-e",
            "trace=fsync,fdatasync,access",
            "-o",
            str(trace),
            sys.executable,
            "-c",
            SCRIPT,
            str(tmp_path / f"{mode}.sqlite3"),
            mode,
        ],
        check=True,
        timeout=120,
    )
    counts: dict[str, int] = {}
    step = None
    for line in trace.read_text().splitlines():
        named = re.search(r'access\("/connectord-step/([\w-]+)"', line)
        if named:
            step = named.group(1)
            if step == "end":  # closing checkpoints the WAL into the file: syncs of its own
                break
            counts[step] = 0
        elif step is not None and re.search(r"\b(fsync|fdatasync)\(", line):
            counts[step] += 1
    return counts


def test_what_is_accepted_is_synced_and_what_moves_work_along_is_written(tmp_path: Path) -> None:
    assert syncs_per_step(tmp_path, "accepted") == {
        "add": 1,
        "claim": 0,
        "finish": 0,
        "deliver": 0,
        "mixed-batch": 1,  # one sync for the whole batch, because it holds an accept
        "unsynced-batch": 0,
    }


def test_all_syncs_every_commit_and_none_leaves_them_to_the_os(tmp_path: Path) -> None:
    every = syncs_per_step(tmp_path, "all")
    assert len(every) == 6 and set(every.values()) == {1}
    assert set(syncs_per_step(tmp_path, "none").values()) == {0}


def test_a_sync_mode_that_does_not_exist_is_refused_by_name(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="CONNECTORD_STORE_SYNC must be one of accepted, all, none"):
        settings_from_env({"CONNECTORD_STORE_SYNC": "sometimes", "CONNECTORD_DATA_DIR": str(tmp_path)})
    (tmp_path / "connectord.toml").write_text('[store]\nsync = "sometimes"\n')
    with pytest.raises(ConfigurationError, match=r"store\.sync"):
        configured(settings_from_env({"CONNECTORD_DATA_DIR": str(tmp_path)}))


def test_the_environment_beats_the_file_and_the_file_beats_the_default(tmp_path: Path) -> None:
    env = {"CONNECTORD_DATA_DIR": str(tmp_path)}
    assert configured(settings_from_env(env))[0].store_sync == "accepted"
    (tmp_path / "connectord.toml").write_text('[store]\nsync = "none"\n')
    assert configured(settings_from_env(env))[0].store_sync == "none"
    assert configured(settings_from_env(env | {"CONNECTORD_STORE_SYNC": "all"}))[0].store_sync == "all"


def test_a_database_without_a_wal_syncs_by_sqlites_own_rule(tmp_path: Path) -> None:
    """Where WAL cannot be had (an in-memory database here, a network file system in
    practice), there is no WAL file to sync: SQLite's synchronous=FULL does it instead, and
    an accepted write does not fail for want of one."""
    store = SQLiteStore(Path(":memory:"), "accepted")
    try:
        assert store.db.sync == "builtin"
        store.add_user("a@example.com", "acme", "hash-a", 0.0)
        principal = store.principal("hash-a")
        assert principal is not None
        record, created = store.add_execution(NewExecution("e1", principal.tenant_id, b"call", 1.0))
        assert created and record.id == "e1"
    finally:
        store.close()
