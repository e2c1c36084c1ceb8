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


def _in_own_view(hidden: list[str], visible: list[str], cwd: Path, script: Callable[[], str]) -> str:
    """Enter a view of our own in a forked child working in ``cwd`` (as a zygote does
    before its connector runs) and report what ``script`` sees there."""

    def enter_and_look() -> str:
        os.chdir(cwd)
        isolation.enter_own_view(hidden, visible)
        return script()

    status, seen = _in_fork(enter_and_look)
    assert status == 0
    return seen


def test_a_zygotes_view_hides_the_data_directory_and_empties_tmp_but_for_what_it_may_see(
    tmp_path: Path,
) -> None:
    """The server may run inside its data directory: that must be no way around the hiding;
    beneath /tmp only what is named visible is there, and a hidden path stays hidden in it."""
    data = tmp_path / "data"
    data.mkdir()
    (data / "secret.key").write_text("the server's key")
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "mine").write_text("another tenant's file")
    hidden, visible = [str(data)], [str(tmp_path)] if str(tmp_path).startswith("/tmp/") else []

    def look(what: Callable[[], str]) -> str:
        return _in_own_view(hidden, visible, data, what)

    # it keeps its working directory (relative paths mean what they meant), seen anew
    assert look(lambda: os.getcwd() + "|" + ",".join(os.listdir("."))) == f"{data}|"
    assert look(lambda: _read(Path("secret.key"))) == "FileNotFoundError"
    assert look(lambda: _read(data / "secret.key")) == "FileNotFoundError"
    # the visible path is there, with what the hiding left of it
    assert look(lambda: ",".join(sorted(os.listdir(tmp_path)))) == "data,elsewhere"
    # and nothing else of /tmp; /tmp itself is writable, its files the view's own
    seen = _in_own_view(hidden, [], tmp_path / "elsewhere", lambda: _write_and_list("/tmp/mine"))
    assert seen == "mine"
    assert not Path("/tmp/mine").exists()
    assert (data / "secret.key").read_text() == "the server's key"


def _write_and_list(path: str) -> str:
    Path(path).write_text("the view's own")
    return ",".join(os.listdir(os.path.dirname(path)))
