"""Imports each connector once in a throw-away child before the zygote imports it.

An exception at import is reported like any load failure, in the zygote itself. But an
import that ends the process (``os._exit``, a crash in a C extension) or never finishes
would take the zygote, and every connector with it, down; the probe finds those first and
they are reported as not loaded while the others load.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterable

from connectord.plugins.manager import LoadError, PluginSource

IMPORT_TIMEOUT = 20.0


def probe(
    sources: Iterable[PluginSource], timeout: float = IMPORT_TIMEOUT
) -> tuple[list[PluginSource], list[LoadError]]:
    """Split ``sources`` into those whose import leaves the process alive, and failures.
    All are imported at once, in children of their own, within one ``timeout``."""
    children = [(source, _import_in_child(source)) for source in sources]
    verdicts = _wait_all([pid for _, pid in children], time.monotonic() + timeout, timeout)
    survivors = [source for source, pid in children if verdicts[pid] is None]
    failures = [LoadError(s.name, s.origin, verdicts[pid]) for s, pid in children if verdicts[pid]]
    return survivors, failures


def _import_in_child(source: PluginSource) -> int:
    pid = os.fork()
    if pid == 0:
        try:
            source.load()
        except BaseException:
            pass  # an exception is reported by the real load, with its message
        finally:
            os._exit(0)
    return pid


def _wait_all(pids: list[int], deadline: float, timeout: float) -> dict[int, str | None]:
    verdicts: dict[int, str | None] = {}
    pending = set(pids)
    while pending:
        for pid in list(pending):
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                verdicts[pid] = _verdict(status)
                pending.discard(pid)
        if pending and time.monotonic() > deadline:
            for pid in pending:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
                verdicts[pid] = f"importing it did not finish within {timeout:g} s"
            break
        if pending:
            time.sleep(0.01)  # no child-exit event to wait on here without a loop of our own
    return verdicts


def _verdict(status: int) -> str | None:
    if os.WIFSIGNALED(status):
        return f"importing it killed the process (signal {os.WTERMSIG(status)})"
    code = os.waitstatus_to_exitcode(status)
    return None if code == 0 else f"importing it ended the process (exit code {code})"
