"""A worker cannot see the paths it is told to hide (the server's data directory and
store): an empty read-only tmpfs covers a directory, /dev/null a file."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from connectord.sandbox import isolation


def _in_child(paths: list[str], probe: Path, via_user_namespace: bool) -> tuple[int, str]:
    """Hide ``paths`` in a forked child and report what it then sees of ``probe``."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: hide, look, report, leave
        os.close(read)
        try:
            isolation.hide_paths(paths, via_user_namespace=via_user_namespace)
            seen = ",".join(sorted(os.listdir(probe.parent))) + "|" + _read(probe)
        except OSError as exc:
            seen = f"error {exc}"
        os.write(write, seen.encode())
        os._exit(0)
    os.close(write)
    with os.fdopen(read) as pipe:
        seen = pipe.read()
    _, status = os.waitpid(pid, 0)
    return status, seen


def _read(path: Path) -> str:
    try:
        return repr(path.read_bytes())
    except OSError as exc:
        return type(exc).__name__


@pytest.mark.parametrize("via_user_namespace", [False, True])
def test_hidden_directories_and_files_are_empty_to_the_worker(
    tmp_path: Path, via_user_namespace: bool
) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "connectord.sqlite3").write_bytes(b"SQLite format 3\x00 tenants and keys")
    elsewhere = tmp_path / "store.sqlite3"
    elsewhere.write_bytes(b"another store")
    status, seen = _in_child([str(data), str(elsewhere)], data / "connectord.sqlite3", via_user_namespace)
    assert status == 0
    assert seen == "|FileNotFoundError", seen  # the directory is empty, its file gone
    status, seen = _in_child([str(data), str(elsewhere)], elsewhere, via_user_namespace)
    assert seen.endswith("|b''"), seen  # the file reads as /dev/null
    # outside the child nothing changed
    assert (data / "connectord.sqlite3").read_bytes().startswith(b"SQLite format 3")
    assert elsewhere.read_bytes() == b"another store"
