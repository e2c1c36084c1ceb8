"""A worker cannot see the paths it is told to hide (the server's data directory and
store): an empty read-only tmpfs covers a directory, /dev/null a file."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from connectord.sandbox import isolation


def _in_fork(script: Callable[[], str]) -> tuple[int, str]:
    """Run ``script`` in a forked child; its exit status, and what it reported (or the
    OSError it met)."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: do, report, leave
        os.close(read)
        try:
            seen = script()
        except OSError as exc:
            seen = f"error {exc}"
        os.write(write, seen.encode())
        os._exit(0)
    os.close(write)
    with os.fdopen(read) as pipe:
        seen = pipe.read()
    _, status = os.waitpid(pid, 0)
    return status, seen


def _in_child(paths: list[str], probe: Path, via_user_namespace: bool) -> tuple[int, str]:
    """Hide ``paths`` in a forked child and report what it then sees of ``probe``."""

    def hide_and_look() -> str:
        isolation.hide_paths(paths, via_user_namespace=via_user_namespace)
        return ",".join(sorted(os.listdir(probe.parent))) + "|" + _read(probe)

    return _in_fork(hide_and_look)


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


def _in_worker_of(view: tuple[int | None, int], cwd: Path, script: Callable[[], str]) -> str:
    """Join ``view`` in a forked child working in ``cwd`` (as a worker does) and report
    what ``script`` sees there."""

    def join_and_look() -> str:
        os.chdir(cwd)
        isolation.enter_view(*view)
        return script()

    return _in_fork(join_and_look)[1]


@pytest.mark.parametrize("via_user_namespace", [False, True])
def test_a_worker_joining_a_prepared_view_sees_the_paths_hidden_from_its_own_directory_too(
    tmp_path: Path, via_user_namespace: bool
) -> None:
    """The server may run inside its data directory: that must be no way around the hiding."""
    data = tmp_path / "data"
    data.mkdir()
    (data / "secret.key").write_text("the server's key")
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "mine").write_text("a file the tmpfs would cover")
    user, _ = view = isolation.hiding_view([str(data)], via_user_namespace)
    try:
        assert (user is not None) == via_user_namespace
        # it keeps its working directory (relative paths mean what they meant), seen anew
        assert _in_worker_of(view, tmp_path, os.getcwd) == str(tmp_path)
        assert _in_worker_of(view, data, lambda: os.getcwd() + "|" + ",".join(os.listdir("."))) == f"{data}|"
        assert _in_worker_of(view, data, lambda: _read(Path("secret.key"))) == "FileNotFoundError"
        assert _in_worker_of(view, tmp_path, lambda: _read(Path("data/secret.key"))) == "FileNotFoundError"
        # what one worker mounts stays its own (each takes a private copy of the view)
        mounted = _in_worker_of(view, tmp_path, lambda: _mount_tmpfs(tmp_path / "elsewhere"))
        assert mounted == "mounted"
        assert _in_worker_of(view, tmp_path, lambda: ",".join(os.listdir(tmp_path / "elsewhere"))) == "mine"
    finally:
        for fd in view:
            if fd is not None:
                os.close(fd)
    assert (data / "secret.key").read_text() == "the server's key"


def _mount_tmpfs(path: Path) -> str:
    isolation._mount("tmpfs", str(path), "tmpfs", 0, "size=4k")
    return "mounted"
