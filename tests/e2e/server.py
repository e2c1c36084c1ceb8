"""A ``connectord serve`` process for a test module, and a user of it made by ``users add``."""

from __future__ import annotations

import contextlib
import os
import queue
import re
import signal
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from .conftest import CONNECTORD
from .sandboxing import sandbox_config

LISTENING = re.compile(r"connectord listening on (http://\S+)")


@dataclass
class Served:
    url: str
    email: str
    api_key: str
    env: dict[str, str]
    process: subprocess.Popen[str]
    #: The server's log lines (standard error), drained by a thread so the pipe never fills.
    log: queue.Queue[str | None]

    def cli_env(self, base: dict[str, str]) -> dict[str, str]:
        """``base`` with this server, its user's e-mail and key, for the CLI under test."""
        return base | {
            "CONNECTORD_URL": self.url,
            "CONNECTORD_EMAIL": self.email,
            "CONNECTORD_API_KEY": self.api_key,
        }


def server_env(data_dir: Path, *sites: Path) -> dict[str, str]:
    """The environment of a server with its own data directory and ``sites`` on its path."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONNECTORD_")} | sandbox_config()
    env["CONNECTORD_DATA_DIR"] = str(data_dir)
    if sites:
        env["PYTHONPATH"] = os.pathsep.join([*map(str, sites), *filter(None, [env.get("PYTHONPATH")])])
    return env


@contextlib.contextmanager
def running_server(env: dict[str, str], email: str, tenant: str = "acme") -> Iterator[Served]:
    """``users add EMAIL``, then ``serve --port 0`` until the block ends (SIGTERM). Its log
    (standard error) is the process's ``stderr`` pipe, for tests that wait for a line of it."""
    added = subprocess.run(
        [CONNECTORD, "users", "add", email, "--tenant", tenant],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert added.returncode == 0, added.stderr
    process = subprocess.Popen(
        [CONNECTORD, "serve", "--port", "0"],
        env=env,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        assert process.stdout is not None
        match = LISTENING.search(process.stdout.readline())
        assert match, "the server did not start"
        log: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=_drain, args=(process, log), daemon=True).start()
        yield Served(match.group(1), email, added.stdout.strip(), env, process, log)
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
        for stream in (process.stdout, process.stderr):
            if stream:
                stream.close()


def _drain(process: subprocess.Popen[str], log: queue.Queue[str | None]) -> None:
    assert process.stderr is not None
    with contextlib.suppress(ValueError, OSError):  # closed when the server is stopped
        for line in process.stderr:
            log.put(line)
    log.put(None)


def wait_for_log(served: Served, needle: str, timeout: float = 30) -> str:
    """The next line of the server's log that holds ``needle``."""
    while True:
        line = served.log.get(timeout=timeout)
        if line is None:
            raise AssertionError(f"the server ended without logging {needle!r}")
        if needle in line:
            return line


def alive(pid: int) -> bool:
    """Whether process ``pid`` exists and is no zombie."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"
