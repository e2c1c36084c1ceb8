"""Temporary directories that connectors may use, whatever user they run as.

Where the tests run as root, every connector runs as a user of its own
(sandbox/user_ids.py), and pytest makes its directories for its own user only (0700). So,
as an operator would for a directory every connector shares, each session's directories
are made beneath one directory writable by all (1777, as /tmp), which the tests' sandbox
configuration names in ``writable_paths``; each session has its own base directory there
(pytest resets the mode of its usual shared one, pytest-of-USER, at every start, other
sessions' included), and each directory a test makes is writable by all.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import pytest

#: Writable by every connector's user; sticky, so none removes another's files.
SHARED_MODE = 0o1777


def prepared(top: Path) -> Path:
    """``top``, made writable by all if it is not."""
    top.mkdir(exist_ok=True)
    if top.stat().st_mode & 0o7777 != SHARED_MODE:
        top.chmod(SHARED_MODE)
    return top


def session_base(top: Path) -> Path:
    """This session's base directory beneath ``top`` (made by pytest), after removing
    those of sessions that have ended."""
    for stale in top.glob("session-*"):
        pid = stale.name.removeprefix("session-")
        if pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(stale, ignore_errors=True)
    return top / f"session-{os.getpid()}"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    return True


class SharedTempPathFactory:
    """pytest's factory, whose directories every user may pass into and write in."""

    def __init__(self, factory: pytest.TempPathFactory) -> None:
        self._factory = factory

    def getbasetemp(self) -> Path:
        base = self._factory.getbasetemp()
        base.chmod(0o755)
        return base

    def mktemp(self, basename: str, numbered: bool = True) -> Path:
        self.getbasetemp()
        path = self._factory.mktemp(basename, numbered)
        path.chmod(SHARED_MODE)
        return path

    def __getattr__(self, name: str) -> Any:
        return getattr(self._factory, name)  # what pytest's own fixtures read of it
